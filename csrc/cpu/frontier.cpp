// CPU frontier expansion: validate, mark, then expand in parallel with atomic bit sets on the pool
// bitmap (the thread that sets a bit owns that id, so ids are deduplicated without a hash set) and
// sort the few ids that entered.
#include "panning/frontier.hpp"

#include <algorithm>
#include <atomic>
#include <limits>

#if PANNING_WITH_OPENMP
#include <omp.h>
#endif

namespace panning::cpu {
namespace {

std::uint64_t atomic_fetch_or(std::uint64_t* word, std::uint64_t mask) {
  return __atomic_fetch_or(word, mask, __ATOMIC_RELAXED);
}

std::int64_t neighbour(const GraphView& g, std::int64_t row, std::int64_t j) {
  return g.ids[row * g.row_stride + j * g.col_stride];
}

std::int64_t row_of(const ExpandRequest& r, std::int64_t i) {
  return r.expanders == nullptr ? i : r.expanders[i];
}

// The first problem in the i-th expander's input, or kNone.
FrontierError check_expander(const GraphView& g, const ExpandRequest& r, std::int64_t n,
                             std::int64_t i) {
  const std::int64_t row = row_of(r, i);
  if (row < 0 || row >= g.rows || (r.label && row >= n))
    return FrontierError{FrontierError::kNewIdOutOfRange, i, row};
  for (std::int64_t j = r.col_begin; j < r.col_end; ++j) {
    const std::int64_t v = neighbour(g, row, j);
    if (!graph_entry_valid(v, n)) return FrontierError{FrontierError::kNeighbourOutOfRange, i, v};
  }
  return FrontierError{};
}

}  // namespace

std::vector<std::int64_t> expand_frontier(const GraphView& graph, const ExpandRequest& request,
                                          const FrontierBitmaps& state, FrontierError* error) {
  *error = FrontierError{};
  const std::int64_t count = request.count;
  const std::int64_t width = request.col_end - request.col_begin;
  // Threads pay off only on large batches; SEALS rounds are often ~100 ids x k neighbours.
  const bool parallel = count * width >= (std::int64_t{1} << 15);
  // 1. validate everything before touching the bitmaps (first problem in input order)
  std::int64_t first_bad = std::numeric_limits<std::int64_t>::max();
#pragma omp parallel for schedule(static) reduction(min : first_bad) if (parallel)
  for (std::int64_t i = 0; i < count; ++i)
    if (check_expander(graph, request, state.n, i).kind != FrontierError::kNone)
      first_bad = std::min(first_bad, i);
  if (first_bad != std::numeric_limits<std::int64_t>::max()) {
    *error = check_expander(graph, request, state.n, first_bad);
    return {};
  }
  // 2. the expanders are labeled and leave the pool
  if (request.label) {
    for (std::int64_t i = 0; i < count; ++i) {
      const std::int64_t id = request.expanders[i];
      state.labeled[bitmap_word(id)] |= bitmap_mask(id);
      state.pool[bitmap_word(id)] &= ~bitmap_mask(id);
    }
  }
  // 3. their neighbours that may enter do so once
  int threads = 1;
#if PANNING_WITH_OPENMP
  threads = omp_get_max_threads();
#endif
  std::vector<std::vector<std::int64_t>> entered(threads);
#pragma omp parallel num_threads(threads) if (parallel)
  {
#if PANNING_WITH_OPENMP
    auto& mine = entered[omp_get_thread_num()];
#else
    auto& mine = entered[0];
#endif
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < count; ++i) {
      const std::int64_t row = row_of(request, i);
      for (std::int64_t j = request.col_begin; j < request.col_end; ++j) {
        const std::int64_t v = neighbour(graph, row, j);
        if (!frontier_may_enter(state, v)) continue;
        const std::uint64_t mask = bitmap_mask(v);
        if (!(atomic_fetch_or(&state.pool[bitmap_word(v)], mask) & mask)) mine.push_back(v);
      }
    }
  }
  std::vector<std::int64_t> out;
  std::size_t total = 0;
  for (auto& e : entered) total += e.size();
  out.reserve(total);
  for (auto& e : entered) out.insert(out.end(), e.begin(), e.end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace panning::cpu
