// Batched uncertainty scoring on the CPU: the C++ API under panning.entropy / margin /
// least_confidence / most_uncertain. Plain pointers and views only.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include "panning/common.hpp"
#include "panning/scoring_math.hpp"

namespace panning {

// Thrown when the interrupt callback asks a long loop to stop (Ctrl-C in Python).
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

// Returns true when work should stop; called on the calling thread between chunks of rows.
using InterruptCheck = std::function<bool()>;

// Which rows most_uncertain may return, as dataset row ids. Neither list causes a copy of x:
// candidates are scored in place through their ids, excluded rows are skipped.
struct RowSelection {
  const std::int64_t* candidates = nullptr;  // rank only these rows (no repeats); null: all rows
  std::int64_t num_candidates = 0;
  const std::int64_t* exclude = nullptr;  // never return these rows (repeats allowed)
  std::int64_t num_exclude = 0;
};

namespace cpu {

// out[i] = score of row i of x (NaN for invalid rows): float for float32/float16/bfloat16
// inputs, double for float64 ones.
void score_rows(const MatrixView& x, ScoreMethod method, bool from_logits, void* out,
                const InterruptCheck& interrupted = {});

// Writes the k most uncertain eligible rows of x into out_rows, most uncertain first, ties broken
// by the lower row index, and (when out_scores is not null) their scores in the same element type
// as score_rows. Throws std::invalid_argument for out-of-range or repeated candidate ids,
// out-of-range excluded ids, or k outside [0, eligible rows]. Returns -1, or the first invalid
// eligible row (then the outputs are unspecified).
std::int64_t most_uncertain(const MatrixView& x, ScoreMethod method, bool from_logits,
                            std::int64_t k, std::int64_t* out_rows, void* out_scores = nullptr,
                            const RowSelection& selection = {},
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
