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

}  // namespace

std::vector<std::int64_t> expand_frontier(const GraphView& graph, const std::int64_t* new_ids,
                                          std::int64_t count, std::uint64_t* labeled,
                                          std::uint64_t* pool, FrontierError* error) {
  const std::int64_t n = graph.rows;
  *error = FrontierError{};
  // Threads pay off only on large batches; SEALS rounds are often ~100 ids x k neighbours.
  const bool parallel = count * graph.k >= (std::int64_t{1} << 15);
  // 1. validate everything before touching the bitmaps (first problem in input order)
  std::int64_t first_bad = std::numeric_limits<std::int64_t>::max();
#pragma omp parallel for schedule(static) reduction(min : first_bad) if (parallel)
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t id = new_ids[i];
    bool ok = id >= 0 && id < n;
    for (std::int64_t j = 0; ok && j < graph.k; ++j)
      ok = graph_entry_valid(neighbour(graph, id, j), n);
    if (!ok) first_bad = std::min(first_bad, i);
  }
  if (first_bad != std::numeric_limits<std::int64_t>::max()) {
    const std::int64_t id = new_ids[first_bad];
    if (id < 0 || id >= n) {
      *error = FrontierError{FrontierError::kNewIdOutOfRange, first_bad, id};
    } else {
      for (std::int64_t j = 0; j < graph.k; ++j) {
        const std::int64_t v = neighbour(graph, id, j);
        if (!graph_entry_valid(v, n)) {
          *error = FrontierError{FrontierError::kNeighbourOutOfRange, first_bad, v};
          break;
        }
      }
    }
    return {};
  }
  // 2. the new ids are labeled and leave the pool
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t id = new_ids[i];
    labeled[bitmap_word(id)] |= bitmap_mask(id);
    pool[bitmap_word(id)] &= ~bitmap_mask(id);
  }
  // 3. their unlabeled neighbours enter the pool once
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
      const std::int64_t id = new_ids[i];
      for (std::int64_t j = 0; j < graph.k; ++j) {
        const std::int64_t v = neighbour(graph, id, j);
        if (v < 0 || bitmap_test(labeled, v)) continue;
        const std::uint64_t mask = bitmap_mask(v);
        if (!(atomic_fetch_or(&pool[bitmap_word(v)], mask) & mask)) mine.push_back(v);
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
