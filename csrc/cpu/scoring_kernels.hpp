// Per-ISA row kernels behind panning::cpu scoring. scoring_kernels.inc is compiled once per
// instruction set (scoring_generic.cpp, scoring_avx2.cpp, scoring_avx512.cpp, each with its own
// flags) and scoring.cpp picks one table at run time.
#pragma once

#include <algorithm>
#include <cstdint>

#include "panning/common.hpp"
#include "panning/scoring.hpp"
#include "panning/scoring_math.hpp"

namespace panning::cpu {

// Rows scored per call of score_block / bald_block.
constexpr std::int64_t kBlockRows = 64;

// float64 probability rows with at most this many classes are scored a block at a time, laid end
// to end (see score_block), which needs kBlockRows * cols doubles of rowbuf.
constexpr std::int64_t kFlatMaxCols = 32;

// Doubles of per-thread scratch that score_block and bald_block need for rows of `cols` values.
inline std::int64_t rowbuf_doubles(std::int64_t cols) {
  const std::int64_t flat = cols <= kFlatMaxCols ? kBlockRows * cols : 0;
  return std::max<std::int64_t>({1, 2 * cols, flat});
}

struct ScoringKernels {
  const char* name;
  // Scores rows rows[i] (or i when rows is null) of x for i in [begin, end) into
  // out[0, end - begin): double for float64 inputs, float otherwise. rows holds num_rows ids
  // (prefetching looks past `end`; end - begin <= kBlockRows). rowbuf holds
  // rowbuf_doubles(x.cols) doubles of scratch.
  void (*score_block)(const MatrixView& x, const std::int64_t* rows, std::int64_t num_rows,
                      std::int64_t begin, std::int64_t end, ScoreMethod method, bool from_logits,
                      void* out, void* rowbuf);
  // BALD of rows rows[i] (or i) for i in [begin, end) into out[0, end - begin), float or double
  // as score_block; rowbuf holds 2 * x.first.cols doubles.
  void (*bald_block)(const SamplesView& x, const std::int64_t* rows, std::int64_t num_rows,
                     std::int64_t begin, std::int64_t end, void* out, void* rowbuf);
};

ScoringKernels scoring_kernels_generic();
#if defined(PANNING_HAVE_X86_SIMD)
ScoringKernels scoring_kernels_avx2();
ScoringKernels scoring_kernels_avx512();
#endif

}  // namespace panning::cpu
