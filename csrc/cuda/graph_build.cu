// CUDA graph kernels: exact kNN (a distance tile on tensor or CUDA cores, then one warp per row
// merging the tile into that row's running top-k), the HNSW level build steps (one warp per node
// running panning/graph_build.hpp's select_diverse with a warp-wide distance) and a batched beam
// search (one warp per query). The list logic is graph_build.hpp's, shared with the CPU twins in
// csrc/cpu/hnsw/graph_build.cpp; these kernels only decide who computes which distance.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <algorithm>
#include <cub/device/device_scan.cuh>
#include <limits>
#include <stdexcept>
#include <string>

#include "cuda_check.cuh"
#include "graph_build.cuh"
#include "panning/graph_build.hpp"

namespace panning::cuda {
namespace {

using graph::kNone;
constexpr unsigned kFull = 0xffffffffu;
constexpr int kTile = 64;                     // distance tile: 64 x 64 outputs per block
constexpr int kTileK = 16;                    // ... over 16 columns of the inputs at a time
constexpr std::int64_t kMaxTileRows = 8192;   // query rows per distance tile
constexpr std::int64_t kMaxTileCols = 16384;  // base rows per distance tile
constexpr int kMaxK = 256;
constexpr int kMaxList = 512;
constexpr int kHashSlots = 2048;  // per-query visited set of the beam search (forgetful)

__device__ __forceinline__ float load_elem(const MatrixView& v, std::int64_t r, std::int64_t c) {
  const std::int64_t off = r * v.row_stride + c * v.col_stride;
  if (v.dtype == DType::kFloat32) return static_cast<const float*>(v.data)[off];
  if (v.dtype == DType::kFloat16) return __half2float(static_cast<const __half*>(v.data)[off]);
  return __bfloat162float(static_cast<const __nv_bfloat16*>(v.data)[off]);
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

unsigned blocks_for(std::int64_t work, int per_block) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, (work + per_block - 1) / per_block));
}

// ---- exact kNN
// -----------------------------------------------------------------------------------

// One warp per row: stat = graph::row_stat(metric, |row|^2).
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
  if (lane == 0) out[row] = graph::row_stat(metric, s);
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
        graph::distance_from_dot(a.metric, a.q_stat[a.q0 + r], a.x_stat[a.x0 + c], dot);
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
    if (metric == 2) d = 1.0f - s * graph::row_stat(2, na) * graph::row_stat(2, nb);
    if (lane == 0) count = knn_insert(sd[w], si[w], count, std::int64_t{k}, d, v);
    __syncwarp();
  }
  count = __shfl_sync(kFull, count, 0);
  for (std::int64_t j = lane; j < k; j += 32) {
    row_dist[j] = j < count ? sd[w][j] : std::numeric_limits<float>::infinity();
    row_ids[j] = j < count ? si[w][j] : kNone;
  }
}

// ---- level build
// ---------------------------------------------------------------------------------

// The distance between two rows of x, computed by the whole warp; every lane gets the result, so
// graph::select_diverse runs in lockstep on all lanes.
struct WarpPairDistance {
  const float* x;
  std::int64_t dim;
  int metric;
  int lane;
  __device__ float operator()(std::uint32_t a, std::uint32_t b) const {
    const float* pa = x + static_cast<std::int64_t>(a) * dim;
    const float* pb = x + static_cast<std::int64_t>(b) * dim;
    float s = 0.0f;
    if (metric == 0) {
      for (std::int64_t c = lane; c < dim; c += 32) {
        const float t = pa[c] - pb[c];
        s = fmaf(t, t, s);
      }
      return warp_sum(s);
    }
    for (std::int64_t c = lane; c < dim; c += 32) s = fmaf(pa[c], pb[c], s);
    return 1.0f - warp_sum(s);
  }
};

// One warp per node; with extra candidates, lane 0 first merges them into the row (dynamic
// shared memory, K + E entries per warp).
__global__ void prune_kernel(const float* x, std::int64_t n, std::int64_t dim, int metric,
                             const std::uint32_t* cand, const float* cand_dist, int K,
                             const std::uint32_t* extra, const float* extra_dist, int E, int m,
                             std::uint32_t* out, float* out_dist) {
  extern __shared__ unsigned char smem[];
  const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x / 32) + w;
  if (i >= n) return;
  const WarpPairDistance pair{x, dim, metric, lane};
  const std::uint32_t* ci = cand + i * K;
  const float* cd = cand_dist + i * K;
  int count = K;
  if (E > 0) {
    float* md = reinterpret_cast<float*>(smem) + static_cast<std::size_t>(w) * (K + E) * 2;
    auto* mi = reinterpret_cast<std::uint32_t*>(md + (K + E));
    if (lane == 0)
      count = graph::merge_unique(cd, ci, K, extra_dist + i * E, extra + i * E, E, md, mi);
    count = __shfl_sync(kFull, count, 0);
    __syncwarp();
    ci = mi;
    cd = md;
  }
  // Every lane writes the same entries (benign); each reads back its own writes.
  graph::select_row(ci, cd, count, m, pair, out + i * m, out_dist + i * m);
}

// The first entry of ids [count] that is neither kNone nor a row number below n (atomicMin of
// its index into *first, which starts at ~0): the GPU side of the CPU twins' check_ids.
__global__ void find_bad_id_kernel(const std::uint32_t* ids, std::int64_t count, std::int64_t n,
                                   unsigned long long* first) {
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e < count && ids[e] != kNone && ids[e] >= n)
    atomicMin(first, static_cast<unsigned long long>(e));
}

__global__ void count_offers_kernel(const std::uint32_t* fwd, std::int64_t edges,
                                    unsigned long long* degree) {
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e < edges && fwd[e] != kNone) atomicAdd(&degree[fwd[e]], 1ull);
}

__global__ void fill_offers_kernel(const std::uint32_t* fwd, const float* fwd_dist,
                                   std::int64_t edges, int m_in, const unsigned long long* start,
                                   unsigned long long* cursor, std::uint32_t* offer_id,
                                   float* offer_dist) {
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= edges || fwd[e] == kNone) return;
  const std::uint32_t v = fwd[e];
  const unsigned long long at = start[v] + atomicAdd(&cursor[v], 1ull);
  offer_id[at] = static_cast<std::uint32_t>(e / m_in);
  offer_dist[at] = fwd_dist[e];
}

// One warp per node; dynamic shared memory holds, per warp, the reverse list (reverse_cap) and
// the merged list (m_in + reverse_cap). The offers of a node arrive in any order; knn_insert
// keeps the reverse_cap nearest by (distance, id), so the result does not depend on it.
__global__ void merge_kernel(const float* x, std::int64_t n, std::int64_t dim, int metric,
                             const std::uint32_t* fwd, const float* fwd_dist, int m_in,
                             int reverse_cap, int m_out, const unsigned long long* start,
                             const unsigned long long* degree, const std::uint32_t* offer_id,
                             const float* offer_dist, std::uint32_t* out, float* out_dist) {
  extern __shared__ unsigned char smem[];
  const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t v = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x / 32) + w;
  const int list = m_in + reverse_cap;
  const int cap = reverse_cap > 0 ? reverse_cap : 1;
  float* rd = reinterpret_cast<float*>(smem) + static_cast<std::size_t>(w) * (cap + list) * 2;
  std::uint32_t* ri = reinterpret_cast<std::uint32_t*>(rd + cap);
  float* md = reinterpret_cast<float*>(ri + cap);
  std::uint32_t* mi = reinterpret_cast<std::uint32_t*>(md + list);
  if (v >= n) return;
  int nm = 0;
  if (lane == 0) {
    std::int64_t nr = 0;
    if (reverse_cap > 0)
      for (unsigned long long e = start[v]; e < start[v] + degree[v]; ++e)
        nr = knn_insert(rd, ri, nr, std::int64_t{reverse_cap}, offer_dist[e], offer_id[e]);
    nm = graph::merge_unique(fwd_dist + v * m_in, fwd + v * m_in, m_in, rd, ri,
                             static_cast<int>(nr), md, mi);
  }
  nm = __shfl_sync(kFull, nm, 0);
  __syncwarp();
  const WarpPairDistance pair{x, dim, metric, lane};
  graph::select_row(mi, md, nm, m_out, pair, out + v * m_out, out_dist + v * m_out);
}

// ---- beam search
// ---------------------------------------------------------------------------------

struct SearchArgs {
  const float* x;
  std::int64_t n, dim;
  int metric, M;
  const std::uint32_t* level0;
  const std::uint32_t* upper;
  const std::int64_t* upper_offset;
  std::int64_t entry;
  int max_level;
  const float* q;
  std::int64_t nq;
  int k, ef;
  std::uint32_t* out_ids;
  float* out_dist;
};

// Distance from the query (shared memory) to row v of x, computed by the whole warp (lanes
// split the columns); every lane gets the result.
__device__ __forceinline__ float warp_query_distance(const SearchArgs& a, const float* qv,
                                                     std::uint32_t v, int lane) {
  const float* p = a.x + static_cast<std::int64_t>(v) * a.dim;
  float s = 0.0f;
  if (a.metric == 0) {
    for (std::int64_t c = lane; c < a.dim; c += 32) {
      const float t = qv[c] - p[c];
      s = fmaf(t, t, s);
    }
    return warp_sum(s);
  }
  for (std::int64_t c = lane; c < a.dim; c += 32) s = fmaf(qv[c], p[c], s);
  return 1.0f - warp_sum(s);
}

// Marks v visited; true when it was already. Linear probing in a table that is cleared when half
// full (graph::beam_insert makes a forgotten mark cost time, never change results).
__device__ __forceinline__ bool visit(std::uint32_t* table, std::uint32_t v) {
  unsigned slot = (v * 2654435761u) >> (32 - 11);  // the product's high bits
  static_assert(kHashSlots == 1 << 11, "the shift above assumes 2048 slots");
  for (;;) {
    const std::uint32_t prev = atomicCAS(&table[slot], kNone, v);
    if (prev == kNone) return false;
    if (prev == v) return true;
    slot = (slot + 1) & (kHashSlots - 1);
  }
}

constexpr int kSearchWarps = 2;

// Shared memory of one query's warp: the beam (ef distances, ids and flags, rounded to 16 bytes),
// then the visited table, then the query.
__host__ __device__ std::size_t beam_bytes(int ef) {
  return (static_cast<std::size_t>(ef) * 9 + 16 + 15) / 16 * 16;
}

std::size_t search_smem_per_warp(int ef, std::int64_t dim) {
  return beam_bytes(ef) + kHashSlots * 4 + static_cast<std::size_t>(dim) * 4;
}

__global__ void beam_search_kernel(SearchArgs a, std::size_t per_warp) {
  extern __shared__ unsigned char smem[];
  const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t qi = static_cast<std::int64_t>(blockIdx.x) * kSearchWarps + w;
  if (qi >= a.nq) return;
  unsigned char* base = smem + static_cast<std::size_t>(w) * per_warp;
  float* bd = reinterpret_cast<float*>(base);
  std::uint32_t* bi = reinterpret_cast<std::uint32_t*>(bd + a.ef);
  std::uint8_t* bf = reinterpret_cast<std::uint8_t*>(bi + a.ef);
  std::uint32_t* table = reinterpret_cast<std::uint32_t*>(base + beam_bytes(a.ef));
  float* qv = reinterpret_cast<float*>(table + kHashSlots);
  for (std::int64_t c = lane; c < a.dim; c += 32) qv[c] = a.q[qi * a.dim + c];
  for (int s = lane; s < kHashSlots; s += 32) table[s] = kNone;
  __syncwarp();
  std::uint32_t* oi = a.out_ids + qi * a.k;
  float* od = a.out_dist + qi * a.k;
  // Upper levels: greedy descent, scanning each link list in order and moving to any link nearer
  // than the current node, exactly as the CPU twin does.
  auto cur = static_cast<std::uint32_t>(a.entry);
  float cur_d = warp_query_distance(a, qv, cur, lane);
  const int m = a.M;
  for (int level = a.max_level; level > 0; --level) {
    for (bool changed = true; changed;) {
      changed = false;
      const std::uint32_t* l =
          a.upper + a.upper_offset[cur] + static_cast<std::int64_t>(level - 1) * m;
      for (int j = 0; j < m; ++j) {
        const std::uint32_t v = l[j];
        if (v == kNone) break;
        const float dv = warp_query_distance(a, qv, v, lane);
        if (dv < cur_d) {
          cur_d = dv;
          cur = v;
          changed = true;
        }
      }
    }
  }
  // Level 0: the sorted beam of graph::beam_insert, expanded nearest-unexpanded first.
  int count = 0, visited = 1;
  if (lane == 0) {
    count = graph::beam_insert(bd, bi, bf, 0, a.ef, cur_d, cur);
    visit(table, cur);
  }
  count = __shfl_sync(kFull, count, 0);
  __syncwarp();
  const int m0 = 2 * a.M;
  for (;;) {
    int next = lane == 0 ? graph::beam_next(bf, count) : 0;
    next = __shfl_sync(kFull, next, 0);
    if (next < 0) break;
    const std::uint32_t c = bi[next];
    __syncwarp();
    if (lane == 0) bf[next] = 1;
    const std::uint32_t* l = a.level0 + static_cast<std::int64_t>(c) * m0;
    for (int j0 = 0; j0 < m0; j0 += 32) {
      const int j = j0 + lane;
      const std::uint32_t v = j < m0 ? l[j] : kNone;
      const bool fresh = v != kNone && !visit(table, v);
      // The whole warp computes one fresh neighbour's distance at a time (coalesced row reads),
      // in lane order; lane 0 inserts it.
      const unsigned mask = __ballot_sync(kFull, fresh);
      for (unsigned mm = mask; mm; mm &= mm - 1) {
        const auto u = static_cast<std::uint32_t>(__shfl_sync(kFull, v, __ffs(mm) - 1));
        const float du = warp_query_distance(a, qv, u, lane);
        if (lane == 0) count = graph::beam_insert(bd, bi, bf, count, a.ef, du, u);
      }
      visited += __popc(mask);
      count = __shfl_sync(kFull, count, 0);
      __syncwarp();
    }
    if (visited > kHashSlots / 2) {  // forget: keep only the beam's ids
      for (int s = lane; s < kHashSlots; s += 32) table[s] = kNone;
      __syncwarp();
      if (lane == 0)
        for (int s = 0; s < count; ++s) visit(table, bi[s]);
      visited = count;
      __syncwarp();
    }
  }
  for (int j = lane; j < a.k; j += 32) {
    oi[j] = j < count ? bi[j] : kNone;
    od[j] = j < count ? bd[j] : std::numeric_limits<float>::infinity();
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

void prune_candidates(const float* x, std::int64_t n, std::int64_t dim, int metric,
                      const std::uint32_t* cand, const float* cand_dist, int K,
                      const std::uint32_t* extra, const float* extra_dist, int E, int m,
                      std::uint32_t* out, float* out_dist, int device, void* stream) {
  if (K <= 0 || m <= 0 || E < 0 || K + E > kMaxList)
    throw std::invalid_argument("prune: bad K, E or m");
  if (n == 0) return;
  DeviceGuard guard(device);
  constexpr int kWarps = 4;
  const std::size_t smem = E > 0 ? static_cast<std::size_t>(kWarps) * (K + E) * 8 : 0;
  prune_kernel<<<blocks_for(n, kWarps), kWarps * 32, smem, static_cast<cudaStream_t>(stream)>>>(
      x, n, dim, metric, cand, cand_dist, K, extra, extra_dist, E, m, out, out_dist);
  PANNING_CUDA_CHECK_LAUNCH();
}

namespace {
struct MergeWorkspace {
  unsigned long long* degree = nullptr;
  unsigned long long* start = nullptr;
  unsigned long long* cursor = nullptr;
  std::uint32_t* offer_id = nullptr;
  float* offer_dist = nullptr;
  void* scan_temp = nullptr;
  std::size_t scan_bytes = 0;
  unsigned long long* bad_id = nullptr;  // find_bad_id_kernel's result
  std::size_t total = 0;
};

// CUB sizes its scratch for the current device's architecture and SM count, so callers select
// the target device first (mixed-GPU machines).
MergeWorkspace plan_merge(std::int64_t n, int m_in, void* base) {
  std::size_t scan_bytes = 0;
  PANNING_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(
      nullptr, scan_bytes, static_cast<const unsigned long long*>(nullptr),
      static_cast<unsigned long long*>(nullptr), static_cast<int>(std::max<std::int64_t>(1, n))));
  WorkspaceCarver carve(base);
  MergeWorkspace w;
  const auto nodes = static_cast<std::size_t>(std::max<std::int64_t>(1, n));
  const auto edges = static_cast<std::size_t>(std::max<std::int64_t>(1, n * m_in));
  w.degree = carve.take<unsigned long long>(nodes);
  w.start = carve.take<unsigned long long>(nodes);
  w.cursor = carve.take<unsigned long long>(nodes);
  w.offer_id = carve.take<std::uint32_t>(edges);
  w.offer_dist = carve.take<float>(edges);
  w.scan_temp = carve.take<unsigned char>(scan_bytes);
  w.scan_bytes = scan_bytes;
  w.bad_id = carve.take<unsigned long long>(1);
  w.total = carve.used();
  return w;
}

// Throws, as the CPU twins' check_ids does, when ids [count] holds an entry that is neither
// kNone nor below n: the kernels index x and their offer lists with these ids. Costs one kernel
// and one stream synchronisation (a host round trip, per level of a build).
void check_ids(const std::uint32_t* ids, std::int64_t count, std::int64_t n, const char* what,
               unsigned long long* scratch, cudaStream_t s) {
  if (count == 0) return;
  PANNING_CUDA_CHECK(cudaMemsetAsync(scratch, 0xff, sizeof(unsigned long long), s));
  find_bad_id_kernel<<<blocks_for(count, 256), 256, 0, s>>>(ids, count, n, scratch);
  PANNING_CUDA_CHECK_LAUNCH();
  unsigned long long first = 0;
  PANNING_CUDA_CHECK(cudaMemcpyAsync(&first, scratch, sizeof first, cudaMemcpyDeviceToHost, s));
  PANNING_CUDA_CHECK(cudaStreamSynchronize(s));
  if (first == ~0ull) return;
  std::uint32_t id = 0;
  PANNING_CUDA_CHECK(cudaMemcpyAsync(&id, ids + first, sizeof id, cudaMemcpyDeviceToHost, s));
  PANNING_CUDA_CHECK(cudaStreamSynchronize(s));
  throw std::invalid_argument(std::string(what) + " holds id " + std::to_string(id) +
                              " outside [0, " + std::to_string(n) + ")");
}
}  // namespace

std::size_t reverse_merge_workspace_bytes(std::int64_t n, int m_in, int device) {
  DeviceGuard guard(device);
  return plan_merge(n, m_in, nullptr).total;
}

void reverse_merge(const float* x, std::int64_t n, std::int64_t dim, int metric,
                   const std::uint32_t* fwd, const float* fwd_dist, int m_in, int reverse_cap,
                   int m_out, std::uint32_t* out, float* out_dist, void* workspace,
                   std::size_t workspace_bytes, int device, void* stream) {
  if (m_in <= 0 || m_out <= 0 || reverse_cap < 0 || m_in + reverse_cap > kMaxList)
    throw std::invalid_argument("reverse_merge: bad list sizes");
  if (n > std::numeric_limits<int>::max())
    throw std::invalid_argument("reverse_merge: at most 2^31 - 1 rows per level on the GPU");
  if (n == 0) return;
  DeviceGuard guard(device);
  const MergeWorkspace w = plan_merge(n, m_in, workspace);
  if (workspace_bytes < w.total) throw std::invalid_argument("reverse_merge: workspace too small");
  auto s = static_cast<cudaStream_t>(stream);
  const std::int64_t edges = n * m_in;
  check_ids(fwd, edges, n, "forward links", w.bad_id, s);
  const auto node_bytes = static_cast<std::size_t>(n) * sizeof(unsigned long long);
  PANNING_CUDA_CHECK(cudaMemsetAsync(w.degree, 0, node_bytes, s));
  PANNING_CUDA_CHECK(cudaMemsetAsync(w.cursor, 0, node_bytes, s));
  count_offers_kernel<<<blocks_for(edges, 256), 256, 0, s>>>(fwd, edges, w.degree);
  PANNING_CUDA_CHECK_LAUNCH();
  std::size_t scan_bytes = w.scan_bytes;
  PANNING_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(w.scan_temp, scan_bytes, w.degree, w.start,
                                                   static_cast<int>(n), s));
  fill_offers_kernel<<<blocks_for(edges, 256), 256, 0, s>>>(fwd, fwd_dist, edges, m_in, w.start,
                                                            w.cursor, w.offer_id, w.offer_dist);
  PANNING_CUDA_CHECK_LAUNCH();
  constexpr int kWarps = 4;
  const int cap = reverse_cap > 0 ? reverse_cap : 1;
  const std::size_t smem =
      static_cast<std::size_t>(kWarps) * static_cast<std::size_t>(cap + m_in + reverse_cap) * 8;
  PANNING_CUDA_CHECK(cudaFuncSetAttribute(merge_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(smem)));
  merge_kernel<<<blocks_for(n, kWarps), kWarps * 32, smem, s>>>(
      x, n, dim, metric, fwd, fwd_dist, m_in, reverse_cap, m_out, w.start, w.degree, w.offer_id,
      w.offer_dist, out, out_dist);
  PANNING_CUDA_CHECK_LAUNCH();
}

void beam_search(const float* x, std::int64_t n, std::int64_t dim, int metric, int M,
                 const std::uint32_t* level0, const std::uint32_t* upper,
                 const std::int64_t* upper_offset, std::int64_t entry, int max_level,
                 const float* q, std::int64_t nq, int k, int ef, std::uint32_t* out_ids,
                 float* out_dist, int device, void* stream) {
  if (k <= 0) throw std::invalid_argument("k must be positive");
  ef = std::max(ef, k);
  if (ef > kMaxList) throw std::invalid_argument("GPU search: ef must be at most 512");
  if (M > 256) throw std::invalid_argument("GPU search: M must be at most 256");
  if (nq == 0) return;
  DeviceGuard guard(device);
  auto s = static_cast<cudaStream_t>(stream);
  if (n == 0 || entry < 0) {
    knn_reset(nq, k, out_ids, out_dist, device, stream);
    return;
  }
  const SearchArgs args{x,     n,         dim, metric, M, level0, upper,   upper_offset,
                        entry, max_level, q,   nq,     k, ef,     out_ids, out_dist};
  const std::size_t per_warp = search_smem_per_warp(ef, dim);
  const std::size_t smem = per_warp * kSearchWarps;
  PANNING_CUDA_CHECK(cudaFuncSetAttribute(
      beam_search_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  beam_search_kernel<<<blocks_for(nq, kSearchWarps), kSearchWarps * 32, smem, s>>>(args, per_warp);
  PANNING_CUDA_CHECK_LAUNCH();
}

}  // namespace panning::cuda
