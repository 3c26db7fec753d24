// Exact nearest neighbours on the CPU: FlatIndex, the exact twin of the HNSW index
// (panning/hnsw.hpp), searched by blocked brute force, and exact kNN graphs; plus the
// vocabulary every nearest-neighbour feature shares (metrics, search results) and the
// instruction-set level of the distance kernels they all run.
//
// Plain pointers, sizes and MatrixViews only: no Python and no CUDA types. Distances follow
// hnswlib's conventions: kL2 is the squared Euclidean distance, kIP is 1 - <a, b>, kCosine is
// 1 - cos(a, b) (vectors are normalised on insert and on query, then kIP is used).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "panning/common.hpp"
#include "panning/interrupt.hpp"

namespace panning {

enum class Metric : int { kL2 = 0, kIP = 1, kCosine = 2 };

const char* metric_name(Metric m);

// Results of a batch search: row-major [nq, k]; missing results are id -1, distance +inf.
struct SearchResult {
  std::vector<std::int64_t> ids;
  std::vector<float> distances;
};

namespace cpu {

// Exact search with HnswIndex's API and conventions (add, search with exclusions, knn_graph,
// ties to the lower insertion order, the same thread-safety rules); tests measure the HNSW
// index's recall against it.
class FlatIndex {
 public:
  FlatIndex(std::int64_t dim, Metric metric);
  ~FlatIndex();
  FlatIndex(const FlatIndex&) = delete;
  FlatIndex& operator=(const FlatIndex&) = delete;

  void add(const MatrixView& x, const std::int64_t* ids, int threads,
           const InterruptCheck& interrupted = {});
  void search(const MatrixView& q, std::int64_t k, const std::int64_t* exclude,
              std::int64_t n_exclude, int threads, std::int64_t* out_ids, float* out_distances,
              const InterruptCheck& interrupted = {}) const;
  // Exact kNN graph of the stored vectors (row i: the k nearest other stored vectors).
  SearchResult knn_graph(std::int64_t k, int threads, const InterruptCheck& interrupted = {}) const;
  std::vector<std::int64_t> labels() const;
  std::int64_t size() const;
  std::int64_t dim() const;
  Metric metric() const;
  std::size_t memory_bytes() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The instruction set of the distance kernels: "avx512", "avx2" or "generic".
const char* distance_simd_level();
// Forces a level (tests compare every variant). False when unknown or unsupported here.
bool set_distance_simd_level(const char* level);

}  // namespace cpu
}  // namespace panning
