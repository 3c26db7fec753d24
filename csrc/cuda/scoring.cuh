// Host launchers of the CUDA uncertainty-scoring kernels. No CUDA types in this header: streams
// are passed as void* (a cudaStream_t), device pointers as plain pointers, so the pybind11 layer
// compiles with the host compiler.
#pragma once

#include <cstddef>
#include <cstdint>

#include "panning/common.hpp"
#include "panning/scoring.hpp"
#include "panning/scoring_math.hpp"

namespace panning::cuda {

// Number of usable CUDA devices; 0 when there is no driver or device.
int device_count();

// out[i] = score of row i of x (float, or double for float64 inputs); x.data and out live on
// `device`. Asynchronous on `stream`.
void score_rows(const MatrixView& x, ScoreMethod method, bool from_logits, void* out, int device,
                void* stream);

// out[i] = score of row ids[i] of x for i in [0, n); ids live on the device.
void score_rows_at(const MatrixView& x, const std::int64_t* ids, std::int64_t n, ScoreMethod method,
                   bool from_logits, void* out, int device, void* stream);

// Bytes of device workspace most_uncertain needs to rank n rows (all rows or the candidates).
std::size_t most_uncertain_workspace_bytes(std::int64_t n, std::int64_t k);

// Writes the k most uncertain rows (int64 row ids, on the device) most uncertain first, ties
// broken by the lower row id, and their scores when out_scores is not null. candidates (device,
// unique, in range: the caller checks) restricts the ranking to those rows, read in place; null
// ranks every row. Synchronises `stream` once to read back the first invalid row; when there is
// one it throws invalid_row_error (panning/scoring.hpp), as the CPU most_uncertain does.
void most_uncertain(const MatrixView& x, ScoreMethod method, bool from_logits, std::int64_t k,
                    std::int64_t* out_rows, void* out_scores, const std::int64_t* candidates,
                    std::int64_t num_candidates, void* workspace, std::size_t workspace_bytes,
                    int device, void* stream);

// BALD of every row of the [S, N, C] samples (float, or double for float64); asynchronous.
void bald_scores(const SamplesView& x, void* out, int device, void* stream);

// The k rows of largest BALD (the same contract and workspace as most_uncertain).
void bald_top_k(const SamplesView& x, std::int64_t k, std::int64_t* out_rows, void* out_scores,
                const std::int64_t* candidates, std::int64_t num_candidates, void* workspace,
                std::size_t workspace_bytes, int device, void* stream);

}  // namespace panning::cuda
