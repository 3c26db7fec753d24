// Batched HNSW search on the GPU: one warp per query, greedy descent on the upper levels, then
// one sorted beam of ef entries on level 0 (panning/hnsw_build.hpp's beam_insert and beam_next,
// shared with the CPU twin cpu::beam_search in csrc/cpu/hnsw_build.cpp).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <stdexcept>

#include "cuda_check.cuh"
#include "hnsw_search.cuh"
#include "knn.cuh"
#include "panning/hnsw_build.hpp"
#include "warp.cuh"

namespace panning::cuda {
namespace {

using graph::kNone;
constexpr int kHashSlots = 2048;  // per-query visited set of the beam search (forgetful)

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

}  // namespace

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
