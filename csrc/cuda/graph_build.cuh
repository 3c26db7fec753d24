// Host launchers of the CUDA graph kernels: exact kNN (tiled distances + per-row top-k), the
// HNSW level build steps (prune, reverse merge) and the batched beam search. No CUDA types:
// streams are void*, every pointer is device memory on `device`. Ids are uint32 row numbers with
// graph::kNone padding; lists are sorted by (distance, id) as in panning/graph_build.hpp, whose
// functions the kernels run.
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

// The CUDA twins of cpu::prune_candidates and cpu::reverse_merge (x: float32 [n, dim]
// contiguous, metric 0 l2 or 1 ip; cosine callers normalise x and pass 1). K + E and
// m_in + reverse_cap <= 512. reverse_merge checks fwd's ids as its twin does (std::invalid_argument
// on one that is neither kNone nor below n); its workspace is sized for `device`.
void prune_candidates(const float* x, std::int64_t n, std::int64_t dim, int metric,
                      const std::uint32_t* cand, const float* cand_dist, int K,
                      const std::uint32_t* extra, const float* extra_dist, int E, int m,
                      std::uint32_t* out, float* out_dist, int device, void* stream);

std::size_t reverse_merge_workspace_bytes(std::int64_t n, int m_in, int device);
void reverse_merge(const float* x, std::int64_t n, std::int64_t dim, int metric,
                   const std::uint32_t* fwd, const float* fwd_dist, int m_in, int reverse_cap,
                   int m_out, std::uint32_t* out, float* out_dist, void* workspace,
                   std::size_t workspace_bytes, int device, void* stream);

// The CUDA twin of cpu::beam_search: one warp per query. level0 [n, 2M], upper and
// upper_offset as HnswIndex::Links; q float32 [nq, dim] contiguous (normalised for cosine).
// ef <= 512.
void beam_search(const float* x, std::int64_t n, std::int64_t dim, int metric, int M,
                 const std::uint32_t* level0, const std::uint32_t* upper,
                 const std::int64_t* upper_offset, std::int64_t entry, int max_level,
                 const float* q, std::int64_t nq, int k, int ef, std::uint32_t* out_ids,
                 float* out_dist, int device, void* stream);

}  // namespace panning::cuda
