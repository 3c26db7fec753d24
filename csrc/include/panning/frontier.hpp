// kNN-graph frontier expansion: the SEALS candidate-pool update. Given a kNN graph over dataset
// ids [0, n) and a batch of newly labeled ids, the ids entering the pool are their neighbours that
// are neither labeled nor already in the pool, deduplicated, in ascending order. The labeled set
// and the pool are bitmaps of (n + 63) / 64 words, updated in place.
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

// A kNN graph: row i lists the neighbours of dataset id i (rows = n).
struct GraphView {
  const std::int64_t* ids = nullptr;
  std::int64_t rows = 0;
  std::int64_t k = 0;
  std::int64_t row_stride = 0;  // elements
  std::int64_t col_stride = 1;  // elements
};

// Where a batch is invalid: which input and the offending value.
struct FrontierError {
  enum Kind : int { kNone = 0, kNewIdOutOfRange = 1, kNeighbourOutOfRange = 2 } kind = kNone;
  std::int64_t position = -1;  // index into new_ids (for a neighbour: of the id whose row it is)
  std::int64_t value = 0;
};

namespace cpu {

// Marks new_ids labeled (and removes them from the pool), then adds their unlabeled neighbours
// that are not yet in the pool. Returns the ids that entered, ascending. On invalid input nothing
// is modified and `error` describes the first problem found.
std::vector<std::int64_t> expand_frontier(const GraphView& graph, const std::int64_t* new_ids,
                                          std::int64_t count, std::uint64_t* labeled,
                                          std::uint64_t* pool, FrontierError* error);

}  // namespace cpu
}  // namespace panning
