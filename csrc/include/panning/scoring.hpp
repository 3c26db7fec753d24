// Batched uncertainty scoring on the CPU: the C++ API under panning.entropy / margin /
// least_confidence / most_uncertain. Plain pointers and views only.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>

#include "panning/common.hpp"
#include "panning/scoring_math.hpp"

namespace panning {

// Thrown when the interrupt callback asks a long loop to stop (Ctrl-C in Python).
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

// Returns true when work should stop; called on the calling thread between chunks of rows.
using InterruptCheck = std::function<bool()>;

namespace cpu {

// out[i] = score of row i of x (NaN for invalid rows).
void score_rows(const MatrixView& x, ScoreMethod method, bool from_logits, float* out,
                const InterruptCheck& interrupted = {});

// Writes the k most uncertain rows of x into out_rows, most uncertain first, ties broken by the
// lower row index. Returns -1, or the first invalid row (then out_rows is unspecified).
std::int64_t most_uncertain(const MatrixView& x, ScoreMethod method, bool from_logits,
                            std::int64_t k, std::int64_t* out_rows,
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
