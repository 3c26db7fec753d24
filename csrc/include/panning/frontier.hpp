// kNN-graph frontier expansion: the SEALS candidate-pool update. Given the neighbour lists of a
// batch of expanding ids (newly labeled ones, usually), the ids entering the pool are their
// neighbours that are neither labeled, excluded nor already in the pool, deduplicated, in
// ascending order. The labeled set, the pool and the excluded set are bitmaps of (n + 63) / 64
// words; the first two are updated in place.
#pragma once

#include <cstdint>
#include <vector>

#include "panning/common.hpp"

namespace panning {

PANNING_HD std::int64_t bitmap_words(std::int64_t n) {
  return (n + 63) / 64;
}
PANNING_HD std::int64_t bitmap_word(std::int64_t id) {
  return id >> 6;
}
PANNING_HD std::uint64_t bitmap_mask(std::int64_t id) {
  return std::uint64_t{1} << static_cast<unsigned>(id & 63);
}
PANNING_HD bool bitmap_test(const std::uint64_t* words, std::int64_t id) {
  return (words[bitmap_word(id)] & bitmap_mask(id)) != 0;
}

// A graph entry is a neighbour id in [0, n) or the padding value -1; anything else is an error.
PANNING_HD bool graph_entry_valid(std::int64_t v, std::int64_t n) {
  return v >= -1 && v < n;
}

// Neighbour lists: row r holds the neighbours of one item. In graph form (the rows are the whole
// kNN graph, rows = n) an expander's row is its dataset id; in rows form (the rows came from an
// index query for the expanders, rows = their count) the i-th expander's row is i.
struct GraphView {
  const std::int64_t* ids = nullptr;
  std::int64_t rows = 0;
  std::int64_t k = 0;
  std::int64_t row_stride = 0;  // elements
  std::int64_t col_stride = 1;  // elements
};

// The frontier's state: bitmaps over dataset ids [0, n). `excluded` (may be null) holds ids that
// never enter the pool (a held-out split).
struct FrontierBitmaps {
  std::int64_t n = 0;
  std::uint64_t* labeled = nullptr;
  std::uint64_t* pool = nullptr;
  const std::uint64_t* excluded = nullptr;
};

// One expansion: the expanders (dataset ids indexing the graph's rows, or null for rows form:
// `count` = graph.rows), the neighbour columns [col_begin, col_end) to take (widening takes the
// next columns of expanders already expanded), and whether the expanders become labeled first.
struct ExpandRequest {
  const std::int64_t* expanders = nullptr;
  std::int64_t count = 0;
  std::int64_t col_begin = 0;
  std::int64_t col_end = 0;
  bool label = true;
};

// The ids that may enter the pool: a valid neighbour, not labeled, not excluded.
PANNING_HD bool frontier_may_enter(const FrontierBitmaps& s, std::int64_t v) {
  return v >= 0 && !bitmap_test(s.labeled, v) &&
         (s.excluded == nullptr || !bitmap_test(s.excluded, v));
}

// Raises std::invalid_argument (a ValueError in Python) for the i-th expander of `request`:
// its row `value` is out of range (neighbour = false) or its row holds `value`, neither -1 nor
// an id in [0, n) (neighbour = true). Both devices name a problem alike.
[[noreturn]] void throw_frontier_input_error(const ExpandRequest& request, std::int64_t i,
                                             std::int64_t value, bool neighbour, std::int64_t n);

namespace cpu {

// If request.label, marks the expanders labeled (and removes them from the pool); then adds the
// neighbours in columns [col_begin, col_end) of their rows that may enter and are not yet in the
// pool. Returns the ids that entered, ascending. On invalid input (an expander outside the
// graph's rows or [0, n), a neighbour neither -1 nor in [0, n)) nothing is modified and
// throw_frontier_input_error names the first problem found.
std::vector<std::int64_t> expand_frontier(const GraphView& graph, const ExpandRequest& request,
                                          const FrontierBitmaps& state);

}  // namespace cpu
}  // namespace panning
