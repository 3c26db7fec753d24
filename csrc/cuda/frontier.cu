// CUDA frontier expansion: one thread per (new id, neighbour) pair tests the labeled bitmap and
// claims pool bits with atomicOr (the claimer of a bit owns that id: deduplication without a
// hash set), entering ids are compacted with one warp-aggregated atomic per warp, and CUB sorts
// the few that entered so the order matches the CPU twin.
#include <cuda_runtime.h>

#include <algorithm>
#include <cub/device/device_radix_sort.cuh>
#include <stdexcept>

#include "cuda_check.cuh"
#include "frontier.cuh"

namespace panning::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ std::int64_t neighbour(const GraphView& g, std::int64_t row,
                                                  std::int64_t j) {
  return g.ids[row * g.row_stride + j * g.col_stride];
}

__global__ void validate_kernel(GraphView g, const std::int64_t* new_ids, std::int64_t count,
                                unsigned long long* first_bad) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const std::int64_t id = new_ids[i];
  bool ok = id >= 0 && id < g.rows;
  for (std::int64_t j = 0; ok && j < g.k; ++j) ok = graph_entry_valid(neighbour(g, id, j), g.rows);
  if (!ok) atomicMin(first_bad, static_cast<unsigned long long>(i));
}

__global__ void mark_labeled_kernel(const std::int64_t* new_ids, std::int64_t count,
                                    unsigned long long* labeled, unsigned long long* pool) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const std::int64_t id = new_ids[i];
  atomicOr(&labeled[bitmap_word(id)], static_cast<unsigned long long>(bitmap_mask(id)));
  atomicAnd(&pool[bitmap_word(id)], ~static_cast<unsigned long long>(bitmap_mask(id)));
}

__global__ void expand_kernel(GraphView g, const std::int64_t* new_ids, std::int64_t count,
                              const unsigned long long* labeled, unsigned long long* pool,
                              std::int64_t* entered, unsigned long long* entered_count) {
  const std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  bool take = false;
  std::int64_t v = -1;
  if (t < count * g.k) {
    v = neighbour(g, new_ids[t / g.k], t % g.k);
    if (v >= 0 && !(labeled[bitmap_word(v)] & bitmap_mask(v))) {
      const unsigned long long mask = bitmap_mask(v);
      take = !(atomicOr(&pool[bitmap_word(v)], mask) & mask);
    }
  }
  // one atomicAdd per warp for the ids its lanes claimed
  const unsigned ballot = __ballot_sync(0xffffffffu, take);
  if (!ballot) return;
  const int lane = threadIdx.x % 32;
  const int leader = __ffs(ballot) - 1;
  unsigned long long base = 0;
  if (lane == leader)
    base = atomicAdd(entered_count, static_cast<unsigned long long>(__popc(ballot)));
  base = __shfl_sync(0xffffffffu, base, leader);
  if (take) entered[base + __popc(ballot & ((1u << lane) - 1u))] = v;
}

struct Workspace {
  std::int64_t* entered = nullptr;
  unsigned long long* counters = nullptr;  // [0] first bad, [1] entered count
  void* sort_temp = nullptr;
  std::size_t sort_temp_bytes = 0;
  std::size_t total = 0;
};

Workspace plan_workspace(std::int64_t count, std::int64_t k, void* base) {
  const std::int64_t pairs = std::max<std::int64_t>(1, count * k);
  std::size_t sort_bytes = 0;
  PANNING_CUDA_CHECK(
      cub::DeviceRadixSort::SortKeys(nullptr, sort_bytes, static_cast<const std::int64_t*>(nullptr),
                                     static_cast<std::int64_t*>(nullptr), static_cast<int>(pairs)));
  Workspace w;
  WorkspaceCarver carve(base);
  w.entered = carve.take<std::int64_t>(static_cast<std::size_t>(pairs));
  w.counters = carve.take<unsigned long long>(2);
  w.sort_temp_bytes = sort_bytes;
  w.sort_temp = carve.take<char>(sort_bytes);
  w.total = carve.used();
  return w;
}

unsigned blocks_for(std::int64_t n) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, (n + kThreads - 1) / kThreads));
}

}  // namespace

std::size_t expand_frontier_workspace_bytes(std::int64_t count, std::int64_t k) {
  return plan_workspace(count, k, nullptr).total;
}

std::int64_t expand_frontier(const GraphView& graph, const std::int64_t* new_ids,
                             std::int64_t count, std::uint64_t* labeled, std::uint64_t* pool,
                             std::int64_t* out, void* workspace, std::size_t workspace_bytes,
                             FrontierError* error, int device, void* stream_ptr) {
  *error = FrontierError{};
  if (count == 0) return 0;
  if (count * std::max<std::int64_t>(graph.k, 1) > std::int64_t{0x7fffffff})
    throw std::invalid_argument("expand_frontier on the GPU takes at most 2^31 - 1 pairs a batch");
  DeviceGuard guard(device);
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  const Workspace w = plan_workspace(count, graph.k, workspace);
  if (workspace_bytes < w.total) throw std::invalid_argument("workspace too small");
  auto* lab = reinterpret_cast<unsigned long long*>(labeled);
  auto* pl = reinterpret_cast<unsigned long long*>(pool);

  // 1. validate before touching the bitmaps
  PANNING_CUDA_CHECK(cudaMemsetAsync(w.counters, 0xff, sizeof(unsigned long long), stream));
  PANNING_CUDA_CHECK(cudaMemsetAsync(w.counters + 1, 0, sizeof(unsigned long long), stream));
  validate_kernel<<<blocks_for(count), kThreads, 0, stream>>>(graph, new_ids, count, w.counters);
  PANNING_CUDA_CHECK_LAUNCH();
  unsigned long long first_bad = 0;
  PANNING_CUDA_CHECK(
      cudaMemcpyAsync(&first_bad, w.counters, sizeof first_bad, cudaMemcpyDeviceToHost, stream));
  PANNING_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (first_bad != ~0ull) {
    const auto i = static_cast<std::int64_t>(first_bad);
    std::int64_t id = 0;
    PANNING_CUDA_CHECK(cudaMemcpy(&id, new_ids + i, sizeof id, cudaMemcpyDeviceToHost));
    if (id < 0 || id >= graph.rows) {
      *error = FrontierError{FrontierError::kNewIdOutOfRange, i, id};
      return 0;
    }
    for (std::int64_t j = 0; j < graph.k; ++j) {
      std::int64_t v = 0;
      PANNING_CUDA_CHECK(cudaMemcpy(&v, graph.ids + id * graph.row_stride + j * graph.col_stride,
                                    sizeof v, cudaMemcpyDeviceToHost));
      if (!graph_entry_valid(v, graph.rows)) {
        *error = FrontierError{FrontierError::kNeighbourOutOfRange, i, v};
        return 0;
      }
    }
    throw std::logic_error("frontier validation disagrees with its host re-check");
  }
  // 2. label, 3. expand
  mark_labeled_kernel<<<blocks_for(count), kThreads, 0, stream>>>(new_ids, count, lab, pl);
  PANNING_CUDA_CHECK_LAUNCH();
  expand_kernel<<<blocks_for(count * graph.k), kThreads, 0, stream>>>(
      graph, new_ids, count, lab, pl, w.entered, w.counters + 1);
  PANNING_CUDA_CHECK_LAUNCH();
  unsigned long long entered = 0;
  PANNING_CUDA_CHECK(
      cudaMemcpyAsync(&entered, w.counters + 1, sizeof entered, cudaMemcpyDeviceToHost, stream));
  PANNING_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (entered > 0) {
    std::size_t temp_bytes = w.sort_temp_bytes;
    PANNING_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(w.sort_temp, temp_bytes, w.entered, out,
                                                      static_cast<int>(entered), 0, 64, stream));
  }
  return static_cast<std::int64_t>(entered);
}

}  // namespace panning::cuda
