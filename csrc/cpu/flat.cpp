// FlatIndex: the exact twin of the HNSW index, and exact kNN graphs.
//
// Search is blocked brute force: queries are taken 16 at a time and the stored rows in tiles of
// kTileRows, so a tile (~200 KB at d = 384) stays in L2 while every query of the block passes
// over it; inside, 4x4 register tiles (distance_kernels.inc) feed four FMAs per load. Each
// (query block, slice of rows) pair is one task, so a handful of queries still uses all threads;
// per-task top-k heaps are merged at the end. Ties go to the lower insertion order, exactly as
// panning.reference.knn_search.

#include <algorithm>
#include <cstring>
#include <limits>
#include <shared_mutex>
#include <utility>
#include <vector>

#include "index_common.hpp"

namespace panning::cpu {

using detail::ExceptionCollector;

namespace {

constexpr std::int64_t kQueryBlock = 16;
constexpr std::int64_t kTileRows = 128;
constexpr std::int64_t kMinSliceRows = 4096;  // smallest slice of rows worth its own task

using Hit = std::pair<float, std::int64_t>;  // (distance, internal id); max-heap = worst on top

// Bounded max-heap keeping the k smallest (distance, id) pairs.
struct TopK {
  std::vector<Hit> heap;
  std::int64_t k = 0;
  void reset(std::int64_t kk) {
    k = kk;
    heap.clear();
    heap.reserve(static_cast<std::size_t>(kk));
  }
  void push(float d, std::int64_t id) {
    if (static_cast<std::int64_t>(heap.size()) < k) {
      heap.emplace_back(d, id);
      std::push_heap(heap.begin(), heap.end());
    } else if (Hit(d, id) < heap.front()) {
      std::pop_heap(heap.begin(), heap.end());
      heap.back() = Hit(d, id);
      std::push_heap(heap.begin(), heap.end());
    }
  }
};

}  // namespace

struct FlatIndex::Impl {
  std::int64_t dim;
  Metric metric;
  std::vector<float> data;  // [size, dim], unit rows for kCosine
  detail::LabelTable labels;
  mutable detail::RwLock rw;

  // Rows of x as float32 (normalised for cosine) into dst [x.rows, dim]. Validates first.
  void convert_rows(const MatrixView& x, float* dst, int threads, const char* what) const {
    const DistanceKernels& k = distance_kernels();
    detail::check_input(x, dim, what);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::int64_t r = 0; r < x.rows; ++r) {
      float* row = dst + r * dim;
      detail::read_row(x, r, row, k);
      if (metric == Metric::kCosine) detail::normalize(row, dim);
    }
    for (std::int64_t r = 0; r < x.rows; ++r)
      if (!detail::all_finite(dst + r * dim, dim))
        throw std::invalid_argument(std::string(what) + " row " + std::to_string(r) +
                                    " holds NaN or inf");
  }

  // Top-k of nq query rows q [nq, dim] over the stored rows; `self_offset` >= 0 makes query i
  // skip stored row self_offset + i (kNN graphs). Writes labels and distances.
  void search_rows(const float* q, std::int64_t nq, std::int64_t k, const detail::ExcludeSet& ex,
                   std::int64_t self_offset, int threads, std::int64_t* out_ids, float* out_dist,
                   const InterruptCheck& interrupted) const {
    const DistanceKernels& kern = distance_kernels();
    const std::int64_t n = labels.size();
    const bool l2 = metric == Metric::kL2;
    const std::int64_t qblocks_total = (nq + kQueryBlock - 1) / kQueryBlock;
    // Queries per chunk between interrupt checks: about 2^28 distance FMAs.
    const std::int64_t chunk_qblocks = std::max<std::int64_t>(
        1, (std::int64_t{1} << 28) / std::max<std::int64_t>(1, n * dim * kQueryBlock));
    for (std::int64_t cb0 = 0; cb0 < qblocks_total; cb0 += chunk_qblocks) {
      const std::int64_t cb1 = std::min(qblocks_total, cb0 + chunk_qblocks);
      const std::int64_t qblocks = cb1 - cb0;
      std::int64_t slices = 1;
      if (qblocks < threads) {
        slices = std::min<std::int64_t>((threads + qblocks - 1) / qblocks,
                                        std::max<std::int64_t>(1, n / kMinSliceRows));
      }
      const std::int64_t slice_rows = (n + slices - 1) / slices;
      const std::int64_t tasks = qblocks * slices;
      // results[task][query in block] -> hits
      std::vector<std::vector<std::vector<Hit>>> results(static_cast<std::size_t>(tasks));
      ExceptionCollector errors;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
      for (std::int64_t t = 0; t < tasks; ++t) {
        errors.run([&] {
          const std::int64_t qb = cb0 + t / slices;
          const std::int64_t s = t % slices;
          const std::int64_t q0 = qb * kQueryBlock;
          const std::int64_t qn = std::min(kQueryBlock, nq - q0);
          const std::int64_t r0 = s * slice_rows;
          const std::int64_t r1 = std::min(n, r0 + slice_rows);
          TopK heaps[kQueryBlock];
          for (std::int64_t i = 0; i < qn; ++i) heaps[i].reset(k);
          float tile[16];
          for (std::int64_t t0 = r0; t0 < r1; t0 += kTileRows) {
            const std::int64_t t1 = std::min(r1, t0 + kTileRows);
            for (std::int64_t i = 0; i < qn; i += 4) {
              // Short groups repeat their last query/row; the extra results are ignored.
              const std::int64_t qi = std::min<std::int64_t>(4, qn - i);
              const float* qa = q + (q0 + i) * dim;
              for (std::int64_t r = t0; r < t1; r += 4) {
                const std::int64_t rn = std::min<std::int64_t>(4, t1 - r);
                const float* xb = data.data() + r * dim;
                if (qi == 4 && rn == 4) {
                  (l2 ? kern.l2_4x4 : kern.dot_4x4)(qa, dim, xb, dim, dim, tile);
                } else {
                  for (std::int64_t a = 0; a < qi; ++a)
                    for (std::int64_t b = 0; b < rn; ++b)
                      tile[a * 4 + b] =
                          (l2 ? kern.l2_f32 : kern.dot_f32)(qa + a * dim, xb + b * dim, dim);
                }
                for (std::int64_t a = 0; a < qi; ++a) {
                  const std::int64_t query = q0 + i + a;
                  for (std::int64_t b = 0; b < rn; ++b) {
                    const std::int64_t id = r + b;
                    if (self_offset >= 0 && id == self_offset + query) continue;
                    if (ex.excluded(id)) continue;
                    const float d = l2 ? tile[a * 4 + b] : 1.0f - tile[a * 4 + b];
                    heaps[i + a].push(d, id);
                  }
                }
              }
            }
          }
          auto& out = results[static_cast<std::size_t>(t)];
          out.resize(static_cast<std::size_t>(qn));
          for (std::int64_t i = 0; i < qn; ++i)
            out[static_cast<std::size_t>(i)].swap(heaps[i].heap);
        });
      }
      errors.rethrow();
      // Merge the slices of each query and write labels, nearest first.
#pragma omp parallel for schedule(static) num_threads(threads)
      for (std::int64_t qb = 0; qb < qblocks; ++qb) {
        const std::int64_t q0 = (cb0 + qb) * kQueryBlock;
        const std::int64_t qn = std::min(kQueryBlock, nq - q0);
        std::vector<Hit> merged;
        for (std::int64_t i = 0; i < qn; ++i) {
          merged.clear();
          for (std::int64_t s = 0; s < slices; ++s) {
            const auto& h =
                results[static_cast<std::size_t>(qb * slices + s)][static_cast<std::size_t>(i)];
            merged.insert(merged.end(), h.begin(), h.end());
          }
          const std::int64_t m =
              std::min<std::int64_t>(k, static_cast<std::int64_t>(merged.size()));
          std::partial_sort(merged.begin(), merged.begin() + m, merged.end());
          std::int64_t* oi = out_ids + (q0 + i) * k;
          float* od = out_dist + (q0 + i) * k;
          for (std::int64_t j = 0; j < k; ++j) {
            if (j < m) {
              oi[j] = labels.label(merged[static_cast<std::size_t>(j)].second);
              od[j] = merged[static_cast<std::size_t>(j)].first;
            } else {
              oi[j] = -1;
              od[j] = std::numeric_limits<float>::infinity();
            }
          }
        }
      }
      detail::check_interrupt(interrupted);
    }
  }
};

FlatIndex::FlatIndex(std::int64_t dim, Metric metric) : impl_(new Impl) {
  if (dim <= 0) throw std::invalid_argument("dim must be positive");
  impl_->dim = dim;
  impl_->metric = metric;
}

FlatIndex::~FlatIndex() = default;

void FlatIndex::add(const MatrixView& x, const std::int64_t* ids, int threads,
                    const InterruptCheck& interrupted) {
  std::unique_lock<detail::RwLock> lock(impl_->rw);
  threads = detail::resolve_threads(threads);
  Impl& s = *impl_;
  std::vector<std::int64_t> default_ids;
  if (!ids) {
    default_ids.resize(static_cast<std::size_t>(x.rows));
    for (std::int64_t i = 0; i < x.rows; ++i) default_ids[i] = s.labels.size() + i;
    ids = default_ids.data();
  }
  s.labels.check_new(ids, x.rows);
  std::vector<float> rows(static_cast<std::size_t>(x.rows * s.dim));
  s.convert_rows(x, rows.data(), threads, "x");
  detail::check_interrupt(interrupted);
  s.data.insert(s.data.end(), rows.begin(), rows.end());
  s.labels.append(ids, x.rows);
}

void FlatIndex::search(const MatrixView& q, std::int64_t k, const std::int64_t* exclude,
                       std::int64_t n_exclude, int threads, std::int64_t* out_ids,
                       float* out_distances, const InterruptCheck& interrupted) const {
  if (k <= 0) throw std::invalid_argument("k must be positive");
  std::shared_lock<detail::RwLock> lock(impl_->rw);
  threads = detail::resolve_threads(threads);
  const Impl& s = *impl_;
  std::vector<float> queries(static_cast<std::size_t>(q.rows * s.dim));
  s.convert_rows(q, queries.data(), threads, "queries");
  detail::ExcludeSet ex(s.labels, exclude, n_exclude);
  s.search_rows(queries.data(), q.rows, k, ex, -1, threads, out_ids, out_distances, interrupted);
}

SearchResult FlatIndex::knn_graph(std::int64_t k, int threads,
                                  const InterruptCheck& interrupted) const {
  if (k <= 0) throw std::invalid_argument("k must be positive");
  std::shared_lock<detail::RwLock> lock(impl_->rw);
  threads = detail::resolve_threads(threads);
  const Impl& s = *impl_;
  SearchResult out;
  out.ids.resize(static_cast<std::size_t>(s.labels.size() * k));
  out.distances.resize(out.ids.size());
  detail::ExcludeSet none(s.labels, nullptr, 0);
  s.search_rows(s.data.data(), s.labels.size(), k, none, 0, threads, out.ids.data(),
                out.distances.data(), interrupted);
  return out;
}

std::vector<std::int64_t> FlatIndex::labels() const {
  std::shared_lock<detail::RwLock> lock(impl_->rw);
  return impl_->labels.labels();
}

std::int64_t FlatIndex::size() const {
  std::shared_lock<detail::RwLock> lock(impl_->rw);
  return impl_->labels.size();
}
std::int64_t FlatIndex::dim() const {
  return impl_->dim;
}
Metric FlatIndex::metric() const {
  return impl_->metric;
}
std::size_t FlatIndex::memory_bytes() const {
  std::shared_lock<detail::RwLock> lock(impl_->rw);
  return impl_->data.capacity() * sizeof(float) + impl_->labels.memory_bytes();
}

}  // namespace panning::cpu
