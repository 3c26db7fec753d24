// Per-ISA row kernels behind panning::cpu scoring. scoring_kernels.inc is compiled once per
// instruction set (scoring_generic.cpp, scoring_avx2.cpp, scoring_avx512.cpp, each with its own
// flags) and scoring.cpp picks one table at run time.
#pragma once

#include <cstdint>

#include "panning/common.hpp"
#include "panning/scoring_math.hpp"

namespace panning::cpu {

struct ScoringKernels {
  const char* name;
  // Scores rows [row_begin, row_end) of x into out[0, row_end - row_begin). rowbuf holds
  // x.cols floats for rows that must be converted or gathered first.
  void (*score_block)(const MatrixView& x, std::int64_t row_begin, std::int64_t row_end,
                      ScoreMethod method, bool from_logits, float* out, float* rowbuf);
};

ScoringKernels scoring_kernels_generic();
#if defined(PANNING_HAVE_X86_SIMD)
ScoringKernels scoring_kernels_avx2();
ScoringKernels scoring_kernels_avx512();
#endif

}  // namespace panning::cpu
