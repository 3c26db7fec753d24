// Exact kNN on the GPU: a distance tile on tensor or CUDA cores, then one warp per row merging the
// tile into that row's running top-k list, and a refine pass that recomputes the winners'
// distances directly. The list and distance logic (knn_insert, knn_row_stat,
// knn_distance_from_dot) is shared with the CPU's exact search (csrc/cpu/knn.cpp) through
// panning/knn_math.hpp; the (distance, id) order and kNone through panning/hnsw_build.hpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <algorithm>
#include <stdexcept>

#include "cuda_check.cuh"
#include "knn.cuh"
#include "panning/hnsw_build.hpp"
#include "warp.cuh"

namespace panning::cuda {
namespace {

using graph::kNone;
constexpr int kTile = 64;                     // distance tile: 64 x 64 outputs per block
constexpr int kTileK = 16;                    // ... over 16 columns of the inputs at a time
constexpr std::int64_t kMaxTileRows = 8192;   // query rows per distance tile
constexpr std::int64_t kMaxTileCols = 16384;  // base rows per distance tile
constexpr int kMaxK = 256;

__device__ __forceinline__ float load_elem(const MatrixView& v, std::int64_t r, std::int64_t c) {
  const std::int64_t off = r * v.row_stride + c * v.col_stride;
  if (v.dtype == DType::kFloat32) return static_cast<const float*>(v.data)[off];
  if (v.dtype == DType::kFloat16) return __half2float(static_cast<const __half*>(v.data)[off]);
  return __bfloat162float(static_cast<const __nv_bfloat16*>(v.data)[off]);
}

// One warp per row: stat = knn_row_stat(metric, |row|^2).
__global__ void row_stats_kernel(MatrixView v, int metric, float* out) {
  const std::int64_t row = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= v.rows) return;  // the whole warp leaves together
  float s = 0.0f;
  for (std::int64_t c = lane; c < v.cols; c += 32) {
    const float e = load_elem(v, row, c);
    s += e * e;
  }
  s = warp_sum(s);
  if (lane == 0) out[row] = knn_row_stat(metric, s);
}

struct TileArgs {
  MatrixView q, x;
  std::int64_t q0, rows, x0, cols;  // the tile: q rows [q0, q0 + rows) x x rows [x0, x0 + cols)
  const float* q_stat;              // indexed by q row
  const float* x_stat;              // indexed by x row
  int metric;
  float* out;  // [rows, cols]
};

__device__ __forceinline__ void store_distance(const TileArgs& a, std::int64_t r, std::int64_t c,
                                               float dot) {
  if (r < a.rows && c < a.cols)
    a.out[r * a.cols + c] =
        knn_distance_from_dot(a.metric, a.q_stat[a.q0 + r], a.x_stat[a.x0 + c], dot);
}

// CUDA cores: 256 threads, each a 4 x 4 register tile (rows ty + 16 i, columns tx + 16 j).
__global__ void __launch_bounds__(256) distance_tile_simt(TileArgs a) {
  __shared__ float as[kTileK][kTile + 1];
  __shared__ float bs[kTileK][kTile + 1];
  const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.y) * kTile;
  const std::int64_t c0 = static_cast<std::int64_t>(blockIdx.x) * kTile;
  const std::int64_t dim = a.q.cols;
  float acc[4][4] = {};
  for (std::int64_t k0 = 0; k0 < dim; k0 += kTileK) {
    for (int e = tid; e < kTile * kTileK; e += 256) {
      const int r = e / kTileK, c = e % kTileK;
      const bool in_k = k0 + c < dim;
      as[c][r] = in_k && r0 + r < a.rows ? load_elem(a.q, a.q0 + r0 + r, k0 + c) : 0.0f;
      bs[c][r] = in_k && c0 + r < a.cols ? load_elem(a.x, a.x0 + c0 + r, k0 + c) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        av[i] = as[kk][ty + 16 * i];
        bv[i] = bs[kk][tx + 16 * i];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) store_distance(a, r0 + ty + 16 * i, c0 + tx + 16 * j, acc[i][j]);
}

// Tensor cores (sm_80+): 4 warps, each 32 x 32 outputs as 2 x 2 WMMA 16x16x16 fragments,
// float32 accumulation. T is __half or __nv_bfloat16, the inputs' own type.
template <class T>
__global__ void __launch_bounds__(128) distance_tile_wmma(TileArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  constexpr int kLd = kTileK + 8;  // 16-bit elements; a multiple of 8 as WMMA requires
  __shared__ __align__(32) T as[kTile * kLd];
  __shared__ __align__(32) T bs[kTile * kLd];
  __shared__ __align__(32) float cs[kTile][kTile + 4];
  const int tid = threadIdx.x, warp = tid / 32;
  const int wr = (warp / 2) * 32, wc = (warp % 2) * 32;
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.y) * kTile;
  const std::int64_t c0 = static_cast<std::int64_t>(blockIdx.x) * kTile;
  const std::int64_t dim = a.q.cols;
  const T* qd = static_cast<const T*>(a.q.data);
  const T* xd = static_cast<const T*>(a.x.data);
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  const T zero = T(0.0f);
  for (std::int64_t k0 = 0; k0 < dim; k0 += kTileK) {
    for (int e = tid; e < kTile * kTileK; e += 128) {
      const int r = e / kTileK, c = e % kTileK;
      const bool in_k = k0 + c < dim;
      as[r * kLd + c] = in_k && r0 + r < a.rows
                            ? qd[(a.q0 + r0 + r) * a.q.row_stride + (k0 + c) * a.q.col_stride]
                            : zero;
      bs[r * kLd + c] = in_k && c0 + r < a.cols
                            ? xd[(a.x0 + c0 + r) * a.x.row_stride + (k0 + c) * a.x.col_stride]
                            : zero;
    }
    __syncthreads();
    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[2];
    wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      wmma::load_matrix_sync(fa[i], as + (wr + 16 * i) * kLd, kLd);
      wmma::load_matrix_sync(fb[i], bs + (wc + 16 * i) * kLd, kLd);
    }
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(&cs[wr + 16 * i][wc + 16 * j], acc[i][j], kTile + 4,
                              wmma::mem_row_major);
  __syncthreads();
  for (int e = tid; e < kTile * kTile; e += 128) {
    const int r = e / kTile, c = e % kTile;
    store_distance(a, r0 + r, c0 + c, cs[r][c]);
  }
#else
  (void)a;
#endif
}

// One warp per query row of the tile: merges the row's distances into its top-k list (shared
// memory while it runs). Candidates beating the current k-th are inserted by lane 0 with
// knn_insert, so ties resolve exactly as on the CPU.
__global__ void __launch_bounds__(128)
    select_kernel(const float* tile, std::int64_t rows, std::int64_t cols, std::int64_t q_row0,
                  std::int64_t self0, std::int64_t x_id0, int k, std::uint32_t* ids, float* dist) {
  __shared__ float sd[4][kMaxK];
  __shared__ std::uint32_t si[4][kMaxK];
  const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * 4 + w;
  if (r >= rows) return;
  float* d = sd[w];
  std::uint32_t* id = si[w];
  std::uint32_t* row_ids = ids + (q_row0 + r) * k;
  float* row_dist = dist + (q_row0 + r) * k;
  for (int j = lane; j < k; j += 32) {
    d[j] = row_dist[j];
    id[j] = row_ids[j];
  }
  __syncwarp();
  const std::int64_t self = self0 >= 0 ? self0 + r : -1;
  const float* trow = tile + r * cols;
  for (std::int64_t j0 = 0; j0 < cols; j0 += 32) {
    const std::int64_t j = j0 + lane;
    const auto gid = static_cast<std::uint32_t>(x_id0 + j);
    const float dj = j < cols ? trow[j] : 0.0f;
    const bool take = j < cols && x_id0 + j != self && graph::closer(dj, gid, d[k - 1], id[k - 1]);
    for (unsigned mask = __ballot_sync(kFull, take); mask; mask &= mask - 1) {
      const int src = __ffs(mask) - 1;
      const float dd = __shfl_sync(kFull, dj, src);
      const std::uint32_t gg = __shfl_sync(kFull, gid, src);
      if (lane == 0) knn_insert(d, id, std::int64_t{k}, std::int64_t{k}, dd, gg);
      __syncwarp();
    }
  }
  for (int j = lane; j < k; j += 32) {
    row_dist[j] = d[j];
    row_ids[j] = id[j];
  }
}

__global__ void reset_kernel(std::int64_t count, std::uint32_t* ids, float* dist) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  ids[i] = kNone;
  dist[i] = std::numeric_limits<float>::infinity();
}

// One warp per row: recomputes the distances of the row's k neighbours directly (|a - b|^2, or
// 1 - <a, b> on unit rows for cosine) and re-sorts the row, as the CPU's exact search does: the
// expanded form ranks candidates but loses ~eps * (|a|^2 + |b|^2) of precision. Every slot of
// the row is written (kNone / +inf after the neighbours), so `dist` may start uninitialised:
// merge_unique reads the padding's distances.
__global__ void __launch_bounds__(128)
    refine_kernel(MatrixView q, MatrixView x, int metric, int k, std::uint32_t* ids, float* dist) {
  __shared__ float sd[4][kMaxK];
  __shared__ std::uint32_t si[4][kMaxK];
  const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * 4 + w;
  if (r >= q.rows) return;
  std::uint32_t* row_ids = ids + r * k;
  float* row_dist = dist + r * k;
  std::int64_t count = 0;
  for (int j = 0; j < k; ++j) {
    const std::uint32_t v = row_ids[j];
    if (v == kNone) break;
    float s = 0.0f, na = 0.0f, nb = 0.0f;
    for (std::int64_t c = lane; c < q.cols; c += 32) {
      const float a = load_elem(q, r, c), b = load_elem(x, v, c);
      if (metric == 0) {
        const float t = a - b;
        s = fmaf(t, t, s);
      } else {
        s = fmaf(a, b, s);
        na = fmaf(a, a, na);
        nb = fmaf(b, b, nb);
      }
    }
    s = warp_sum(s);
    na = warp_sum(na);
    nb = warp_sum(nb);
    float d = s;
    if (metric == 1) d = 1.0f - s;
    if (metric == 2) d = 1.0f - s * knn_row_stat(2, na) * knn_row_stat(2, nb);
    if (lane == 0) count = knn_insert(sd[w], si[w], count, std::int64_t{k}, d, v);
    __syncwarp();
  }
  count = __shfl_sync(kFull, count, 0);
  for (std::int64_t j = lane; j < k; j += 32) {
    row_dist[j] = j < count ? sd[w][j] : std::numeric_limits<float>::infinity();
    row_ids[j] = j < count ? si[w][j] : kNone;
  }
}

int compute_capability(int device) {
  int major = 0;
  PANNING_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  return major;
}

struct KnnWorkspace {
  float* q_stat = nullptr;
  float* x_stat = nullptr;
  float* tile = nullptr;
  std::size_t total = 0;
};

KnnWorkspace plan_knn(std::int64_t nq, std::int64_t nx, void* base) {
  WorkspaceCarver carve(base);
  KnnWorkspace w;
  w.q_stat = carve.take<float>(static_cast<std::size_t>(std::max<std::int64_t>(1, nq)));
  w.x_stat = carve.take<float>(static_cast<std::size_t>(std::max<std::int64_t>(1, nx)));
  w.tile = carve.take<float>(
      static_cast<std::size_t>(std::min(nq, kMaxTileRows) * std::min(nx, kMaxTileCols)));
  w.total = carve.used();
  return w;
}

}  // namespace

std::size_t knn_workspace_bytes(std::int64_t nq, std::int64_t nx) {
  return plan_knn(nq, nx, nullptr).total;
}

void knn_reset(std::int64_t rows, int k, std::uint32_t* ids, float* dist, int device,
               void* stream) {
  DeviceGuard guard(device);
  const std::int64_t count = rows * k;
  if (count == 0) return;
  reset_kernel<<<blocks_for(count, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(count, ids,
                                                                                      dist);
  PANNING_CUDA_CHECK_LAUNCH();
}

void knn_merge(const MatrixView& q, std::int64_t q_base, const MatrixView& x, std::int64_t x_base,
               int metric, int k, std::uint32_t* ids, float* dist, void* workspace,
               std::size_t workspace_bytes, int device, void* stream) {
  if (k <= 0 || k > kMaxK) throw std::invalid_argument("knn: k must be in [1, 256] on the GPU");
  if (q.cols != x.cols) throw std::invalid_argument("knn: q and x have different widths");
  if (q.rows == 0 || x.rows == 0) return;
  const KnnWorkspace w = plan_knn(q.rows, x.rows, workspace);
  if (workspace_bytes < w.total) throw std::invalid_argument("knn: workspace too small");
  DeviceGuard guard(device);
  auto s = static_cast<cudaStream_t>(stream);
  row_stats_kernel<<<blocks_for(q.rows * 32, 256), 256, 0, s>>>(q, metric, w.q_stat);
  PANNING_CUDA_CHECK_LAUNCH();
  row_stats_kernel<<<blocks_for(x.rows * 32, 256), 256, 0, s>>>(x, metric, w.x_stat);
  PANNING_CUDA_CHECK_LAUNCH();
  const bool tensor =
      q.dtype == x.dtype && q.dtype != DType::kFloat32 && compute_capability(device) >= 8;
  for (std::int64_t q0 = 0; q0 < q.rows; q0 += kMaxTileRows) {
    const std::int64_t rows = std::min(kMaxTileRows, q.rows - q0);
    for (std::int64_t x0 = 0; x0 < x.rows; x0 += kMaxTileCols) {
      const std::int64_t cols = std::min(kMaxTileCols, x.rows - x0);
      const TileArgs args{q, x, q0, rows, x0, cols, w.q_stat, w.x_stat, metric, w.tile};
      const dim3 grid(blocks_for(cols, kTile), blocks_for(rows, kTile));
      if (tensor && q.dtype == DType::kFloat16)
        distance_tile_wmma<__half><<<grid, 128, 0, s>>>(args);
      else if (tensor)
        distance_tile_wmma<__nv_bfloat16><<<grid, 128, 0, s>>>(args);
      else
        distance_tile_simt<<<grid, 256, 0, s>>>(args);
      PANNING_CUDA_CHECK_LAUNCH();
      select_kernel<<<blocks_for(rows, 4), 128, 0, s>>>(
          w.tile, rows, cols, q0, q_base >= 0 ? q_base + q0 : -1, x_base + x0, k, ids, dist);
      PANNING_CUDA_CHECK_LAUNCH();
    }
  }
}

void knn_refine(const MatrixView& q, const MatrixView& x, int metric, int k, std::uint32_t* ids,
                float* dist, int device, void* stream) {
  if (k <= 0 || k > kMaxK) throw std::invalid_argument("knn: k must be in [1, 256] on the GPU");
  if (q.rows == 0) return;
  DeviceGuard guard(device);
  refine_kernel<<<blocks_for(q.rows, 4), 128, 0, static_cast<cudaStream_t>(stream)>>>(q, x, metric,
                                                                                      k, ids, dist);
  PANNING_CUDA_CHECK_LAUNCH();
}

}  // namespace panning::cuda
