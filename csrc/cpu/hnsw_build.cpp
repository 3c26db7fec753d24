// Building HNSW levels from exact kNN candidates on the CPU (prune, reverse, merge) and the beam
// search over exported links: the twins of csrc/cuda/hnsw_build.cu and csrc/cuda/hnsw_search.cu,
// running the same panning/hnsw_build.hpp functions, so the CUDA kernels differ only in who
// computes distances. (The beam search shares this file's row distance and chunked loop.)
#include "panning/hnsw_build.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "index_common.hpp"
#include "panning/hnsw.hpp"

namespace panning::cpu {
namespace {

constexpr std::int64_t kChunk = 16384;  // rows between interrupt checks

// Distance between rows of one float32 matrix (the level's vectors).
struct RowDistance {
  const float* x;
  std::int64_t dim;
  bool l2;
  float (*f)(const float*, const float*, std::int64_t);
  RowDistance(const float* x_, std::int64_t dim_, Metric metric)
      : x(x_), dim(dim_), l2(metric == Metric::kL2) {
    const DistanceKernels& k = distance_kernels();
    f = l2 ? k.l2_f32 : k.dot_f32;
  }
  float operator()(const float* a, const float* b) const {
    const float r = f(a, b, dim);
    return l2 ? r : 1.0f - r;
  }
  float operator()(std::uint32_t a, std::uint32_t b) const { return (*this)(row(a), row(b)); }
  const float* row(std::uint32_t i) const { return x + static_cast<std::int64_t>(i) * dim; }
};

// Runs body(i) for rows [0, n) in parallel chunks, checking for Ctrl-C between chunks.
template <class Body>
void for_rows(std::int64_t n, int threads, const InterruptCheck& interrupted, Body&& body) {
  threads = detail::resolve_threads(threads);
  for (std::int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const std::int64_t c1 = std::min(n, c0 + kChunk);
    detail::ExceptionCollector errors;
#pragma omp parallel for schedule(dynamic, 64) num_threads(threads)
    for (std::int64_t i = c0; i < c1; ++i) errors.run([&] { body(i); });
    errors.rethrow();
    detail::check_interrupt(interrupted);
  }
}

void check_shape(std::int64_t n, std::int64_t dim, int width, const char* what) {
  if (n < 0 || dim <= 0) throw std::invalid_argument("graph build: bad matrix shape");
  if (width <= 0) throw std::invalid_argument(std::string(what) + " must be positive");
  if (static_cast<std::uint64_t>(n) >= graph::kNone)
    throw std::invalid_argument("graph build: at most 2^32 - 2 rows");
}

void check_ids(const std::uint32_t* ids, std::int64_t n, int width, const char* what) {
  for (std::int64_t i = 0; i < n * width; ++i)
    if (ids[i] != graph::kNone && ids[i] >= n)
      throw std::invalid_argument(std::string(what) + " holds id " + std::to_string(ids[i]) +
                                  " outside [0, " + std::to_string(n) + ")");
}

}  // namespace

void prune_candidates(const float* x, std::int64_t n, std::int64_t dim, Metric metric,
                      const std::uint32_t* cand, const float* cand_dist, int K,
                      const std::uint32_t* extra, const float* extra_dist, int E, int m,
                      std::uint32_t* out, float* out_dist, int threads,
                      const InterruptCheck& interrupted) {
  check_shape(n, dim, K, "K");
  check_shape(n, dim, m, "m");
  if (E < 0 || (E > 0 && !extra)) throw std::invalid_argument("E must be >= 0");
  check_ids(cand, n, K, "candidates");
  if (E > 0) check_ids(extra, n, E, "extra candidates");
  const RowDistance dist(x, dim, metric);
  threads = detail::resolve_threads(threads);
  std::vector<std::vector<float>> md(static_cast<std::size_t>(threads),
                                     std::vector<float>(static_cast<std::size_t>(K + E)));
  std::vector<std::vector<std::uint32_t>> mi(
      static_cast<std::size_t>(threads),
      std::vector<std::uint32_t>(static_cast<std::size_t>(K + E)));
  for_rows(n, threads, interrupted, [&](std::int64_t i) {
    const std::uint32_t* ci = cand + i * K;
    const float* cd = cand_dist + i * K;
    int count = K;
    if (E > 0) {
      const auto t = static_cast<std::size_t>(detail::thread_id());
      count = graph::merge_unique(cd, ci, K, extra_dist + i * E, extra + i * E, E, md[t].data(),
                                  mi[t].data());
      ci = mi[t].data();
      cd = md[t].data();
    }
    graph::select_row(ci, cd, count, m, dist, out + i * m, out_dist + i * m);
  });
}

void reverse_merge(const float* x, std::int64_t n, std::int64_t dim, Metric metric,
                   const std::uint32_t* fwd, const float* fwd_dist, int m_in, int reverse_cap,
                   int m_out, std::uint32_t* out, float* out_dist, int threads,
                   const InterruptCheck& interrupted) {
  check_shape(n, dim, m_in, "m_in");
  check_shape(n, dim, m_out, "m_out");
  if (reverse_cap < 0) throw std::invalid_argument("reverse_cap must be >= 0");
  check_ids(fwd, n, m_in, "forward links");
  // Offers u -> v grouped by v (counting sort): the order inside a group does not matter, each
  // node keeps its reverse_cap nearest offers by (distance, id).
  std::vector<std::int64_t> start(static_cast<std::size_t>(n) + 1, 0);
  for (std::int64_t e = 0; e < n * m_in; ++e)
    if (fwd[e] != graph::kNone) ++start[fwd[e] + 1];
  std::partial_sum(start.begin(), start.end(), start.begin());
  std::vector<std::int64_t> cursor(start.begin(), start.end() - 1);
  std::vector<std::uint32_t> offer_id(static_cast<std::size_t>(start.back()));
  std::vector<float> offer_dist(offer_id.size());
  for (std::int64_t u = 0; u < n; ++u)
    for (int j = 0; j < m_in; ++j) {
      const std::uint32_t v = fwd[u * m_in + j];
      if (v == graph::kNone) continue;
      const std::int64_t at = cursor[v]++;
      offer_id[static_cast<std::size_t>(at)] = static_cast<std::uint32_t>(u);
      offer_dist[static_cast<std::size_t>(at)] = fwd_dist[u * m_in + j];
    }
  const RowDistance dist(x, dim, metric);
  const int cap = std::max(reverse_cap, 1);
  threads = detail::resolve_threads(threads);
  std::vector<std::vector<float>> rd(static_cast<std::size_t>(threads)),
      md(static_cast<std::size_t>(threads));
  std::vector<std::vector<std::uint32_t>> ri(static_cast<std::size_t>(threads)),
      mi(static_cast<std::size_t>(threads));
  for_rows(n, threads, interrupted, [&](std::int64_t v) {
    const auto t = static_cast<std::size_t>(detail::thread_id());
    rd[t].resize(static_cast<std::size_t>(cap));
    ri[t].resize(static_cast<std::size_t>(cap));
    md[t].resize(static_cast<std::size_t>(m_in + cap));
    mi[t].resize(static_cast<std::size_t>(m_in + cap));
    std::int64_t nr = 0;  // each u offers itself to v at most once: no duplicates to handle
    if (reverse_cap > 0)
      for (std::int64_t e = start[v]; e < start[v + 1]; ++e)
        nr = knn_insert(rd[t].data(), ri[t].data(), nr, std::int64_t{reverse_cap},
                        offer_dist[static_cast<std::size_t>(e)],
                        offer_id[static_cast<std::size_t>(e)]);
    const int nm =
        graph::merge_unique(fwd_dist + v * m_in, fwd + v * m_in, m_in, rd[t].data(), ri[t].data(),
                            static_cast<int>(nr), md[t].data(), mi[t].data());
    graph::select_row(mi[t].data(), md[t].data(), nm, m_out, dist, out + v * m_out,
                      out_dist + v * m_out);
  });
}

void beam_search(const float* x, std::int64_t size, std::int64_t dim, Metric metric, int M,
                 const std::uint32_t* level0, const std::uint32_t* upper,
                 const std::int64_t* upper_offset, std::int64_t entry, int max_level,
                 const float* q, std::int64_t nq, int k, int ef, std::uint32_t* out_ids,
                 float* out_dist, int threads, const InterruptCheck& interrupted) {
  if (k <= 0) throw std::invalid_argument("k must be positive");
  ef = std::max(ef, k);
  const RowDistance dist(x, dim, metric);
  const int m0 = graph::level_links(M, 0), m = graph::level_links(M, 1);
  threads = detail::resolve_threads(threads);
  std::vector<std::vector<float>> bd(static_cast<std::size_t>(threads));
  std::vector<std::vector<std::uint32_t>> bi(static_cast<std::size_t>(threads));
  std::vector<std::vector<std::uint8_t>> bf(static_cast<std::size_t>(threads));
  // Visited marks: a tag per node compared with a per-query epoch (no clearing between queries).
  std::vector<std::vector<std::uint32_t>> tags(static_cast<std::size_t>(threads));
  std::vector<std::uint32_t> epochs(static_cast<std::size_t>(threads), 0);
  for_rows(nq, threads, interrupted, [&](std::int64_t qi) {
    const float* qv = q + qi * dim;
    std::uint32_t* oi = out_ids + qi * k;
    float* od = out_dist + qi * k;
    std::fill(oi, oi + k, graph::kNone);
    std::fill(od, od + k, std::numeric_limits<float>::infinity());
    if (size == 0 || entry < 0) return;
    const auto t = static_cast<std::size_t>(detail::thread_id());
    // Upper levels: greedy descent (ties keep the current node).
    auto cur = static_cast<std::uint32_t>(entry);
    float cur_d = dist(qv, dist.row(cur));
    for (int level = max_level; level > 0; --level) {
      for (bool changed = true; changed;) {
        changed = false;
        const std::uint32_t* l = upper + upper_offset[cur] + (level - 1) * m;
        for (int j = 0; j < m && l[j] != graph::kNone; ++j) {
          const float d = dist(qv, dist.row(l[j]));
          if (d < cur_d) {
            cur_d = d;
            cur = l[j];
            changed = true;
          }
        }
      }
    }
    // Level 0: one sorted beam, expanding its nearest unexpanded entry until none is left.
    std::vector<float>& d = bd[t];
    std::vector<std::uint32_t>& ids = bi[t];
    std::vector<std::uint8_t>& flags = bf[t];
    d.resize(static_cast<std::size_t>(ef));
    ids.resize(static_cast<std::size_t>(ef));
    flags.resize(static_cast<std::size_t>(ef));
    std::vector<std::uint32_t>& tag = tags[t];
    if (tag.size() < static_cast<std::size_t>(size)) tag.assign(static_cast<std::size_t>(size), 0);
    const std::uint32_t epoch = ++epochs[t];
    int count = graph::beam_insert(d.data(), ids.data(), flags.data(), 0, ef, cur_d, cur);
    tag[cur] = epoch;
    for (int next; (next = graph::beam_next(flags.data(), count)) >= 0;) {
      flags[static_cast<std::size_t>(next)] = 1;
      const std::uint32_t* l =
          level0 + static_cast<std::int64_t>(ids[static_cast<std::size_t>(next)]) * m0;
      for (int j = 0; j < m0 && l[j] != graph::kNone; ++j) {
        const std::uint32_t v = l[j];
        if (tag[v] == epoch) continue;
        tag[v] = epoch;
        count = graph::beam_insert(d.data(), ids.data(), flags.data(), count, ef,
                                   dist(qv, dist.row(v)), v);
      }
    }
    for (int j = 0; j < std::min(k, count); ++j) {
      oi[j] = ids[static_cast<std::size_t>(j)];
      od[j] = d[static_cast<std::size_t>(j)];
    }
  });
}

}  // namespace panning::cpu
