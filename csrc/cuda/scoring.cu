// CUDA uncertainty scoring: one pass over each row with the per-element math of
// panning/scoring_math.hpp (shared with the CPU kernels), and a partial top-k by radix select.
//
// Row kernels: a group of G threads per row (G = 4 for narrow rows, 32 for up to a few thousand
// classes), or a whole block per row for very wide rows. Each thread streams 16-byte vector loads
// (2 float64, 4 float32 or 8 half/bfloat16) with evict-first hints, keeps a small RowState (online
// softmax for logits, so logits are read once), and the group merges states with shuffles.
//
// Top-k: the row kernel writes a 64-bit selection key per row (uncertainty bits above the inverted
// row index, so keys are distinct and ties go to the lower row). Eight 8-bit radix-select passes
// find the k-th largest key without leaving the device, one pass gathers the k keys above it, and
// CUB sorts only those k.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cub/device/device_radix_sort.cuh>
#include <stdexcept>
#include <type_traits>

#include "cuda_check.cuh"
#include "panning/scoring.hpp"
#include "scoring.cuh"

namespace panning::cuda {
namespace {

constexpr int kBlockThreads = 256;
constexpr std::int64_t kBlockPerRowMinCols = 4096;

// ---- loading ------------------------------------------------------------------------------------

template <DType D>
struct ElemTraits;
template <>
struct ElemTraits<DType::kFloat32> {
  static constexpr int kVec = 4;
  static constexpr int kBytes = 4;
};
template <>
struct ElemTraits<DType::kFloat16> {
  static constexpr int kVec = 8;
  static constexpr int kBytes = 2;
};
template <>
struct ElemTraits<DType::kBFloat16> {
  static constexpr int kVec = 8;
  static constexpr int kBytes = 2;
};
template <>
struct ElemTraits<DType::kFloat64> {
  static constexpr int kVec = 2;
  static constexpr int kBytes = 8;
};

// The accumulator type of a dtype: float64 rows are scored in double, the others in float.
template <DType D>
using Acc = std::conditional_t<D == DType::kFloat64, double, float>;

template <DType D>
__device__ __forceinline__ Acc<D> load_scalar(const char* p) {
  if constexpr (D == DType::kFloat64) {
    return __ldcs(reinterpret_cast<const double*>(p));
  } else if constexpr (D == DType::kFloat32) {
    return __ldcs(reinterpret_cast<const float*>(p));
  } else {
    const unsigned short h = __ldcs(reinterpret_cast<const unsigned short*>(p));
    if constexpr (D == DType::kFloat16) return __half2float(__ushort_as_half(h));
    return bf16_bits_to_float(h);
  }
}

template <DType D>
__device__ __forceinline__ void load_vector(const char* p, Acc<D> (&v)[ElemTraits<D>::kVec]) {
  if constexpr (D == DType::kFloat64) {
    const double2 raw = __ldcs(reinterpret_cast<const double2*>(p));
    v[0] = raw.x;
    v[1] = raw.y;
  } else {
    const uint4 raw = __ldcs(reinterpret_cast<const uint4*>(p));
    if constexpr (D == DType::kFloat32) {
      v[0] = __uint_as_float(raw.x);
      v[1] = __uint_as_float(raw.y);
      v[2] = __uint_as_float(raw.z);
      v[3] = __uint_as_float(raw.w);
    } else {
      const unsigned words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const unsigned short lo = static_cast<unsigned short>(words[i] & 0xffffu);
        const unsigned short hi = static_cast<unsigned short>(words[i] >> 16);
        if constexpr (D == DType::kFloat16) {
          v[2 * i] = __half2float(__ushort_as_half(lo));
          v[2 * i + 1] = __half2float(__ushort_as_half(hi));
        } else {
          v[2 * i] = bf16_bits_to_float(lo);
          v[2 * i + 1] = bf16_bits_to_float(hi);
        }
      }
    }
  }
}

// ---- per-row state ------------------------------------------------------------------------------

template <class T>
struct RowState {
  T plogp_sum;
  Top2T<T> top;
  LogitStatsT<T> stats;
  int bad;
};

template <class T>
__device__ __forceinline__ RowState<T> row_state_empty() {
  return RowState<T>{T(0), top2_empty<T>(), logit_stats_empty<T>(), 0};
}

template <bool kLogits, class T>
__device__ __forceinline__ void row_state_push(RowState<T>& s, T v, ScoreMethod method) {
  if constexpr (kLogits) {
    s.bad |= logit_invalid(v);
    s.stats = logit_stats_push(s.stats, v);
    if (method == ScoreMethod::kMargin) s.top = top2_push(s.top, v);
  } else {
    s.bad |= prob_invalid(v);
    if (method == ScoreMethod::kEntropy) {
      s.plogp_sum += plogp(v);
    } else {
      s.top = top2_push(s.top, v);
    }
  }
}

// Pushes V values at once. For logits the running max moves once per vector, so each element
// costs one exp and no branch (the per-element online update would branch on every new max).
template <bool kLogits, int V, class T>
__device__ __forceinline__ void row_state_push_vector(RowState<T>& s, const T (&v)[V],
                                                      ScoreMethod method) {
  if constexpr (kLogits) {
    T vmax = v[0];
#pragma unroll
    for (int i = 0; i < V; ++i) {
      s.bad |= logit_invalid(v[i]);
      vmax = v[i] > vmax ? v[i] : vmax;
      if (method == ScoreMethod::kMargin) s.top = top2_push(s.top, v[i]);
    }
    if (!(vmax > Real<T>::lowest())) return;  // all -inf: nothing to add (NaN is flagged above)
    const T m = s.stats.m > vmax ? s.stats.m : vmax;
    if (s.stats.s > T(0)) {  // rescale what was summed relative to the old max
      const T d = s.stats.m - m;
      const T scale = score_exp(d);
      s.stats.t = scale * (s.stats.t + d * s.stats.s);
      s.stats.s *= scale;
    }
    s.stats.m = m;
#pragma unroll
    for (int i = 0; i < V; ++i) {
      const T d = v[i] - m;
      const T e = score_exp(d);
      s.stats.s += e;
      s.stats.t += e > T(0) ? e * d : T(0);  // -inf logits: 0, not 0 * -inf
    }
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) row_state_push<false>(s, v[i], method);
  }
}

// Merges the states of the `Width` consecutive lanes of each group (Width <= 32), exchanging only
// the fields `method` needs; the invalid flag travels in one ballot.
template <int Width, bool kLogits, class T>
__device__ __forceinline__ RowState<T> row_state_reduce(RowState<T> s, ScoreMethod method) {
  constexpr unsigned kAll = 0xffffffffu;
  const bool need_top = kLogits ? method == ScoreMethod::kMargin : method != ScoreMethod::kEntropy;
  const bool need_second = method == ScoreMethod::kMargin;
#pragma unroll
  for (int offset = Width / 2; offset > 0; offset /= 2) {
    if constexpr (kLogits) {
      const LogitStatsT<T> o{__shfl_xor_sync(kAll, s.stats.m, offset, Width),
                             __shfl_xor_sync(kAll, s.stats.s, offset, Width),
                             __shfl_xor_sync(kAll, s.stats.t, offset, Width)};
      s.stats = logit_stats_merge(s.stats, o);
    } else if (method == ScoreMethod::kEntropy) {
      s.plogp_sum += __shfl_xor_sync(kAll, s.plogp_sum, offset, Width);
    }
    if (need_top) {
      Top2T<T> o{__shfl_xor_sync(kAll, s.top.first, offset, Width), Real<T>::lowest()};
      if (need_second) o.second = __shfl_xor_sync(kAll, s.top.second, offset, Width);
      s.top = top2_merge(s.top, o);
    }
  }
  const unsigned votes = __ballot_sync(kAll, s.bad);
  const unsigned lane = threadIdx.x % 32;
  const unsigned group_bits = Width == 32 ? kAll : ((1u << Width) - 1u) << (lane / Width * Width);
  s.bad = (votes & group_bits) != 0;
  return s;
}

template <bool kLogits, class T>
__device__ __forceinline__ T row_state_finalize(const RowState<T>& s, ScoreMethod method) {
  if (s.bad) return Real<T>::nan();
  if constexpr (kLogits) {
    if (!(s.stats.m > Real<T>::lowest())) return Real<T>::nan();  // every logit -inf
    switch (method) {
      case ScoreMethod::kEntropy:
        return entropy_from_logit_stats(s.stats.s, s.stats.t);
      case ScoreMethod::kMargin:
        return margin_from_logits(s.top.first, s.top.second, s.stats.s);
      case ScoreMethod::kLeastConfidence:
        return least_confidence_from_logit_stats(s.stats.s);
    }
  } else {
    switch (method) {
      case ScoreMethod::kEntropy:
        return entropy_from_plogp_sum(s.plogp_sum);
      case ScoreMethod::kMargin:
        return margin_from_top2(s.top);
      case ScoreMethod::kLeastConfidence:
        return least_confidence_from_max(s.top.first);
    }
  }
  return Real<T>::nan();
}

// Accumulates the part of row `rowp` that thread `lane` of `width` threads owns: a scalar head up
// to the first 16-byte boundary, 16-byte vector loads, a scalar tail (strided rows: scalar).
template <DType D, bool kLogits>
__device__ __forceinline__ void accumulate_row(const char* rowp, const MatrixView& x, int lane,
                                               int width, ScoreMethod method, RowState<Acc<D>>& s) {
  constexpr int V = ElemTraits<D>::kVec;
  constexpr int B = ElemTraits<D>::kBytes;
  if (x.col_stride != 1) {
    for (std::int64_t j = lane; j < x.cols; j += width)
      row_state_push<kLogits>(s, load_scalar<D>(rowp + j * x.col_stride * B), method);
    return;
  }
  const std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(rowp);
  std::int64_t head = x.cols;  // elements before the first 16-byte boundary
  if (addr % B == 0) head = std::min<std::int64_t>(x.cols, ((16 - addr % 16) % 16) / B);
  for (std::int64_t j = lane; j < head; j += width)
    row_state_push<kLogits>(s, load_scalar<D>(rowp + j * B), method);
  const char* body = rowp + head * B;
  const std::int64_t nvec = (x.cols - head) / V;
  // Up to kLoadsInFlight vectors per thread are loaded before any is used, so each thread keeps
  // several 16-byte requests in flight instead of one.
  constexpr int kLoadsInFlight = 4;
  for (std::int64_t j0 = lane; j0 < nvec; j0 += kLoadsInFlight * width) {
    Acc<D> v[kLoadsInFlight][V];
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u)
      if (j0 + u * width < nvec) load_vector<D>(body + (j0 + u * width) * 16, v[u]);
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u)
      if (j0 + u * width < nvec) row_state_push_vector<kLogits, V>(s, v[u], method);
  }
  for (std::int64_t j = head + nvec * V + lane; j < x.cols; j += width)
    row_state_push<kLogits>(s, load_scalar<D>(rowp + j * B), method);
}

// Which rows a launch scores: position r of [0, n) is row ids[r] (or r when ids is null).
struct RowsToScore {
  const std::int64_t* ids = nullptr;
  std::int64_t n = 0;
};

__device__ __forceinline__ std::int64_t row_id(const RowsToScore& rows, std::int64_t r) {
  return rows.ids ? rows.ids[r] : r;
}

// Where finished rows go: scores by position (score_rows; float, or double for float64 inputs),
// or 64-bit selection keys by position plus the first invalid row id and the histogram of the
// keys' top byte, which is the first radix-select pass fused into the scoring pass
// (most_uncertain).
struct RowOutputs {
  void* scores = nullptr;
  std::uint64_t* keys = nullptr;
  unsigned long long* first_bad = nullptr;
  unsigned* top_byte_histogram = nullptr;  // [256], zeroed by the caller
};

constexpr int kTopByteShift = 56;

// float64 scores are ranked by their value rounded to float32 (the 64-bit key holds 32 bits of
// score above 32 bits of row id); rounding is monotone, so only float64 near-ties can reorder.
template <class T>
__device__ __forceinline__ void write_score(T score, std::int64_t r, std::int64_t id, bool negate,
                                            const RowOutputs& out, unsigned* block_histogram) {
  if (out.scores) static_cast<T*>(out.scores)[r] = score;
  if (out.keys) {
    std::uint64_t key = 0;
    if (score != score) {
      atomicMin(out.first_bad, static_cast<unsigned long long>(id));
    } else {
      key = selection_key(static_cast<float>(negate ? -score : score),
                          static_cast<std::uint32_t>(id));
    }
    out.keys[r] = key;
    atomicAdd(&block_histogram[key >> kTopByteShift], 1u);
  }
}

template <bool kLogits, class T>
__device__ __forceinline__ void write_row(const RowState<T>& s, std::int64_t r, std::int64_t id,
                                          ScoreMethod method, const RowOutputs& out,
                                          unsigned* block_histogram) {
  write_score(row_state_finalize<kLogits>(s, method), r, id, method == ScoreMethod::kMargin, out,
              block_histogram);
}

__device__ __forceinline__ void block_histogram_clear(unsigned* h, const RowOutputs& out) {
  if (!out.keys) return;
  for (int b = threadIdx.x; b < 256; b += blockDim.x) h[b] = 0;
  __syncthreads();
}

__device__ __forceinline__ void block_histogram_flush(const unsigned* h, const RowOutputs& out) {
  if (!out.keys) return;
  __syncthreads();
  for (int b = threadIdx.x; b < 256; b += blockDim.x)
    if (h[b]) atomicAdd(&out.top_byte_histogram[b], h[b]);
}

// G threads per row; rows walk the grid in warp-uniform steps so shuffles always see the full warp.
template <DType D, bool kLogits, int G>
__global__ void __launch_bounds__(kBlockThreads)
    score_rows_group_kernel(MatrixView x, RowsToScore rows, ScoreMethod method, RowOutputs out) {
  using T = Acc<D>;
  __shared__ unsigned histogram[256];
  block_histogram_clear(histogram, out);
  constexpr int kGroupsPerWarp = 32 / G;
  const int lane = threadIdx.x % G;
  const std::int64_t warp = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * blockDim.x / 32;
  const int group_in_warp = (threadIdx.x % 32) / G;
  const int B = ElemTraits<D>::kBytes;
  for (std::int64_t base = warp * kGroupsPerWarp; base < rows.n; base += warps * kGroupsPerWarp) {
    const std::int64_t r = base + group_in_warp;
    RowState<T> s = row_state_empty<T>();
    std::int64_t id = 0;
    if (r < rows.n) {
      id = row_id(rows, r);
      const char* rowp = static_cast<const char*>(x.data) + id * x.row_stride * B;
      accumulate_row<D, kLogits>(rowp, x, lane, G, method, s);
    }
    s = row_state_reduce<G, kLogits>(s, method);
    if (lane == 0 && r < rows.n) write_row<kLogits>(s, r, id, method, out, histogram);
  }
  block_histogram_flush(histogram, out);
}

// A block per row, for rows of thousands of classes.
template <DType D, bool kLogits>
__global__ void __launch_bounds__(kBlockThreads)
    score_rows_block_kernel(MatrixView x, RowsToScore rows, ScoreMethod method, RowOutputs out) {
  using T = Acc<D>;
  __shared__ RowState<T> partial[kBlockThreads / 32];
  __shared__ unsigned histogram[256];
  block_histogram_clear(histogram, out);
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int B = ElemTraits<D>::kBytes;
  for (std::int64_t r = blockIdx.x; r < rows.n; r += gridDim.x) {
    const std::int64_t id = row_id(rows, r);
    const char* rowp = static_cast<const char*>(x.data) + id * x.row_stride * B;
    RowState<T> s = row_state_empty<T>();
    accumulate_row<D, kLogits>(rowp, x, threadIdx.x, kBlockThreads, method, s);
    s = row_state_reduce<32, kLogits>(s, method);
    if (lane == 0) partial[warp] = s;
    __syncthreads();
    if (warp == 0) {
      s = lane < kBlockThreads / 32 ? partial[lane] : row_state_empty<T>();
      s = row_state_reduce<32, kLogits>(s, method);
      if (lane == 0) write_row<kLogits>(s, r, id, method, out, histogram);
    }
    __syncthreads();
  }
  block_histogram_flush(histogram, out);
}

// BALD: a warp per row. Each lane owns classes lane, lane + 32, ...; for each it reads the S
// samples (in the same loop: sum p log p of every sample, and the class mean), so the state per
// row is two sums and a flag, and the [S, N, C] tensor is read once.
template <DType D>
__global__ void __launch_bounds__(kBlockThreads)
    bald_kernel(SamplesView x, RowsToScore rows, RowOutputs out) {
  using T = Acc<D>;
  __shared__ unsigned histogram[256];
  block_histogram_clear(histogram, out);
  constexpr unsigned kAll = 0xffffffffu;
  const int lane = threadIdx.x % 32;
  const std::int64_t warp = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * blockDim.x / 32;
  const int B = ElemTraits<D>::kBytes;
  const T inv = T(1) / static_cast<T>(x.samples);
  const char* base = static_cast<const char*>(x.first.data);
  for (std::int64_t r = warp; r < rows.n; r += warps) {
    const std::int64_t id = row_id(rows, r);
    T mean_plogp = 0, sample_plogp = 0;
    int bad = 0;
    for (std::int64_t c = lane; c < x.first.cols; c += 32) {
      T sum = 0;
      for (std::int64_t sm = 0; sm < x.samples; ++sm) {
        const std::int64_t off =
            sm * x.sample_stride + id * x.first.row_stride + c * x.first.col_stride;
        const T p = load_scalar<D>(base + off * B);
        bad |= prob_invalid(p);
        sample_plogp += plogp(p);
        sum += p;
      }
      mean_plogp += plogp(sum * inv);
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) {
      mean_plogp += __shfl_xor_sync(kAll, mean_plogp, offset);
      sample_plogp += __shfl_xor_sync(kAll, sample_plogp, offset);
    }
    bad = __ballot_sync(kAll, bad) != 0;
    if (lane == 0) {
      const T mi = sample_plogp * inv - mean_plogp;  // H(mean) - mean H
      write_score(bad ? Real<T>::nan() : (mi > T(0) ? mi : T(0)), r, id, false, out, histogram);
    }
  }
  block_histogram_flush(histogram, out);
}

void launch_bald(const SamplesView& x, const RowsToScore& rows, const RowOutputs& out, int device,
                 cudaStream_t stream) {
  if (rows.n == 0) return;
  const std::int64_t max_blocks = static_cast<std::int64_t>(multiprocessor_count(device)) * 32;
  const unsigned blocks = static_cast<unsigned>(std::max<std::int64_t>(
      1, std::min(max_blocks, (rows.n + kBlockThreads / 32 - 1) / (kBlockThreads / 32))));
  switch (x.first.dtype) {
    case DType::kFloat32:
      bald_kernel<DType::kFloat32><<<blocks, kBlockThreads, 0, stream>>>(x, rows, out);
      break;
    case DType::kFloat16:
      bald_kernel<DType::kFloat16><<<blocks, kBlockThreads, 0, stream>>>(x, rows, out);
      break;
    case DType::kBFloat16:
      bald_kernel<DType::kBFloat16><<<blocks, kBlockThreads, 0, stream>>>(x, rows, out);
      break;
    case DType::kFloat64:
      bald_kernel<DType::kFloat64><<<blocks, kBlockThreads, 0, stream>>>(x, rows, out);
      break;
  }
  PANNING_CUDA_CHECK_LAUNCH();
}

template <DType D, bool kLogits>
void launch_rows_typed(const MatrixView& x, const RowsToScore& rows, ScoreMethod method,
                       const RowOutputs& out, int device, cudaStream_t stream) {
  const std::int64_t max_blocks = static_cast<std::int64_t>(multiprocessor_count(device)) * 32;
  auto blocks_for = [&](std::int64_t rows_per_block) {
    return static_cast<unsigned>(std::max<std::int64_t>(
        1, std::min(max_blocks, (rows.n + rows_per_block - 1) / rows_per_block)));
  };
  // Enough threads per row that each issues about four 16-byte loads: more loads in flight per
  // thread and fewer shuffle levels per row than a full warp on narrow rows.
  const std::int64_t vectors = (x.cols + ElemTraits<D>::kVec - 1) / ElemTraits<D>::kVec;
  const std::int64_t want = (vectors + 3) / 4;
  if (x.cols >= kBlockPerRowMinCols) {
    score_rows_block_kernel<D, kLogits>
        <<<blocks_for(1), kBlockThreads, 0, stream>>>(x, rows, method, out);
  } else if (want <= 4) {
    score_rows_group_kernel<D, kLogits, 4>
        <<<blocks_for(kBlockThreads / 4), kBlockThreads, 0, stream>>>(x, rows, method, out);
  } else if (want <= 8) {
    score_rows_group_kernel<D, kLogits, 8>
        <<<blocks_for(kBlockThreads / 8), kBlockThreads, 0, stream>>>(x, rows, method, out);
  } else if (want <= 16) {
    score_rows_group_kernel<D, kLogits, 16>
        <<<blocks_for(kBlockThreads / 16), kBlockThreads, 0, stream>>>(x, rows, method, out);
  } else {
    score_rows_group_kernel<D, kLogits, 32>
        <<<blocks_for(kBlockThreads / 32), kBlockThreads, 0, stream>>>(x, rows, method, out);
  }
  PANNING_CUDA_CHECK_LAUNCH();
}

template <bool kLogits>
void launch_rows_logits(const MatrixView& x, const RowsToScore& rows, ScoreMethod method,
                        const RowOutputs& out, int device, cudaStream_t stream) {
  switch (x.dtype) {
    case DType::kFloat32:
      return launch_rows_typed<DType::kFloat32, kLogits>(x, rows, method, out, device, stream);
    case DType::kFloat16:
      return launch_rows_typed<DType::kFloat16, kLogits>(x, rows, method, out, device, stream);
    case DType::kBFloat16:
      return launch_rows_typed<DType::kBFloat16, kLogits>(x, rows, method, out, device, stream);
    case DType::kFloat64:
      return launch_rows_typed<DType::kFloat64, kLogits>(x, rows, method, out, device, stream);
  }
  throw std::invalid_argument("unsupported dtype");
}

void launch_rows(const MatrixView& x, const RowsToScore& rows, ScoreMethod method, bool from_logits,
                 const RowOutputs& out, int device, cudaStream_t stream) {
  if (rows.n == 0) return;
  if (from_logits)
    launch_rows_logits<true>(x, rows, method, out, device, stream);
  else
    launch_rows_logits<false>(x, rows, method, out, device, stream);
}

// ---- radix select -------------------------------------------------------------------------------

constexpr int kRadixBits = 8;
constexpr int kRadixBins = 1 << kRadixBits;

struct SelectState {
  unsigned long long prefix;     // the high bits of the k-th largest key decided so far
  unsigned long long mask;       // which bits of prefix are decided
  unsigned long long remaining;  // rank of the k-th largest key among keys matching prefix
  unsigned long long gathered;   // keys gathered by the final pass
  unsigned long long first_bad;  // first invalid row (0x7f.. when none)
  unsigned done;                 // 1 once the keys matching prefix are exactly the ones needed
};

__global__ void select_init_kernel(SelectState* st, std::int64_t k) {
  st->prefix = 0;
  st->mask = 0;
  st->remaining = static_cast<unsigned long long>(k);
  st->gathered = 0;
  st->done = 0;
}

__global__ void __launch_bounds__(kBlockThreads)
    radix_histogram_kernel(const std::uint64_t* keys, std::int64_t n, const SelectState* st,
                           int shift, unsigned* hist) {
  if (st->done) return;  // uniform: every thread reads the same flag
  __shared__ unsigned local[kRadixBins];
  for (int b = threadIdx.x; b < kRadixBins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  const unsigned long long prefix = st->prefix;
  const unsigned long long mask = st->mask;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const unsigned long long key = keys[i];
    if ((key & mask) == prefix) atomicAdd(&local[(key >> shift) & (kRadixBins - 1)], 1u);
  }
  __syncthreads();
  for (int b = threadIdx.x; b < kRadixBins; b += blockDim.x)
    if (local[b]) atomicAdd(&hist[b], local[b]);
}

// One block of kRadixBins threads: picks the digit of the k-th largest key and clears the
// histogram for the next pass.
__global__ void __launch_bounds__(kRadixBins)
    radix_choose_kernel(SelectState* st, unsigned* hist, int shift) {
  if (st->done) return;
  __shared__ unsigned long long above[kRadixBins];
  const int b = threadIdx.x;
  const unsigned count = hist[b];
  // above[b] = keys in bins [b, 255]: an inclusive suffix sum by a Hillis-Steele scan
  above[b] = count;
  __syncthreads();
  for (int off = 1; off < kRadixBins; off *= 2) {
    const unsigned long long add = b + off < kRadixBins ? above[b + off] : 0;
    __syncthreads();
    above[b] += add;
    __syncthreads();
  }
  const unsigned long long at_or_above = above[b];
  const unsigned long long strictly_above = at_or_above - count;
  const unsigned long long remaining = st->remaining;
  __syncthreads();
  if (count > 0 && strictly_above < remaining && at_or_above >= remaining) {
    st->prefix |= static_cast<unsigned long long>(b) << shift;
    st->mask |= static_cast<unsigned long long>(kRadixBins - 1) << shift;
    st->remaining = remaining - strictly_above;
    // every key in this bin is needed: the rest of the passes would only re-count them
    if (count == remaining - strictly_above) st->done = 1;
  }
  hist[b] = 0;
}

__global__ void gather_selected_kernel(const std::uint64_t* keys, std::int64_t n, std::int64_t k,
                                       SelectState* st, std::uint64_t* out) {
  // keys whose decided high bits are >= prefix: exactly the k largest (all 64 bits are decided
  // unless the passes stopped early, when every key matching prefix is wanted anyway)
  const unsigned long long threshold = st->prefix;
  const unsigned long long mask = st->mask;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const unsigned long long key = keys[i];
    if ((key & mask) >= threshold) {
      const unsigned long long pos = atomicAdd(&st->gathered, 1ull);
      if (pos < static_cast<unsigned long long>(k)) out[pos] = key;
    }
  }
}

__global__ void keys_to_rows_kernel(const std::uint64_t* sorted, std::int64_t k,
                                    std::int64_t* rows) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < k) rows[i] = selection_key_row(sorted[i]);
}

// Workspace layout, each piece 256-byte aligned.
struct Workspace {
  std::uint64_t* keys = nullptr;      // [rows]
  std::uint64_t* selected = nullptr;  // [k]
  std::uint64_t* sorted = nullptr;    // [k]
  unsigned* hist = nullptr;           // [kRadixBins]
  SelectState* state = nullptr;       // [1]
  void* sort_temp = nullptr;
  std::size_t sort_temp_bytes = 0;
  std::size_t total = 0;
};

Workspace plan_workspace(std::int64_t rows, std::int64_t k, void* base) {
  Workspace w;
  std::size_t sort_bytes = 0;
  PANNING_CUDA_CHECK(cub::DeviceRadixSort::SortKeysDescending(
      nullptr, sort_bytes, static_cast<const std::uint64_t*>(nullptr),
      static_cast<std::uint64_t*>(nullptr), static_cast<int>(std::max<std::int64_t>(k, 1)), 0, 64));
  WorkspaceCarver carve(base);
  w.keys = carve.take<std::uint64_t>(static_cast<std::size_t>(rows));
  w.selected = carve.take<std::uint64_t>(static_cast<std::size_t>(k));
  w.sorted = carve.take<std::uint64_t>(static_cast<std::size_t>(k));
  w.hist = carve.take<unsigned>(kRadixBins);
  w.state = carve.take<SelectState>(1);
  w.sort_temp_bytes = sort_bytes;
  w.sort_temp = carve.take<char>(sort_bytes);
  w.total = carve.used();
  return w;
}

}  // namespace

void score_rows(const MatrixView& x, ScoreMethod method, bool from_logits, void* out, int device,
                void* stream) {
  score_rows_at(x, nullptr, x.rows, method, from_logits, out, device, stream);
}

void score_rows_at(const MatrixView& x, const std::int64_t* ids, std::int64_t n, ScoreMethod method,
                   bool from_logits, void* out, int device, void* stream) {
  if (n == 0) return;
  DeviceGuard guard(device);
  RowOutputs outputs;
  outputs.scores = out;
  launch_rows(x, RowsToScore{ids, n}, method, from_logits, outputs, device,
              static_cast<cudaStream_t>(stream));
}

std::size_t most_uncertain_workspace_bytes(std::int64_t n, std::int64_t k) {
  return plan_workspace(n, k, nullptr).total;
}

namespace {

// The fused top-k around a row launcher: `score_keys(outputs)` writes the selection keys of the
// n ranked positions (and the first radix-select pass); `score_rows(ids, k, outputs)` rescores
// the k winners for out_scores. Throws invalid_row_error(first invalid row, invalid_why) when a
// ranked row is invalid.
template <class ScoreKeys, class ScoreRows>
void fused_top_k(std::int64_t n, std::int64_t total_rows, std::int64_t k, std::int64_t* out_rows,
                 void* out_scores, void* workspace, std::size_t workspace_bytes, int device,
                 cudaStream_t stream, const char* invalid_why, ScoreKeys&& score_keys,
                 ScoreRows&& score_rows) {
  if (k < 0 || k > n) throw std::invalid_argument("k must lie in [0, candidate rows]");
  if (total_rows > static_cast<std::int64_t>(0xffffffffLL))
    throw std::invalid_argument("top-k on the GPU supports at most 2^32 - 1 rows");
  if (k == 0) return;
  DeviceGuard guard(device);
  const Workspace w = plan_workspace(n, k, workspace);
  if (workspace_bytes < w.total) throw std::invalid_argument("workspace too small");

  PANNING_CUDA_CHECK(cudaMemsetAsync(w.hist, 0, sizeof(unsigned) * kRadixBins, stream));
  PANNING_CUDA_CHECK(
      cudaMemsetAsync(&w.state->first_bad, 0x7f, sizeof(unsigned long long), stream));
  select_init_kernel<<<1, 1, 0, stream>>>(w.state, k);
  PANNING_CUDA_CHECK_LAUNCH();
  RowOutputs outputs;
  outputs.keys = w.keys;
  outputs.first_bad = &w.state->first_bad;
  outputs.top_byte_histogram = w.hist;
  score_keys(outputs);

  const unsigned blocks = static_cast<unsigned>(std::max<std::int64_t>(
      1, std::min<std::int64_t>(static_cast<std::int64_t>(multiprocessor_count(device)) * 4,
                                (n + kBlockThreads - 1) / kBlockThreads)));
  // The scoring pass already counted the top byte; each later pass refines one byte, and stops
  // early (on the device, without a host round trip) once the k-th key's bucket is exact.
  for (int shift = kTopByteShift; shift >= 0; shift -= kRadixBits) {
    if (shift != kTopByteShift) {
      radix_histogram_kernel<<<blocks, kBlockThreads, 0, stream>>>(w.keys, n, w.state, shift,
                                                                   w.hist);
      PANNING_CUDA_CHECK_LAUNCH();
    }
    radix_choose_kernel<<<1, kRadixBins, 0, stream>>>(w.state, w.hist, shift);
    PANNING_CUDA_CHECK_LAUNCH();
  }
  gather_selected_kernel<<<blocks, kBlockThreads, 0, stream>>>(w.keys, n, k, w.state, w.selected);
  PANNING_CUDA_CHECK_LAUNCH();
  std::size_t temp_bytes = w.sort_temp_bytes;
  PANNING_CUDA_CHECK(cub::DeviceRadixSort::SortKeysDescending(
      w.sort_temp, temp_bytes, w.selected, w.sorted, static_cast<int>(k), 0, 64, stream));
  keys_to_rows_kernel<<<static_cast<unsigned>((k + kBlockThreads - 1) / kBlockThreads),
                        kBlockThreads, 0, stream>>>(w.sorted, k, out_rows);
  PANNING_CUDA_CHECK_LAUNCH();
  // the winners' scores at full precision, by the same row kernels (k rows: negligible)
  if (out_scores) {
    RowOutputs score_out;
    score_out.scores = out_scores;
    score_rows(RowsToScore{out_rows, k}, score_out);
  }

  unsigned long long first_bad = 0;
  PANNING_CUDA_CHECK(cudaMemcpyAsync(&first_bad, &w.state->first_bad, sizeof first_bad,
                                     cudaMemcpyDeviceToHost, stream));
  PANNING_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (first_bad < static_cast<unsigned long long>(total_rows))
    throw invalid_row_error(static_cast<std::int64_t>(first_bad), invalid_why);
}

}  // namespace

void most_uncertain(const MatrixView& x, ScoreMethod method, bool from_logits, std::int64_t k,
                    std::int64_t* out_rows, void* out_scores, const std::int64_t* candidates,
                    std::int64_t num_candidates, void* workspace, std::size_t workspace_bytes,
                    int device, void* stream_ptr) {
  const RowsToScore rows{candidates, candidates ? num_candidates : x.rows};
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  fused_top_k(
      rows.n, x.rows, k, out_rows, out_scores, workspace, workspace_bytes, device, stream,
      invalid_row_reason(from_logits),
      [&](const RowOutputs& o) { launch_rows(x, rows, method, from_logits, o, device, stream); },
      [&](const RowsToScore& r, const RowOutputs& o) {
        launch_rows(x, r, method, from_logits, o, device, stream);
      });
}

void bald_scores(const SamplesView& x, void* out, int device, void* stream) {
  if (x.first.rows == 0) return;
  if (x.samples < 1) throw std::invalid_argument("BALD needs at least one sample");
  DeviceGuard guard(device);
  RowOutputs outputs;
  outputs.scores = out;
  launch_bald(x, RowsToScore{nullptr, x.first.rows}, outputs, device,
              static_cast<cudaStream_t>(stream));
}

void bald_top_k(const SamplesView& x, std::int64_t k, std::int64_t* out_rows, void* out_scores,
                const std::int64_t* candidates, std::int64_t num_candidates, void* workspace,
                std::size_t workspace_bytes, int device, void* stream_ptr) {
  if (x.samples < 1) throw std::invalid_argument("BALD needs at least one sample");
  const RowsToScore rows{candidates, candidates ? num_candidates : x.first.rows};
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  fused_top_k(
      rows.n, x.first.rows, k, out_rows, out_scores, workspace, workspace_bytes, device, stream,
      kInvalidSampleReason, [&](const RowOutputs& o) { launch_bald(x, rows, o, device, stream); },
      [&](const RowsToScore& r, const RowOutputs& o) { launch_bald(x, r, o, device, stream); });
}

}  // namespace panning::cuda
