// Per-element and per-row math of the uncertainty scores, shared by the CPU kernels
// (csrc/cpu/scoring_kernels.inc, compiled once per ISA) and the CUDA kernels
// (csrc/cuda/scoring.cu).
//
// Definitions (natural log, 0 log 0 = 0, a missing second class counts as probability 0):
//   entropy          H = -sum_i p_i log p_i
//   margin           p_(1) - p_(2)
//   least confidence 1 - p_(1)
// From logits z the softmax is never materialised: with m = max z, S = sum exp(z - m) and
// T = sum exp(z - m) (z - m) we have H = log S - T / S, p_(1) = 1 / S and
// p_(1) - p_(2) = (1 - exp(z_(2) - z_(1))) / S. All exponent arguments are <= 0, so nothing
// overflows for logits of any magnitude.
// A row is invalid (scores NaN) if it holds a NaN, a negative or an infinite probability; logits
// are invalid if one is NaN or +inf, or if every logit is -inf.
//
// Every function exists for float (float32/float16/bfloat16 inputs, accumulated in float32) and
// for double (float64 inputs, computed and returned in float64, as scikit-learn hands them in).
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

#include "panning/common.hpp"

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

namespace panning {

enum class ScoreMethod : int { kEntropy = 0, kMargin = 1, kLeastConfidence = 2 };

// ---- bit helpers ------------------------------------------------------------------------------

PANNING_HD std::int32_t float_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_int(x);
#else
  std::int32_t i;
  std::memcpy(&i, &x, sizeof i);
  return i;
#endif
}

PANNING_HD float bits_float(std::int32_t i) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(i);
#else
  float x;
  std::memcpy(&x, &i, sizeof x);
  return x;
#endif
}

PANNING_HD std::int64_t double_bits(double x) {
#if defined(__CUDA_ARCH__)
  return __double_as_longlong(x);
#else
  std::int64_t i;
  std::memcpy(&i, &x, sizeof i);
  return i;
#endif
}

PANNING_HD double bits_double(std::int64_t i) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(i);
#else
  double x;
  std::memcpy(&x, &i, sizeof x);
  return x;
#endif
}

PANNING_HD float bf16_bits_to_float(std::uint16_t h) {
  return bits_float(static_cast<std::int32_t>(static_cast<std::uint32_t>(h) << 16));
}

// IEEE binary16 -> binary32, exact for every input (normals, subnormals, inf, NaN). The SIMD CPU
// variants use F16C instructions instead; this is the portable twin they are tested against.
PANNING_HD float half_bits_to_float(std::uint16_t h) {
  const std::uint32_t sign = (static_cast<std::uint32_t>(h) & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0x1fu) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else {
    // zero or subnormal: mant * 2^-24, exactly representable in float32
    const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    bits = sign | static_cast<std::uint32_t>(float_bits(v));
  }
  return bits_float(static_cast<std::int32_t>(bits));
}

// ---- exp / log ----------------------------------------------------------------------------------
// Branch-free Cephes-style range reduction with short polynomials (error ~1e-7 on their domain).
// They are written with selects only so that GCC vectorises the loops that call them under `#pragma
// omp simd` on every ISA; the CUDA kernels use the device's expf/logf instead.

// exp(x) for x in [kExpFloor, 0]; callers clamp (see score_exp). exp(kExpFloor) ~ 1.2e-38 is
// negligible next to the sums it enters (every softmax sum is >= 1). Neither the clamp nor an
// underflow-to-0 select lives in here: GCC threads such a second test on x into a branch and
// then refuses to vectorise the calling loop.
constexpr float kExpFloor = -87.3f;

PANNING_HD float exp_nonpositive(float xc) {
  // n = round(x / ln 2) by the 1.5 * 2^23 trick: exact in round-to-nearest for |x| < 2^22, and
  // branch-free (a floor with a fix-up select keeps GCC from vectorising).
  constexpr float kRound = 12582912.0f;
  const float fx = (xc * 1.44269504088896341f + kRound) - kRound;
  float r = xc - fx * 0.693359375f;
  r = r - fx * -2.12194440e-4f;
  const float r2 = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r2 + r + 1.0f;
  return y * bits_float((static_cast<std::int32_t>(fx) + 127) << 23);
}

// log(x) for normal positive x (callers mask x < FLT_MIN themselves).
PANNING_HD float log_positive(float x) {
  const std::int32_t bits = float_bits(x);
  float e = static_cast<float>(((bits >> 23) & 0xff) - 126);
  float m = bits_float((bits & 0x007fffff) | 0x3f000000);  // mantissa in [0.5, 1)
  const bool small = m < 0.707106781186547524f;
  e = small ? e - 1.0f : e;
  m = small ? m + m - 1.0f : m - 1.0f;
  const float z = m * m;
  // log(1 + m) = m - m^2 / 2 + m^3 P(m) on [sqrt(1/2) - 1, sqrt(2) - 1]; P of degree 5 fitted
  // by least squares (max error 8e-8 in float32, at the level of float32 rounding; Cephes' degree
  // 8 buys nothing measurable here and costs three more FMAs per element).
  float y = -1.0157208145e-01f;
  y = y * m + 1.6132523119e-01f;
  y = y * m - 1.7179912329e-01f;
  y = y * m + 1.9910365343e-01f;
  y = y * m - 2.4979883432e-01f;
  y = y * m + 3.3334755898e-01f;
  y = y * m * z;
  y = y + e * -2.12194440e-4f;
  y = y - 0.5f * z;
  return m + y + e * 0.693359375f;
}

// float64 twins of exp_nonpositive / log_positive, in the same select-only style so that the
// float64 row loops vectorise too (4 AVX2 or 8 AVX-512 lanes).
constexpr double kExpFloorDouble = -708.0;  // exp(-708) ~ 3e-308, still a normal double

// exp(x) for x in [kExpFloorDouble, 0]: n = round(x / ln 2) by the 1.5 * 2^52 trick, whose bits
// also hold n (no float -> int64 conversion, which AVX2 lacks), r = x - n ln 2 in two parts
// (Cody-Waite), |r| <= ln 2 / 2, and a degree-12 Taylor polynomial (truncation < 2e-16).
PANNING_HD double exp_nonpositive(double x) {
  constexpr double kRound = 6755399441055744.0;  // 1.5 * 2^52
  const double t = x * 1.4426950408889634074 + kRound;
  const double fx = t - kRound;
  const std::int64_t n = double_bits(t) - double_bits(kRound);
  double r = x - fx * 6.93147180369123816490e-01;
  r = r - fx * 1.90821492927058770002e-10;
  double y = 1.0 / 479001600.0;
  y = y * r + 1.0 / 39916800.0;
  y = y * r + 1.0 / 3628800.0;
  y = y * r + 1.0 / 362880.0;
  y = y * r + 1.0 / 40320.0;
  y = y * r + 1.0 / 5040.0;
  y = y * r + 1.0 / 720.0;
  y = y * r + 1.0 / 120.0;
  y = y * r + 1.0 / 24.0;
  y = y * r + 1.0 / 6.0;
  y = y * r + 0.5;
  y = y * r + 1.0;
  y = y * r + 1.0;
  return y * bits_double((n + 1023) << 52);
}

// log(x) for normal positive x: x = 2^e m with m in [sqrt(1/2), sqrt(2)), then
// log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716, by its odd series to s^21
// (truncation < 1e-17). The exponent is turned into a double by the 2^52 trick for the same
// reason as in exp_nonpositive.
PANNING_HD double log_positive(double x) {
  const std::int64_t bits = double_bits(x);
  const double e_biased =
      bits_double(0x4330000000000000LL | ((bits >> 52) & 0x7ff)) - 4503599627370496.0;
  double m = bits_double((bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);  // [1, 2)
  const bool big = m > 1.41421356237309504880;
  m = big ? m * 0.5 : m;
  const double e = (big ? e_biased + 1.0 : e_biased) - 1023.0;
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  double y = 1.0 / 21.0;
  y = y * s2 + 1.0 / 19.0;
  y = y * s2 + 1.0 / 17.0;
  y = y * s2 + 1.0 / 15.0;
  y = y * s2 + 1.0 / 13.0;
  y = y * s2 + 1.0 / 11.0;
  y = y * s2 + 1.0 / 9.0;
  y = y * s2 + 1.0 / 7.0;
  y = y * s2 + 1.0 / 5.0;
  y = y * s2 + 1.0 / 3.0;
  y = y * s2 + 1.0;
  return e * 0.693147180559945309417 + 2.0 * s * y;
}

PANNING_HD float score_exp(float x) {
#if defined(__CUDA_ARCH__)
  return __expf(x);  // ex2.approx: a few ulp for x <= 0, well inside the tested tolerance
#else
  return exp_nonpositive(x < kExpFloor ? kExpFloor : x);
#endif
}

PANNING_HD float score_log(float x) {
#if defined(__CUDA_ARCH__)
  return __logf(x);  // lg2.approx: ~2^-21 absolute near 1, relative elsewhere
#else
  return log_positive(x);
#endif
}

PANNING_HD double score_exp(double x) {
#if defined(__CUDA_ARCH__)
  return exp(x);
#else
  return exp_nonpositive(x < kExpFloorDouble ? kExpFloorDouble : x);
#endif
}

PANNING_HD double score_log(double x) {
#if defined(__CUDA_ARCH__)
  return log(x);
#else
  return log_positive(x);
#endif
}

PANNING_HD float quiet_nan() {
  return bits_float(0x7fc00000);
}
PANNING_HD float pos_inf() {
  return bits_float(0x7f800000);
}
PANNING_HD float neg_inf() {
  return bits_float(static_cast<std::int32_t>(0xff800000u));
}
constexpr float kFloatMin = 1.17549435e-38f;  // smallest normal float
constexpr float kFloatMax = 3.40282347e+38f;
constexpr double kDoubleMin = 2.2250738585072014e-308;
constexpr double kDoubleMax = 1.7976931348623157e+308;

// Special values and limits per accumulator type, for the code templated on it.
template <class T>
struct Real;

template <>
struct Real<float> {
  static PANNING_HD float nan() { return quiet_nan(); }
  static PANNING_HD float inf() { return pos_inf(); }
  static PANNING_HD float lowest() { return neg_inf(); }
  static constexpr float kMinNormal = kFloatMin;
  static constexpr float kMaxFinite = kFloatMax;
  static constexpr float kExpFloor = panning::kExpFloor;
};

template <>
struct Real<double> {
  static PANNING_HD double nan() { return bits_double(0x7ff8000000000000LL); }
  static PANNING_HD double inf() { return bits_double(0x7ff0000000000000LL); }
  static PANNING_HD double lowest() {
    return bits_double(static_cast<std::int64_t>(0xfff0000000000000ULL));
  }
  static constexpr double kMinNormal = kDoubleMin;
  static constexpr double kMaxFinite = kDoubleMax;
  static constexpr double kExpFloor = kExpFloorDouble;
};

// ---- per-element terms --------------------------------------------------------------------------

// p log p with 0 log 0 = 0; subnormal p contribute < 1e-36 (1e-305 in float64) and are dropped.
template <class T>
PANNING_HD T plogp(T p) {
  return p >= Real<T>::kMinNormal ? p * score_log(p) : T(0);
}

// 1 where a probability is unusable (NaN, negative or +inf). Two comparisons joined by a bitwise
// or, so the loops that call it stay branch-free.
template <class T>
PANNING_HD int prob_invalid(T p) {
  return !(p >= T(0)) | !(p <= Real<T>::kMaxFinite);
}

// 1 where a logit is unusable (NaN or +inf).
template <class T>
PANNING_HD int logit_invalid(T z) {
  return !(z < Real<T>::inf());
}

// The two largest values seen, for margins.
template <class T>
struct Top2T {
  T first;
  T second;
};
using Top2 = Top2T<float>;

template <class T = float>
PANNING_HD Top2T<T> top2_empty() {
  return Top2T<T>{Real<T>::lowest(), Real<T>::lowest()};
}

template <class T>
PANNING_HD Top2T<T> top2_push(Top2T<T> t, T v) {
  const T lo = v < t.first ? v : t.first;
  return Top2T<T>{v > t.first ? v : t.first, lo > t.second ? lo : t.second};
}

template <class T>
PANNING_HD Top2T<T> top2_merge(Top2T<T> a, Top2T<T> b) {
  return top2_push(top2_push(a, b.first), b.second);
}

// Online softmax statistics of a stream of logits: m = max, s = sum exp(z - m),
// t = sum exp(z - m) (z - m). Merging rescales the side with the smaller max.
template <class T>
struct LogitStatsT {
  T m;
  T s;
  T t;
};
using LogitStats = LogitStatsT<float>;

template <class T = float>
PANNING_HD LogitStatsT<T> logit_stats_empty() {
  return LogitStatsT<T>{Real<T>::lowest(), T(0), T(0)};
}

template <class T>
PANNING_HD LogitStatsT<T> logit_stats_merge(LogitStatsT<T> a, LogitStatsT<T> b) {
  if (a.s == T(0)) return b;
  if (b.s == T(0)) return a;
  if (a.m < b.m) {
    const LogitStatsT<T> tmp = a;
    a = b;
    b = tmp;
  }
  // now a.m >= b.m: re-express b relative to a.m, with d = b.m - a.m <= 0
  const T d = b.m - a.m;
  const T scale = score_exp(d);
  return LogitStatsT<T>{a.m, a.s + b.s * scale, a.t + scale * (b.t + d * b.s)};
}

template <class T>
PANNING_HD LogitStatsT<T> logit_stats_push(LogitStatsT<T> a, T z) {
  if (!(z > Real<T>::lowest())) return a;  // exp(-inf) = 0 contributes nothing
  return logit_stats_merge(a, LogitStatsT<T>{z, T(1), T(0)});
}

// ---- row finalisers -----------------------------------------------------------------------------

template <class T>
PANNING_HD T entropy_from_plogp_sum(T sum_plogp) {
  const T h = -sum_plogp;
  return h > T(0) ? h : T(0);  // -0 and rounding below zero for one-hot rows
}

template <class T>
PANNING_HD T margin_from_top2(Top2T<T> t) {
  const T second = t.second > T(0) ? t.second : T(0);  // absent class -> probability 0
  return t.first - second;
}

template <class T>
PANNING_HD T least_confidence_from_max(T max_p) {
  return T(1) - max_p;
}

template <class T>
PANNING_HD T entropy_from_logit_stats(T s, T t) {
  const T h = score_log(s) - t / s;
  return h > T(0) ? h : T(0);
}

template <class T>
PANNING_HD T least_confidence_from_logit_stats(T s) {
  return T(1) - T(1) / s;
}

// z1 >= z2 are the two largest logits (z2 = -inf when there is one class).
template <class T>
PANNING_HD T margin_from_logits(T z1, T z2, T s) {
  const T gap = z2 - z1;  // <= 0 or -inf
  const T e = gap > Real<T>::lowest() ? score_exp(gap) : T(0);
  return (T(1) - e) / s;
}

// Larger key = more uncertain; used by every top-k selector so ranking is defined in one place.
template <class T>
PANNING_HD T uncertainty_key(ScoreMethod method, T score) {
  return method == ScoreMethod::kMargin ? -score : score;
}

// Maps a float key onto an unsigned integer whose order equals the float order (for radix select).
PANNING_HD std::uint32_t ordered_bits(float key) {
  const std::uint32_t u = static_cast<std::uint32_t>(float_bits(key));
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// A 64-bit selection key: larger = more uncertain, and among equal keys larger = lower row index,
// so every key is distinct and the k largest are exactly the answer with ties broken by index.
PANNING_HD std::uint64_t selection_key(float key, std::uint32_t row) {
  return (static_cast<std::uint64_t>(ordered_bits(key)) << 32) |
         static_cast<std::uint64_t>(0xffffffffu - row);
}

PANNING_HD std::int64_t selection_key_row(std::uint64_t sk) {
  return static_cast<std::int64_t>(0xffffffffu - static_cast<std::uint32_t>(sk & 0xffffffffu));
}

}  // namespace panning
