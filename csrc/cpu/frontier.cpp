// CPU frontier expansion: validate, mark, then expand in parallel with atomic bit sets on the pool
// bitmap (the thread that sets a bit owns that id, so ids are deduplicated without a hash set) and
// sort the few ids that entered.
#include "panning/frontier.hpp"

#include <algorithm>
#include <atomic>
#include <limits>
#include <stdexcept>
#include <string>

#if PANNING_WITH_OPENMP
#include <omp.h>
#endif

namespace panning::cpu {
namespace {

std::uint64_t atomic_fetch_or(std::uint64_t* word, std::uint64_t mask) {
  return __atomic_fetch_or(word, mask, __ATOMIC_RELAXED);
}

std::int64_t neighbour_of(const GraphView& g, std::int64_t row, std::int64_t j) {
  return g.ids[row * g.row_stride + j * g.col_stride];
}

std::int64_t row_of(const ExpandRequest& r, std::int64_t i) {
  return r.expanders == nullptr ? i : r.expanders[i];
}

// Whether the i-th expander's input is valid; if not, the offending value and its kind.
bool check_expander(const GraphView& g, const ExpandRequest& r, std::int64_t n, std::int64_t i,
                    std::int64_t* value = nullptr, bool* neighbour = nullptr) {
  const std::int64_t row = row_of(r, i);
  if (row < 0 || row >= g.rows || (r.label && row >= n)) {
    if (value) *value = row, *neighbour = false;
    return false;
  }
  for (std::int64_t j = r.col_begin; j < r.col_end; ++j) {
    const std::int64_t v = neighbour_of(g, row, j);
    if (!graph_entry_valid(v, n)) {
      if (value) *value = v, *neighbour = true;
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<std::int64_t> expand_frontier(const GraphView& graph, const ExpandRequest& request,
                                          const FrontierBitmaps& state) {
  const std::int64_t count = request.count;
  const std::int64_t width = request.col_end - request.col_begin;
  // Threads pay off only on large batches; SEALS rounds are often ~100 ids x k neighbours.
  const bool parallel = count * width >= (std::int64_t{1} << 15);
  // 1. validate everything before touching the bitmaps (first problem in input order)
  std::int64_t first_bad = std::numeric_limits<std::int64_t>::max();
#pragma omp parallel for schedule(static) reduction(min : first_bad) if (parallel)
  for (std::int64_t i = 0; i < count; ++i)
    if (!check_expander(graph, request, state.n, i)) first_bad = std::min(first_bad, i);
  if (first_bad != std::numeric_limits<std::int64_t>::max()) {
    std::int64_t value = 0;
    bool neighbour = false;
    check_expander(graph, request, state.n, first_bad, &value, &neighbour);
    throw_frontier_input_error(request, first_bad, value, neighbour, state.n);
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
        const std::int64_t v = neighbour_of(graph, row, j);
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

namespace panning {

void throw_frontier_input_error(const ExpandRequest& request, std::int64_t i, std::int64_t value,
                                bool neighbour, std::int64_t n) {
  const std::string range = "[0, " + std::to_string(n) + ")";
  const std::string at = std::to_string(i);
  if (!neighbour)
    throw std::invalid_argument("new_ids[" + at + "] = " + std::to_string(value) +
                                " is not a dataset id in " + range);
  throw std::invalid_argument(
      (request.expanders != nullptr ? "the kNN graph row of new_ids[" + at + "]"
                                    : "row " + at + " of the neighbour lists") +
      " holds " + std::to_string(value) + ", which is neither -1 nor an id in " + range);
}

}  // namespace panning
