// Batched uncertainty scoring on the CPU: the C++ API under panning.entropy / margin /
// least_confidence / most_uncertain. Plain pointers and views only.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include "panning/common.hpp"
#include "panning/interrupt.hpp"
#include "panning/scoring_math.hpp"

namespace panning {

// Which rows most_uncertain may return, as dataset row ids. Neither list causes a copy of x:
// candidates are scored in place through their ids, excluded rows are skipped.
struct RowSelection {
  const std::int64_t* candidates = nullptr;  // rank only these rows (no repeats); null: all rows
  std::int64_t num_candidates = 0;
  const std::int64_t* exclude = nullptr;  // never return these rows (repeats allowed)
  std::int64_t num_exclude = 0;
};

// Monte-Carlo samples of class probabilities, [samples, rows, cols], strides in elements.
// Sample s is the MatrixView `sample(s)`.
struct SamplesView {
  MatrixView first;  // sample 0: data, rows, cols, row and col strides, dtype
  std::int64_t samples = 0;
  std::int64_t sample_stride = 0;

  MatrixView sample(std::int64_t s) const {
    MatrixView v = first;
    v.data = static_cast<const char*>(first.data) +
             s * sample_stride * static_cast<std::int64_t>(dtype_size(first.dtype));
    return v;
  }
};

// What most_uncertain and bald_top_k (CPU and CUDA) throw when an eligible row's score is NaN:
// `row` is the first such row, `why` what makes a row of that input invalid.
inline std::invalid_argument invalid_row_error(std::int64_t row, const char* why) {
  return std::invalid_argument("row " + std::to_string(row) + " is invalid (" + why +
                               ") and cannot be ranked");
}

// The `why` of invalid_row_error for most_uncertain's input and for BALD's samples.
inline const char* invalid_row_reason(bool from_logits) {
  return from_logits ? "NaN, +inf or all -inf logits"
                     : "NaN, a negative or an infinite probability";
}
constexpr const char* kInvalidSampleReason =
    "a sample holds NaN, a negative or an infinite probability";

namespace cpu {

// out[i] = score of row i of x (NaN for invalid rows): float for float32/float16/bfloat16
// inputs, double for float64 ones.
void score_rows(const MatrixView& x, ScoreMethod method, bool from_logits, void* out,
                const InterruptCheck& interrupted = {});

// Writes the k most uncertain eligible rows of x into out_rows, most uncertain first, ties broken
// by the lower row index, and (when out_scores is not null) their scores in the same element type
// as score_rows. Throws std::invalid_argument for out-of-range or repeated candidate ids,
// out-of-range excluded ids, k outside [0, eligible rows], or an invalid eligible row
// (invalid_row_error names the first one; then the outputs are unspecified).
void most_uncertain(const MatrixView& x, ScoreMethod method, bool from_logits, std::int64_t k,
                    std::int64_t* out_rows, void* out_scores = nullptr,
                    const RowSelection& selection = {}, const InterruptCheck& interrupted = {});

// BALD (Houlsby et al. 2011; Gal et al. 2017): the mutual information between the prediction and
// the model parameters, estimated from S Monte-Carlo samples as
//   H(mean_s p_s) - mean_s H(p_s), in nats, clamped at 0 (rounding only).
// out[i] for each row (float, or double for float64 inputs); NaN when any sample's row is
// invalid (NaN, negative or infinite probability).
void bald_scores(const SamplesView& x, void* out, const InterruptCheck& interrupted = {});

// The k rows of largest BALD among the eligible ones, largest first, ties to the lower row;
// the same contract as most_uncertain.
void bald_top_k(const SamplesView& x, std::int64_t k, std::int64_t* out_rows,
                void* out_scores = nullptr, const RowSelection& selection = {},
                const InterruptCheck& interrupted = {});

// The instruction set the scoring kernels run: "avx512", "avx2" or "generic".
const char* simd_level();

// Levels this CPU and build can run, best first.
const char* const* available_simd_levels(int* count);

// Forces a level (tests use this to compare every variant with the reference). Returns false
// when the level is unknown or not supported here.
bool set_simd_level(const char* level);

}  // namespace cpu
}  // namespace panning
