// FlatIndex: the exact twin of the HNSW index, and exact kNN graphs.
//
// Two brute-force paths, both exact, both with ties to the lower insertion order (as
// panning.reference.knn_search / knn_graph):
//
// - Packed (kNN graphs, and searches of >= kMinPackedQueries queries): a GEMM-style scan
//   (knn_scan.inc). The stored rows are packed once per call into row-interleaved panels, each
//   task packs its block of queries likewise, and register tiles of mr x nr dot products are
//   turned into distances |q|^2 + |x|^2 - 2 <q, x> (l2) or 1 - <q, x> in registers and filtered
//   against each query's current k-th distance, so almost every candidate costs one vector
//   compare. This runs the FMA units at most of their peak, where the pairwise kernels below
//   spend a horizontal sum per pair.
//   Exactness: the norm expansion ranks candidates; it loses about eps * (|q|^2 + |x|^2) to
//   cancellation, so the k winners' distances are then recomputed directly (|q - x|^2 or
//   1 - <q, x> by the pairwise kernels, the same values the direct path returns) and re-sorted.
//   Results can differ from a float64 reference only where two candidates at rank k are closer
//   than that rounding error, as with any float32 search (NumPy's float32 matmul included).
// - Direct (a few queries, where packing the whole index would cost more than it saves):
//   queries are taken 16 at a time and the stored rows in tiles of kTileRows, so a tile (~200 KB
//   at d = 384) stays in L2 while every query of the block passes over it; inside, 4x4 register
//   tiles (distance_kernels.inc) feed four FMAs per load.
//
// In both, each (query block, slice of rows) pair is one task, so a handful of queries still uses
// all threads; per-task top-k lists are merged at the end.

#include "panning/knn.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <shared_mutex>
#include <utility>
#include <vector>

#include "index_common.hpp"
#include "panning/knn_math.hpp"

namespace panning {

const char* metric_name(Metric m) {
  switch (m) {
    case Metric::kL2:
      return "l2";
    case Metric::kIP:
      return "ip";
    case Metric::kCosine:
      return "cosine";
  }
  return "?";
}

}  // namespace panning

namespace panning::cpu {

using detail::ExceptionCollector;

namespace {

constexpr std::int64_t kQueryBlock = 16;
constexpr std::int64_t kTileRows = 128;
constexpr std::int64_t kMinSliceRows = 4096;  // smallest slice of rows worth its own task

// Packed path. Fewer queries than this take the direct path: packing every stored row costs about
// as much as scanning them for a few dozen queries.
constexpr std::int64_t kMinPackedQueries = 64;
// Queries per task, in panels of mr. The stored rows are read from memory once per task, so
// bigger tasks need less bandwidth, while the task's packed queries (16 * mr * dim floats:
// 150 KB for AVX2, 300 KB for AVX-512 at d = 384) should stay in L2.
constexpr std::int64_t kQueryPanelsPerTask = 16;
// FMAs per thread between interrupt checks (~0.1-0.3 s).
constexpr std::int64_t kPackedChunkFmas = std::int64_t{1} << 31;

// float storage aligned to 64 bytes (one cache line, one zmm load), zero-filled: panel padding
// must be zero rows.
class AlignedFloats {
 public:
  explicit AlignedFloats(std::size_t n) : raw_(n + 16, 0.0f) {
    const auto addr = reinterpret_cast<std::uintptr_t>(raw_.data());
    data_ = raw_.data() + ((64 - addr % 64) % 64) / sizeof(float);
  }
  float* data() { return data_; }
  const float* data() const { return data_; }

 private:
  std::vector<float> raw_;
  float* data_;
};

// Rows [first, first + count) of rows [*, dim] into panels of `width` rows, float[dim][width]
// each, starting at out (count rounded up to whole panels; out holds zeros there already).
// `centre` (or null): subtracted from every row as it is packed.
void pack_panels(const float* rows, std::int64_t first, std::int64_t count, std::int64_t dim,
                 std::int64_t width, float* out, const float* centre) {
  for (std::int64_t p = 0; p * width < count; ++p) {
    float* panel = out + p * width * dim;
    const std::int64_t lanes = std::min(width, count - p * width);
    for (std::int64_t c = 0; c < lanes; ++c) {
      const float* row = rows + (first + p * width + c) * dim;
      if (centre)
        for (std::int64_t t = 0; t < dim; ++t) panel[t * width + c] = row[t] - centre[t];
      else
        for (std::int64_t t = 0; t < dim; ++t) panel[t * width + c] = row[t];
    }
  }
}

// |row - centre|^2 (centre may be null), by the dispatched dot kernel on a scratch copy.
float centred_sq(const DistanceKernels& kern, const float* row, const float* centre,
                 std::int64_t dim, std::vector<float>& scratch) {
  if (!centre) return kern.dot_f32(row, row, dim);
  scratch.resize(static_cast<std::size_t>(dim));
  for (std::int64_t t = 0; t < dim; ++t) scratch[static_cast<std::size_t>(t)] = row[t] - centre[t];
  return kern.dot_f32(scratch.data(), scratch.data(), dim);
}

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

// Tasks per query block: a block of few queries is split into row slices so every thread works,
// but never into slices smaller than kMinSliceRows.
std::int64_t slice_count(std::int64_t qblocks, int threads, std::int64_t n) {
  if (qblocks >= threads) return 1;
  return std::min<std::int64_t>((threads + qblocks - 1) / qblocks,
                                std::max<std::int64_t>(1, n / kMinSliceRows));
}

// Writes the first m of `sorted` (nearest first) as labels and distances into a result row of k,
// padding with -1 / +inf.
void write_row(const detail::LabelTable& labels, const std::vector<Hit>& sorted, std::int64_t m,
               std::int64_t k, std::int64_t* oi, float* od) {
  for (std::int64_t j = 0; j < k; ++j) {
    if (j < m) {
      oi[j] = labels.label(sorted[static_cast<std::size_t>(j)].second);
      od[j] = sorted[static_cast<std::size_t>(j)].first;
    } else {
      oi[j] = -1;
      od[j] = std::numeric_limits<float>::infinity();
    }
  }
}

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
  // A k beyond the index size only adds padding: the lists are sized min(k, size) and the rest
  // of each output row is padded, so a huge k costs output memory, not per-task work space.
  void search_rows(const float* q, std::int64_t nq, std::int64_t k, const detail::ExcludeSet& ex,
                   std::int64_t self_offset, int threads, std::int64_t* out_ids, float* out_dist,
                   const InterruptCheck& interrupted) const {
    const std::int64_t kk = std::max<std::int64_t>(1, std::min(k, labels.size()));
    if (kk == k) {
      search_rows_k(q, nq, k, ex, self_offset, threads, out_ids, out_dist, interrupted);
      return;
    }
    std::vector<std::int64_t> ids;
    std::vector<float> dist;
    checked_resize(ids, nq, kk, "the search results");
    checked_resize(dist, nq, kk, "the search results");
    search_rows_k(q, nq, kk, ex, self_offset, threads, ids.data(), dist.data(), interrupted);
    for (std::int64_t i = 0; i < nq; ++i) {
      std::copy(ids.begin() + i * kk, ids.begin() + (i + 1) * kk, out_ids + i * k);
      std::copy(dist.begin() + i * kk, dist.begin() + (i + 1) * kk, out_dist + i * k);
      std::fill(out_ids + i * k + kk, out_ids + (i + 1) * k, std::int64_t{-1});
      std::fill(out_dist + i * k + kk, out_dist + (i + 1) * k,
                std::numeric_limits<float>::infinity());
    }
  }

  void search_rows_k(const float* q, std::int64_t nq, std::int64_t k, const detail::ExcludeSet& ex,
                     std::int64_t self_offset, int threads, std::int64_t* out_ids, float* out_dist,
                     const InterruptCheck& interrupted) const {
    if (nq >= kMinPackedQueries || self_offset >= 0)
      search_packed(q, nq, k, ex, self_offset, threads, out_ids, out_dist, interrupted);
    else
      search_direct(q, nq, k, ex, self_offset, threads, out_ids, out_dist, interrupted);
  }

  // The distance the direct path reports for query row qr and stored row `id`.
  float exact_distance(const DistanceKernels& kern, const float* qr, std::int64_t id) const {
    const float* xr = data.data() + id * dim;
    return metric == Metric::kL2 ? kern.l2_f32(qr, xr, dim) : 1.0f - kern.dot_f32(qr, xr, dim);
  }

  void search_packed(const float* q, std::int64_t nq, std::int64_t k, const detail::ExcludeSet& ex,
                     std::int64_t self_offset, int threads, std::int64_t* out_ids, float* out_dist,
                     const InterruptCheck& interrupted) const;

  void search_direct(const float* q, std::int64_t nq, std::int64_t k, const detail::ExcludeSet& ex,
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
      const std::int64_t slices = slice_count(qblocks, threads, n);
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
          write_row(labels, merged, m, k, out_ids + (q0 + i) * k, out_dist + (q0 + i) * k);
        }
      }
      detail::check_interrupt(interrupted);
    }
  }
};

void FlatIndex::Impl::search_packed(const float* q, std::int64_t nq, std::int64_t k,
                                    const detail::ExcludeSet& ex, std::int64_t self_offset,
                                    int threads, std::int64_t* out_ids, float* out_dist,
                                    const InterruptCheck& interrupted) const {
  const DistanceKernels& kern = distance_kernels();
  const std::int64_t n = labels.size();
  const bool l2 = metric == Metric::kL2;
  const std::int64_t mr = kern.knn_mr;
  const std::int64_t nr = kern.knn_nr;

  // l2 ranks by |q - c|^2 + |x - c|^2 - 2 <q - c, x - c> with c the mean of the stored rows: l2
  // ignores the shift, and the expansion's cancellation error, about eps * (|q|^2 + |x|^2), is
  // then measured from the data's centre instead of the origin (without it, data far from the
  // origin, e.g. 1000 + 0.01 * randn, is ranked by rounding noise).
  // Each coordinate of c is the mean rounded to a power of two at or below the coordinate's
  // standard deviation: x - c is then exact for the rows near c (Sterbenz), and data on a grid
  // (small integers) stays on it, so exact ties remain exact ties.
  std::vector<float> centre_store;
  if (l2 && n > 0) {
    std::vector<double> sum(static_cast<std::size_t>(dim), 0.0), sq(sum);
    for (std::int64_t r = 0; r < n; ++r)
      for (std::int64_t t = 0; t < dim; ++t) {
        const double v = data[r * dim + t];
        sum[static_cast<std::size_t>(t)] += v;
        sq[static_cast<std::size_t>(t)] += v * v;
      }
    centre_store.resize(static_cast<std::size_t>(dim));
    for (std::int64_t t = 0; t < dim; ++t) {
      const auto i = static_cast<std::size_t>(t);
      const double mean = sum[i] / static_cast<double>(n);
      const double var = std::max(0.0, sq[i] / static_cast<double>(n) - mean * mean);
      double c = mean;
      if (var > 0) {
        const double grid = std::exp2(std::floor(std::log2(std::sqrt(var))));
        c = std::round(mean / grid) * grid;
      }
      centre_store[i] = static_cast<float>(c);
    }
  }
  const float* centre = centre_store.empty() ? nullptr : centre_store.data();

  // The stored rows in panels of nr, and their squared norms (zero-padded to whole panels).
  const std::int64_t stored_panels = (n + nr - 1) / nr;
  AlignedFloats stored(static_cast<std::size_t>(stored_panels * nr * dim));
  AlignedFloats stored_sq(static_cast<std::size_t>(stored_panels * nr));
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t p = 0; p < stored_panels; ++p) {
    const std::int64_t first = p * nr;
    const std::int64_t count = std::min(nr, n - first);
    pack_panels(data.data(), first, count, dim, nr, stored.data() + first * dim, centre);
    std::vector<float> scratch;
    if (l2)
      for (std::int64_t r = first; r < first + count; ++r)
        stored_sq.data()[r] = centred_sq(kern, data.data() + r * dim, centre, dim, scratch);
  }
  std::vector<std::uint64_t> exclude_bits;
  if (ex.any()) {
    exclude_bits.assign(static_cast<std::size_t>((n + 63) / 64), 0);
    for (std::int64_t id = 0; id < n; ++id)
      if (ex.excluded(id))
        exclude_bits[static_cast<std::size_t>(id >> 6)] |= std::uint64_t{1} << (id & 63);
  }

  const std::int64_t mc = kQueryPanelsPerTask * mr;
  const std::int64_t qblocks_total = (nq + mc - 1) / mc;
  const std::int64_t fmas_per_qblock = std::max<std::int64_t>(1, mc * n * dim);
  const std::int64_t chunk_qblocks =
      threads * std::max<std::int64_t>(1, kPackedChunkFmas / fmas_per_qblock);
  for (std::int64_t cb0 = 0; cb0 < qblocks_total; cb0 += chunk_qblocks) {
    const std::int64_t cb1 = std::min(qblocks_total, cb0 + chunk_qblocks);
    const std::int64_t qblocks = cb1 - cb0;
    const std::int64_t slices = slice_count(qblocks, threads, n);
    // Slices start on panel boundaries (the scan's contract).
    const std::int64_t slice_rows = ((n + slices - 1) / slices + nr - 1) / nr * nr;
    const std::int64_t tasks = qblocks * slices;
    // Top-k lists per task and query: [task][query in block][k].
    std::vector<float> best_dist(static_cast<std::size_t>(tasks * mc * k));
    std::vector<std::int64_t> best_ids(best_dist.size());
    std::vector<std::int64_t> best_count(static_cast<std::size_t>(tasks * mc), 0);
    ExceptionCollector errors;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (std::int64_t t = 0; t < tasks; ++t) {
      errors.run([&] {
        const std::int64_t qb = cb0 + t / slices;
        const std::int64_t s = t % slices;
        const std::int64_t q0 = qb * mc;
        const std::int64_t qn = std::min(mc, nq - q0);
        const std::int64_t r0 = s * slice_rows;
        const std::int64_t r1 = std::min(n, r0 + slice_rows);
        if (r0 >= r1) return;
        AlignedFloats queries(static_cast<std::size_t>((qn + mr - 1) / mr * mr * dim));
        pack_panels(q, q0, qn, dim, mr, queries.data(), centre);
        std::vector<float> query_sq(static_cast<std::size_t>(qn));
        std::vector<float> scratch;
        if (l2)
          for (std::int64_t i = 0; i < qn; ++i)
            query_sq[i] = centred_sq(kern, q + (q0 + i) * dim, centre, dim, scratch);
        KnnScanArgs a;
        a.dim = dim;
        a.l2 = l2;
        a.queries = queries.data();
        a.query_sq = query_sq.data();
        a.nq = qn;
        a.stored = stored.data();
        a.stored_sq = stored_sq.data();
        a.begin = r0;
        a.end = r1;
        a.self_first = self_offset >= 0 ? self_offset + q0 : -1;
        a.exclude = exclude_bits.empty() ? nullptr : exclude_bits.data();
        a.k = k;
        a.best_dist = best_dist.data() + t * mc * k;
        a.best_ids = best_ids.data() + t * mc * k;
        a.best_count = best_count.data() + t * mc;
        kern.knn_scan(a);
      });
    }
    errors.rethrow();
    // Per query: merge the slices' lists in scan order (ranking by the expanded distances, so the
    // winners do not depend on the slicing), recompute the winners' distances directly, re-sort.
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::int64_t qb = 0; qb < qblocks; ++qb) {
      const std::int64_t q0 = (cb0 + qb) * mc;
      const std::int64_t qn = std::min(mc, nq - q0);
      std::vector<float> md(static_cast<std::size_t>(k));
      std::vector<std::int64_t> mi(static_cast<std::size_t>(k));
      for (std::int64_t i = 0; i < qn; ++i) {
        std::int64_t m = 0;
        for (std::int64_t s = 0; s < slices; ++s) {
          const std::int64_t t = qb * slices + s;
          const float* sd = best_dist.data() + (t * mc + i) * k;
          const std::int64_t* si = best_ids.data() + (t * mc + i) * k;
          for (std::int64_t j = 0; j < best_count[static_cast<std::size_t>(t * mc + i)]; ++j)
            m = knn_insert(md.data(), mi.data(), m, k, sd[j], si[j]);
        }
        const float* qr = q + (q0 + i) * dim;
        std::vector<Hit> order(static_cast<std::size_t>(m));
        for (std::int64_t j = 0; j < m; ++j) {
          const std::int64_t id = mi[static_cast<std::size_t>(j)];
          order[static_cast<std::size_t>(j)] = {exact_distance(kern, qr, id), id};
        }
        std::sort(order.begin(), order.end(), [](const Hit& x, const Hit& y) {
          return knn_before(x.first, x.second, y.first, y.second);
        });
        write_row(labels, order, m, k, out_ids + (q0 + i) * k, out_dist + (q0 + i) * k);
      }
    }
    detail::check_interrupt(interrupted);
  }
}

FlatIndex::FlatIndex(std::int64_t dim, Metric metric) : impl_(new Impl) {
  if (dim <= 0 || dim > kMaxDim)
    throw std::invalid_argument("dim must be in [1, " + std::to_string(kMaxDim) + "]; got " +
                                std::to_string(dim));
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
  std::vector<float> rows;
  checked_resize(rows, x.rows, s.dim, "the vectors as float32");
  s.convert_rows(x, rows.data(), threads, "x");
  detail::check_interrupt(interrupted);
  s.data.insert(s.data.end(), rows.begin(), rows.end());
  s.labels.append(ids, x.rows);
}

void FlatIndex::search(const MatrixView& q, std::int64_t k, const std::int64_t* exclude,
                       std::int64_t n_exclude, int threads, std::int64_t* out_ids,
                       float* out_distances, const InterruptCheck& interrupted) const {
  check_k(k, "k");
  std::shared_lock<detail::RwLock> lock(impl_->rw);
  threads = detail::resolve_threads(threads);
  const Impl& s = *impl_;
  std::vector<float> queries;
  checked_resize(queries, q.rows, s.dim, "the queries as float32");
  s.convert_rows(q, queries.data(), threads, "queries");
  detail::ExcludeSet ex(s.labels, exclude, n_exclude);
  s.search_rows(queries.data(), q.rows, k, ex, -1, threads, out_ids, out_distances, interrupted);
}

SearchResult FlatIndex::knn_graph(std::int64_t k, int threads,
                                  const InterruptCheck& interrupted) const {
  check_k(k, "k");
  std::shared_lock<detail::RwLock> lock(impl_->rw);
  threads = detail::resolve_threads(threads);
  const Impl& s = *impl_;
  SearchResult out;
  checked_resize(out.ids, s.labels.size(), k, "the kNN graph's ids");
  checked_resize(out.distances, s.labels.size(), k, "the kNN graph's distances");
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
