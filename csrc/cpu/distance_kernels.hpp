// Per-ISA distance kernels behind panning's HNSW and flat indexes. distance_kernels.inc is
// compiled once per instruction set (distance_generic.cpp, distance_avx2.cpp,
// distance_avx512.cpp, each with its own flags) and distance.cpp picks one table at run time.
#pragma once

#include <cstdint>
#include <cstring>

namespace panning::cpu {

// One exact top-k scan of packed query rows against packed stored rows (knn_scan.inc): the
// GEMM-style hot loop of FlatIndex search and exact kNN graphs.
//
// Layouts. Rows are packed in panels: the stored rows [p * nr, p * nr + nr) as float[dim][nr]
// (row-interleaved, zero rows past the end), the queries [p * mr, ...) as float[dim][mr]; mr and
// nr are the kernel table's knn_mr / knn_nr. A register tile of mr queries x nr stored rows is
// accumulated over all of dim (one broadcast query value, nr / width vector loads and mr * nr /
// width FMAs per step), turned into distances in registers and compared against each query's
// current k-th distance, so most candidates cost one vector compare and never leave registers.
struct KnnScanArgs {
  std::int64_t dim = 0;
  bool l2 = true;  // |a|^2 + |b|^2 - 2 <a, b> (needs the squared norms); else 1 - <a, b>
  const float* queries = nullptr;   // packed panels of mr rows
  const float* query_sq = nullptr;  // [nq] squared norms (l2 only)
  std::int64_t nq = 0;
  const float* stored = nullptr;     // packed panels of nr rows
  const float* stored_sq = nullptr;  // squared norms, padded with zeros to whole panels (l2 only)
  std::int64_t begin = 0;            // stored rows [begin, end) are scanned; begin % nr == 0
  std::int64_t end = 0;
  std::int64_t self_first = -1;            // >= 0: query i never lists stored row self_first + i
  const std::uint64_t* exclude = nullptr;  // bitmap of stored rows to leave out, or nullptr
  // Per query i: a top-k list dist[i * k, i * k + count[i]) / ids[...] sorted as in knn_math.hpp.
  std::int64_t k = 0;
  float* best_dist = nullptr;
  std::int64_t* best_ids = nullptr;
  std::int64_t* best_count = nullptr;
};

struct DistanceKernels {
  const char* name;
  // <a, b> and |a - b|^2 of two float32 vectors of length d.
  float (*dot_f32)(const float* a, const float* b, std::int64_t d);
  float (*l2_f32)(const float* a, const float* b, std::int64_t d);
  // The same with b stored as IEEE half (bits), accumulated in float32.
  float (*dot_f16)(const float* a, const std::uint16_t* b, std::int64_t d);
  float (*l2_f16)(const float* a, const std::uint16_t* b, std::int64_t d);
  // Register-blocked tiles for brute force: out[i * 4 + j] = f(a_i, b_j) for the 4 rows a_i at
  // a + i * lda and the 4 rows b_j at b + j * ldb. Each loaded chunk feeds four FMAs.
  void (*dot_4x4)(const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
                  std::int64_t d, float* out);
  void (*l2_4x4)(const float* a, std::int64_t lda, const float* b, std::int64_t ldb, std::int64_t d,
                 float* out);
  // Conversions between float32 and IEEE half bits (round to nearest even).
  void (*half_to_float)(const std::uint16_t* src, std::int64_t n, float* dst);
  void (*float_to_half)(const float* src, std::int64_t n, std::uint16_t* dst);
  // Register tile of the packed top-k scan (KnnScanArgs): mr queries x nr stored rows.
  std::int64_t knn_mr;
  std::int64_t knn_nr;
  void (*knn_scan)(const KnnScanArgs& args);
};

DistanceKernels distance_kernels_generic();
#if defined(PANNING_HAVE_X86_SIMD)
DistanceKernels distance_kernels_avx2();
DistanceKernels distance_kernels_avx512();
#endif

// The table in use (the best level this CPU runs, unless PANNING_SIMD or
// set_distance_simd_level() chose another).
const DistanceKernels& distance_kernels();

// binary32 -> binary16 bits, round to nearest even; overflow becomes inf. The portable twin of
// F16C's vcvtps2ph.
inline std::uint16_t float_to_half_bits(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u)  // inf or NaN (quiet)
    return static_cast<std::uint16_t>(sign | 0x7c00u |
                                      (absx > 0x7f800000u ? 0x200u | ((absx >> 13) & 0x3ffu) : 0u));
  if (absx >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (absx < 0x38800000u) {
    // Below the smallest normal half (2^-14): the result is round(|f| * 2^24) in units of 2^-24;
    // the scaling is exact, and adding/subtracting 2^23 rounds to nearest even.
    float a;
    std::memcpy(&a, &absx, sizeof a);
    const float scaled = a * 16777216.0f;
    const float rounded = (scaled + 8388608.0f) - 8388608.0f;
    return static_cast<std::uint16_t>(sign | static_cast<std::uint32_t>(rounded));
  }
  std::uint32_t h = (((absx >> 23) - 112u) << 10) | ((absx >> 13) & 0x3ffu);
  const std::uint32_t rest = absx & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry correctly bumps the exponent
  return static_cast<std::uint16_t>(sign | h);
}

}  // namespace panning::cpu
