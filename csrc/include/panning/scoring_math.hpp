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
// A row is invalid (scores NaN) if it holds a NaN or a negative probability; logits are invalid if
// one is NaN or +inf, or if every logit is -inf.
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

// ---- per-element terms --------------------------------------------------------------------------

// p log p with 0 log 0 = 0; subnormal p contribute < 1e-36 and are dropped.
PANNING_HD float plogp(float p) {
  return p >= kFloatMin ? p * score_log(p) : 0.0f;
}

// 1 where a probability is unusable (NaN or negative).
PANNING_HD int prob_invalid(float p) {
  return !(p >= 0.0f);
}

// 1 where a logit is unusable (NaN or +inf).
PANNING_HD int logit_invalid(float z) {
  return !(z < pos_inf());
}

// The two largest values seen, for margins.
struct Top2 {
  float first;
  float second;
};

PANNING_HD Top2 top2_empty() {
  return Top2{neg_inf(), neg_inf()};
}

PANNING_HD Top2 top2_push(Top2 t, float v) {
  const float lo = v < t.first ? v : t.first;
  return Top2{v > t.first ? v : t.first, lo > t.second ? lo : t.second};
}

PANNING_HD Top2 top2_merge(Top2 a, Top2 b) {
  return top2_push(top2_push(a, b.first), b.second);
}

// Online softmax statistics of a stream of logits: m = max, s = sum exp(z - m),
// t = sum exp(z - m) (z - m). Merging rescales the side with the smaller max.
struct LogitStats {
  float m;
  float s;
  float t;
};

PANNING_HD LogitStats logit_stats_empty() {
  return LogitStats{neg_inf(), 0.0f, 0.0f};
}

PANNING_HD LogitStats logit_stats_merge(LogitStats a, LogitStats b) {
  if (a.s == 0.0f) return b;
  if (b.s == 0.0f) return a;
  if (a.m < b.m) {
    const LogitStats tmp = a;
    a = b;
    b = tmp;
  }
  // now a.m >= b.m: re-express b relative to a.m, with d = b.m - a.m <= 0
  const float d = b.m - a.m;
  const float scale = score_exp(d);
  return LogitStats{a.m, a.s + b.s * scale, a.t + scale * (b.t + d * b.s)};
}

PANNING_HD LogitStats logit_stats_push(LogitStats a, float z) {
  if (!(z > neg_inf())) return a;  // exp(-inf) = 0 contributes nothing
  return logit_stats_merge(a, LogitStats{z, 1.0f, 0.0f});
}

// ---- row finalisers -----------------------------------------------------------------------------

PANNING_HD float entropy_from_plogp_sum(float sum_plogp) {
  const float h = -sum_plogp;
  return h > 0.0f ? h : 0.0f;  // -0 and rounding below zero for one-hot rows
}

PANNING_HD float margin_from_top2(Top2 t) {
  const float second = t.second > 0.0f ? t.second : 0.0f;  // absent class -> probability 0
  return t.first - second;
}

PANNING_HD float least_confidence_from_max(float max_p) {
  return 1.0f - max_p;
}

PANNING_HD float entropy_from_logit_stats(float s, float t) {
  const float h = score_log(s) - t / s;
  return h > 0.0f ? h : 0.0f;
}

PANNING_HD float least_confidence_from_logit_stats(float s) {
  return 1.0f - 1.0f / s;
}

// z1 >= z2 are the two largest logits (z2 = -inf when there is one class).
PANNING_HD float margin_from_logits(float z1, float z2, float s) {
  const float gap = z2 - z1;  // <= 0 or -inf
  const float e = gap > neg_inf() ? score_exp(gap) : 0.0f;
  return (1.0f - e) / s;
}

// Larger key = more uncertain; used by every top-k selector so ranking is defined in one place.
PANNING_HD float uncertainty_key(ScoreMethod method, float score) {
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
