// Building HNSW levels on the GPU from exact kNN candidates: prune (one warp per node running
// panning/hnsw_build.hpp's select_diverse with a warp-wide distance) and the reverse merge
// (offers counted, scanned and filled, then one warp per node merging and selecting again). The
// list logic is hnsw_build.hpp's, shared with the CPU twins in csrc/cpu/hnsw_build.cpp; these
// kernels only decide who computes which distance.
#include <cuda_runtime.h>

#include <algorithm>
#include <cub/device/device_scan.cuh>
#include <limits>
#include <stdexcept>
#include <string>

#include "cuda_check.cuh"
#include "hnsw_build.cuh"
#include "panning/hnsw_build.hpp"
#include "warp.cuh"

namespace panning::cuda {
namespace {

using graph::kNone;

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

}  // namespace

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

}  // namespace panning::cuda
