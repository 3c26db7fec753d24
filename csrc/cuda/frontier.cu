// CUDA frontier expansion: one thread per (expander, neighbour) pair tests the labeled and
// excluded bitmaps and claims pool bits with atomicOr (the claimer of a bit owns that id:
// deduplication without a hash set), entering ids are compacted with one warp-aggregated atomic
// per warp, and CUB sorts the few that entered so the order matches the CPU twin.
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

__device__ __forceinline__ std::int64_t row_of(const ExpandRequest& r, std::int64_t i) {
  return r.expanders == nullptr ? i : r.expanders[i];
}

__device__ __forceinline__ bool row_valid(const GraphView& g, const ExpandRequest& r,
                                          std::int64_t n, std::int64_t row) {
  return row >= 0 && row < g.rows && !(r.label && row >= n);
}

__global__ void validate_kernel(GraphView g, ExpandRequest r, std::int64_t n,
                                unsigned long long* first_bad) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= r.count) return;
  const std::int64_t row = row_of(r, i);
  bool ok = row_valid(g, r, n, row);
  for (std::int64_t j = r.col_begin; ok && j < r.col_end; ++j)
    ok = graph_entry_valid(neighbour(g, row, j), n);
  if (!ok) atomicMin(first_bad, static_cast<unsigned long long>(i));
}

__global__ void mark_labeled_kernel(ExpandRequest r, unsigned long long* labeled,
                                    unsigned long long* pool) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= r.count) return;
  const std::int64_t id = r.expanders[i];
  atomicOr(&labeled[bitmap_word(id)], static_cast<unsigned long long>(bitmap_mask(id)));
  atomicAnd(&pool[bitmap_word(id)], ~static_cast<unsigned long long>(bitmap_mask(id)));
}

__global__ void expand_kernel(GraphView g, ExpandRequest r, FrontierBitmaps s,
                              std::int64_t* entered, unsigned long long* entered_count) {
  const std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t width = r.col_end - r.col_begin;
  bool take = false;
  std::int64_t v = -1;
  if (t < r.count * width) {
    v = neighbour(g, row_of(r, t / width), r.col_begin + t % width);
    if (frontier_may_enter(s, v)) {
      const unsigned long long mask = bitmap_mask(v);
      take =
          !(atomicOr(reinterpret_cast<unsigned long long*>(&s.pool[bitmap_word(v)]), mask) & mask);
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

std::int64_t expand_frontier(const GraphView& graph, const ExpandRequest& request,
                             const FrontierBitmaps& state, std::int64_t* out, void* workspace,
                             std::size_t workspace_bytes, int device, void* stream_ptr) {
  const std::int64_t count = request.count;
  const std::int64_t width = request.col_end - request.col_begin;
  if (count == 0 || (width <= 0 && !request.label)) return 0;
  if (count * std::max<std::int64_t>(width, 1) > std::int64_t{0x7fffffff})
    throw std::invalid_argument("expand_frontier on the GPU takes at most 2^31 - 1 pairs a batch");
  DeviceGuard guard(device);
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  const Workspace w = plan_workspace(count, width, workspace);
  if (workspace_bytes < w.total) throw std::invalid_argument("workspace too small");
  auto* lab = reinterpret_cast<unsigned long long*>(state.labeled);
  auto* pl = reinterpret_cast<unsigned long long*>(state.pool);

  // 1. validate before touching the bitmaps
  PANNING_CUDA_CHECK(cudaMemsetAsync(w.counters, 0xff, sizeof(unsigned long long), stream));
  PANNING_CUDA_CHECK(cudaMemsetAsync(w.counters + 1, 0, sizeof(unsigned long long), stream));
  validate_kernel<<<blocks_for(count), kThreads, 0, stream>>>(graph, request, state.n, w.counters);
  PANNING_CUDA_CHECK_LAUNCH();
  unsigned long long first_bad = 0;
  PANNING_CUDA_CHECK(
      cudaMemcpyAsync(&first_bad, w.counters, sizeof first_bad, cudaMemcpyDeviceToHost, stream));
  PANNING_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (first_bad != ~0ull) {
    const auto i = static_cast<std::int64_t>(first_bad);
    std::int64_t row = i;
    if (request.expanders != nullptr)
      PANNING_CUDA_CHECK(
          cudaMemcpy(&row, request.expanders + i, sizeof row, cudaMemcpyDeviceToHost));
    if (row < 0 || row >= graph.rows || (request.label && row >= state.n))
      throw_frontier_input_error(request, i, row, false, state.n);
    for (std::int64_t j = request.col_begin; j < request.col_end; ++j) {
      std::int64_t v = 0;
      PANNING_CUDA_CHECK(cudaMemcpy(&v, graph.ids + row * graph.row_stride + j * graph.col_stride,
                                    sizeof v, cudaMemcpyDeviceToHost));
      if (!graph_entry_valid(v, state.n)) throw_frontier_input_error(request, i, v, true, state.n);
    }
    throw std::logic_error("frontier validation disagrees with its host re-check");
  }
  // 2. label, 3. expand
  if (request.label) {
    mark_labeled_kernel<<<blocks_for(count), kThreads, 0, stream>>>(request, lab, pl);
    PANNING_CUDA_CHECK_LAUNCH();
  }
  if (width <= 0) {
    PANNING_CUDA_CHECK(cudaStreamSynchronize(stream));
    return 0;
  }
  expand_kernel<<<blocks_for(count * width), kThreads, 0, stream>>>(graph, request, state,
                                                                    w.entered, w.counters + 1);
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
