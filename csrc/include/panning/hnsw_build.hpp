// The math of building an HNSW graph from exact kNN candidates, shared by the CPU path
// (csrc/cpu/hnsw_build.cpp) and the CUDA kernels (csrc/cuda/knn.cu, hnsw_build.cu and
// hnsw_search.cu).
//
// The pipeline, per level (level 0 holds every node, level l the nodes drawn at l or above):
//   1. candidates: the K exact nearest neighbours of each node among the level's nodes;
//   2. prune: HNSW's heuristic neighbour selection (select_diverse) keeps at most m of them;
//   3. reverse: every kept edge u -> v offers u to v; each node keeps its R closest offers
//      (knn_insert, so the choice does not depend on the order offers arrive in);
//   4. merge: forward and reverse candidates, deduplicated and sorted (merge_unique), pruned
//      again by select_diverse to the level's link budget.
// Every ordering here is by (distance, id), so CPU and GPU results differ only where their
// floating-point distances differ.
//
// Functions take raw pointers and a distance callable; none allocates. No intrinsics, no CUDA
// types: PANNING_HD compiles them for the host and, under nvcc, for the device. The CPU steps
// built from them (panning::cpu::prune_candidates, reverse_merge) are declared at the end.
#pragma once

#include <cstdint>
#include <limits>

#include "panning/common.hpp"
#include "panning/interrupt.hpp"
#include "panning/knn.hpp"
#include "panning/knn_math.hpp"

namespace panning::graph {

// "No neighbour": the padding of id arrays.
constexpr std::uint32_t kNone = 0xffffffffu;

// Strict (distance, id) order: nearer first, ties to the lower id (knn_math.hpp's order). +inf
// marks empty slots (with kNone, the largest id) and sorts after every real candidate; a NaN
// distance (an overflowed norm) sorts after those, so a full list never takes it.
PANNING_HD bool closer(float da, std::uint32_t ia, float db, std::uint32_t ib) {
  return knn_before(da, ia, db, ib);
}

// Merges two lists sorted by closer() into `out` (capacity na + nb), dropping kNone entries and
// repeated ids (the first, nearer occurrence stays). Returns the merged length.
PANNING_HD int merge_unique(const float* da, const std::uint32_t* ia, int na, const float* db,
                            const std::uint32_t* ib, int nb, float* out_d, std::uint32_t* out_i) {
  int i = 0, j = 0, n = 0;
  while (i < na || j < nb) {
    float d;
    std::uint32_t id;
    if (j >= nb || (i < na && closer(da[i], ia[i], db[j], ib[j]))) {
      d = da[i];
      id = ia[i++];
    } else {
      d = db[j];
      id = ib[j++];
    }
    if (id == kNone) continue;
    bool seen = false;
    for (int t = 0; t < n && !seen; ++t) seen = out_i[t] == id;
    if (seen) continue;
    out_d[n] = d;
    out_i[n] = id;
    ++n;
  }
  return n;
}

// HNSW's heuristic neighbour selection (Malkov & Yashunin, Alg. 4, as hnswlib runs it: no
// extension, pruned candidates not kept). `cand_ids`/`cand_dist` hold n candidates sorted by
// closer(), distances measured from the base node; a candidate is kept when it is nearer to the
// base than to every neighbour kept so far. `pair(a, b)` returns the distance between nodes a
// and b. Writes at most m kept entries, in order, and returns their count. kNone entries end the
// list. Like hnswlib, n <= m candidates are all kept without comparing them.
template <class PairDistance>
PANNING_HD int select_diverse(const std::uint32_t* cand_ids, const float* cand_dist, int n, int m,
                              PairDistance&& pair, std::uint32_t* out_ids, float* out_dist) {
  int valid = 0;
  while (valid < n && cand_ids[valid] != kNone) ++valid;
  if (valid <= m) {
    for (int c = 0; c < valid; ++c) {
      out_ids[c] = cand_ids[c];
      out_dist[c] = cand_dist[c];
    }
    return valid;
  }
  n = valid;
  int kept = 0;
  for (int c = 0; c < n && kept < m; ++c) {
    const std::uint32_t id = cand_ids[c];
    if (id == kNone) break;
    bool keep = true;
    for (int r = 0; r < kept && keep; ++r) keep = !(pair(id, out_ids[r]) < cand_dist[c]);
    if (keep) {
      out_ids[kept] = id;
      out_dist[kept] = cand_dist[c];
      ++kept;
    }
  }
  return kept;
}

// select_diverse into a whole output row of m: the kept entries, then kNone / +inf padding.
template <class PairDistance>
PANNING_HD void select_row(const std::uint32_t* cand_ids, const float* cand_dist, int n, int m,
                           PairDistance&& pair, std::uint32_t* out_ids, float* out_dist) {
  for (int j = select_diverse(cand_ids, cand_dist, n, m, pair, out_ids, out_dist); j < m; ++j) {
    out_ids[j] = kNone;
    out_dist[j] = std::numeric_limits<float>::infinity();
  }
}

// The level-0 beam of the batched search (the CPU twin and the CUDA kernel): `size` entries
// sorted by closer(), flags[j] != 0 once entry j has been expanded. Inserts (d, id) unexpanded
// unless the beam is full and the entry is not closer than its last, or id is already in the
// beam; returns the new size. Because the bound only tightens once the beam is full, a node
// seen twice is treated the same both times: a forgetful "visited" set changes cost, not results.
PANNING_HD int beam_insert(float* dist, std::uint32_t* ids, std::uint8_t* flags, int size,
                           int capacity, float d, std::uint32_t id) {
  if (size == capacity && !closer(d, id, dist[size - 1], ids[size - 1])) return size;
  for (int j = 0; j < size; ++j)
    if (ids[j] == id) return size;
  int pos = size < capacity ? size : capacity - 1;
  while (pos > 0 && closer(d, id, dist[pos - 1], ids[pos - 1])) --pos;
  const int last = size < capacity ? size : capacity - 1;
  for (int j = last; j > pos; --j) {
    dist[j] = dist[j - 1];
    ids[j] = ids[j - 1];
    flags[j] = flags[j - 1];
  }
  dist[pos] = d;
  ids[pos] = id;
  flags[pos] = 0;
  return size < capacity ? size + 1 : size;
}

// The beam entry to expand next: the nearest not yet expanded, or -1 when the search is done.
PANNING_HD int beam_next(const std::uint8_t* flags, int size) {
  for (int j = 0; j < size; ++j)
    if (!flags[j]) return j;
  return -1;
}

// The link budget of a level: 2 * M on level 0, M above (hnswlib's maxM0 and maxM).
PANNING_HD int level_links(int M, int level) {
  return level == 0 ? 2 * M : M;
}

}  // namespace panning::graph

namespace panning::cpu {

// Steps 2-4 of building an HNSW level from exact kNN candidates (the pipeline above), on
// the CPU; the CUDA twins are in csrc/cuda/hnsw_build.cuh. x: the level's vectors, float32
// [n, dim] contiguous, normalised for cosine (which then runs as kIP). Ids are row numbers of x;
// kNone pads. All lists are sorted by (distance, id).
//
// prune_candidates: cand [n, K] (each row's K nearest other rows), plus optional extra [n, E]
// candidates (the node's links one level up: long-range edges that keep clusters connected;
// E = 0 for none) -> out [n, m], the rows kept by the heuristic selection.
void prune_candidates(const float* x, std::int64_t n, std::int64_t dim, Metric metric,
                      const std::uint32_t* cand, const float* cand_dist, int K,
                      const std::uint32_t* extra, const float* extra_dist, int E, int m,
                      std::uint32_t* out, float* out_dist, int threads,
                      const InterruptCheck& interrupted = {});
// reverse_merge: fwd [n, m_in] -> out [n, m_out]: each row's forward links plus the reverse_cap
// nearest rows linking to it, deduplicated and selected again.
void reverse_merge(const float* x, std::int64_t n, std::int64_t dim, Metric metric,
                   const std::uint32_t* fwd, const float* fwd_dist, int m_in, int reverse_cap,
                   int m_out, std::uint32_t* out, float* out_dist, int threads,
                   const InterruptCheck& interrupted = {});

}  // namespace panning::cpu
