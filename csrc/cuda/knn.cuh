// Host launchers of the exact kNN kernels: tiled distances + per-row top-k, refine, reset. No CUDA
// types: streams are void*, every pointer is device memory on `device`. Ids are uint32 row
// numbers with graph::kNone padding; lists are sorted by (distance, id) as in
// panning/knn_math.hpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "panning/common.hpp"

namespace panning::cuda {

// Bytes of workspace knn_merge needs for nq query rows against nx base rows.
std::size_t knn_workspace_bytes(std::int64_t nq, std::int64_t nx);

// Merges the exact distances between the rows of q and the rows of x into the running top-k
// lists ids/dist [q.rows, k] (start them with knn_reset). x's row j has global id x_base + j;
// when q_base >= 0, q's row i is the same point as global id q_base + i and never its own
// neighbour. Metric codes as Metric (0 l2, 1 ip, 2 cosine). float16/bfloat16 inputs use tensor
// cores (sm_80+, contiguous rows, dim % 16 == 0) and float32 accumulation; others run on the
// CUDA cores. k <= 256.
void knn_merge(const MatrixView& q, std::int64_t q_base, const MatrixView& x, std::int64_t x_base,
               int metric, int k, std::uint32_t* ids, float* dist, void* workspace,
               std::size_t workspace_bytes, int device, void* stream);

// Recomputes the distances of the k neighbours in ids directly (x's row of global id v is row v
// of x) and re-sorts each row by (distance, id), as the CPU's exact search returns them. A row's
// neighbours come first, kNone after (the first kNone ends the row); every slot of ids and dist
// is written (kNone / +inf after the neighbours), so dist may start uninitialised.
void knn_refine(const MatrixView& q, const MatrixView& x, int metric, int k, std::uint32_t* ids,
                float* dist, int device, void* stream);

// Fills ids with kNone and dist with +inf ([rows, k]).
void knn_reset(std::int64_t rows, int k, std::uint32_t* ids, float* dist, int device, void* stream);

}  // namespace panning::cuda
