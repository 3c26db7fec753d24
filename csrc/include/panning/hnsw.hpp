// The HNSW index on the CPU (Malkov & Yashunin, 2018) and the batched beam search over its
// exported links. Its exact twin, FlatIndex, the metrics and the search results are in
// panning/knn.hpp; building levels from exact candidates is in panning/hnsw_build.hpp.
//
// Plain pointers, sizes and MatrixViews only: no Python and no CUDA types. Cosine vectors are
// normalised on insert and on query, then kIP is used.
//
// Thread safety: any number of threads may search one index at once; add() takes the index
// exclusively (searches wait for it and it waits for them), so a search never sees storage that
// is being grown or links that are half written.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "panning/common.hpp"
#include "panning/interrupt.hpp"
#include "panning/knn.hpp"

namespace panning {

enum class Storage : int { kFloat32 = 0, kFloat16 = 1 };

const char* storage_name(Storage s);

struct HnswParams {
  std::int64_t dim = 0;
  Metric metric = Metric::kL2;
  Storage storage = Storage::kFloat32;
  int M = 16;                 // links per node on the upper levels (2 * M on level 0)
  int ef_construction = 200;  // candidate list size while inserting
  std::uint64_t seed = 0;     // level generation is a hash of (seed, node number)
};

namespace cpu {

class HnswIndex {
 public:
  explicit HnswIndex(const HnswParams& params);
  ~HnswIndex();
  HnswIndex(const HnswIndex&) = delete;
  HnswIndex& operator=(const HnswIndex&) = delete;

  // Inserts the rows of x (float32 or float16, x.cols == dim) under the labels `ids` (nullptr:
  // consecutive from size()). threads <= 0 means all OpenMP threads. Refuses duplicates and
  // non-finite values before changing anything (std::invalid_argument). When interrupted, the
  // rows inserted so far stay in the index and Interrupted is thrown.
  void add(const MatrixView& x, const std::int64_t* ids, int threads,
           const InterruptCheck& interrupted = {});

  // Room for `n` vectors in total (no effect when there is already), so that adding them in
  // blocks allocates the node array once instead of growing (and copying) it block by block.
  void reserve(std::int64_t n);

  // k nearest stored vectors of each query row, nearest first (ties: lower insertion order).
  // ef < k is raised to k. `exclude` (sorted or not, unknown labels ignored) never appears.
  void search(const MatrixView& q, std::int64_t k, int ef, const std::int64_t* exclude,
              std::int64_t n_exclude, int threads, std::int64_t* out_ids, float* out_distances,
              const InterruptCheck& interrupted = {}) const;

  // Approximate kNN graph of the stored vectors: row i (insertion order) lists the labels of the
  // k nearest other stored vectors, found by an HNSW search for k + 1 that drops the node itself.
  // Rows follow insertion order; the result is sized under the index's lock, so an add() racing
  // with this call cannot make it write out of bounds.
  SearchResult knn_graph(std::int64_t k, int ef, int threads,
                         const InterruptCheck& interrupted = {}) const;

  // Builds the index from finished link lists instead of inserting (HNSWIndex.build; see
  // panning/hnsw_build.hpp). The index must be empty. x and ids as in add(); levels[l] holds,
  // for the nodes whose level (levels_of) is >= l in ascending order (rows[l] of them),
  // `widths[l]` internal ids (row numbers of x) each, kNone-padded; widths[0] <= 2 * M,
  // widths[l > 0] <= M. Checks the shapes and ids before changing anything
  // (std::invalid_argument).
  void assemble(const MatrixView& x, const std::int64_t* ids,
                const std::vector<const std::uint32_t*>& levels,
                const std::vector<std::int64_t>& rows, const std::vector<int>& widths, int threads);

  // The level add() / assemble() give the node numbered `base + i`, for i in [0, n).
  std::vector<int> levels_of(std::int64_t base, std::int64_t n) const;

  // Labels in insertion order.
  std::vector<std::int64_t> labels() const;

  // The graph as arrays, for the GPU search (the node layout stays private): level-0 links
  // [size, 2M] and upper-level links, kNone-padded; upper_offset[i] is where node i's levels
  // 1..L start in `upper` (M entries per level), -1 for nodes on level 0 only.
  struct Links {
    std::vector<std::uint32_t> level0;
    std::vector<std::uint32_t> upper;
    std::vector<std::int64_t> upper_offset;
    std::int64_t entry = -1;
    int max_level = -1;
  };
  Links export_links() const;
  // The stored vectors as float32 rows [size, dim] (normalised for cosine).
  std::vector<float> export_vectors() const;

  std::int64_t size() const;
  const HnswParams& params() const;
  std::size_t memory_bytes() const;
  int max_level() const;

  // Versioned binary file with a checksum; load() throws std::invalid_argument on truncated,
  // corrupted, foreign or newer files and std::runtime_error on I/O errors.
  void save(const std::string& path) const;
  static std::unique_ptr<HnswIndex> load(const std::string& path);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Batched beam search over exported links (HnswIndex::export_links), the CPU twin of the CUDA
// search kernel: greedy descent on the upper levels, then one sorted list of ef entries on level
// 0, always expanding its nearest unexpanded entry (hnsw_build.hpp's beam_insert). Results are
// internal ids [nq, k] (kNone / +inf pad). x: stored vectors [size, dim] float32; q: queries
// [nq, dim] float32, normalised for cosine.
void beam_search(const float* x, std::int64_t size, std::int64_t dim, Metric metric, int M,
                 const std::uint32_t* level0, const std::uint32_t* upper,
                 const std::int64_t* upper_offset, std::int64_t entry, int max_level,
                 const float* q, std::int64_t nq, int k, int ef, std::uint32_t* out_ids,
                 float* out_dist, int threads, const InterruptCheck& interrupted = {});

}  // namespace cpu
}  // namespace panning
