// Scalar pieces of exact k-nearest-neighbour search shared by the CPU kernels
// (csrc/cpu/knn_scan.inc, compiled once per ISA) and the CUDA graph kernels (hnsw_build.hpp,
// csrc/cuda/knn.cu): distances from a dot product and a bounded, sorted top-k list.
// No intrinsics, no allocation, no exceptions.
//
// Conventions (those of panning/knn.hpp and panning.reference):
//   kL2     squared Euclidean distance |a - b|^2, here from the norm expansion
//           |a|^2 + |b|^2 - 2 <a, b>, clamped at 0 (rounding can make it slightly negative);
//   kIP     1 - <a, b>;   kCosine: 1 - <a, b> of unit rows.
//   Order   ascending distance; equal distances go to the lower id. A top-k list is always
//           sorted in that order, so its last entry is the one to evict next.
//   NaN     not a distance. Inputs are checked finite, but a row whose squared norm exceeds
//           FLT_MAX (|x| ~ 2e19) gives inf - inf in the expansion (inf * 0 for cosine). Such a
//           pair is not comparable, so it must never rank as near: knn_before puts NaN after
//           every number, +inf included (NaNs among themselves by id), knn_threshold and the
//           scans' `<=` filters reject it, and a list that starts full of +inf padding (the GPU's)
//           never takes it. A row left with fewer than k comparable rows keeps its padding
//           (-1 / +inf), as it does when the data has fewer than k other rows.
#pragma once

#include <math.h>

#include <cstdint>
#include <limits>

#include "panning/common.hpp"

namespace panning {

// |a|^2 + |b|^2 - 2 <a, b>, negative values clamped to 0, NaN kept (see "NaN" above: a clamp
// written `d > 0 ? d : 0` would turn it into 0, the nearest possible distance). The expansion
// loses absolute precision of about eps * (|a|^2 + |b|^2) to cancellation, which is why exact
// searches recompute the distances of the k winners directly (see FlatIndex) and why the graph
// build ranks l2 candidates on centred rows; it is only used to rank candidates.
PANNING_HD float knn_l2_from_dot(float sq_a, float sq_b, float dot) {
  const float d = (sq_a + sq_b) - 2.0f * dot;
  return d < 0.0f ? 0.0f : d + 0.0f;  // + 0 maps -0 to +0; NaN stays NaN
}

// 1 - <a, b>: the inner-product and cosine "distances".
PANNING_HD float knn_ip_from_dot(float dot) {
  return 1.0f - dot;
}

// What a row contributes to a distance besides its dot products: the squared norm for kL2
// (code 0), 1 / norm for kCosine (code 2; a zero row gives distance 1), unused for kIP.
PANNING_HD float knn_row_stat(int metric, float squared_norm) {
  if (metric == 0) return squared_norm;
  if (metric == 2) {
    const float n = squared_norm > 1e-30f ? squared_norm : 1e-30f;
    return 1.0f / sqrtf(n);
  }
  return 0.0f;
}

// The distance of a metric from a dot product and the two rows' knn_row_stat values.
PANNING_HD float knn_distance_from_dot(int metric, float stat_a, float stat_b, float dot) {
  if (metric == 0) return knn_l2_from_dot(stat_a, stat_b, dot);
  if (metric == 2) return 1.0f - dot * stat_a * stat_b;
  return 1.0f - dot;
}

// True when (da, ia) ranks before (db, ib): nearer, or as near with the lower id; NaN ranks
// after every number (a total order, so std::sort and the sorted lists stay consistent).
template <class Id>
PANNING_HD bool knn_before(float da, Id ia, float db, Id ib) {
  if (da < db) return true;
  if (da == db) return ia < ib;
  const bool a_nan = da != da, b_nan = db != db;
  return b_nan && (!a_nan || ia < ib);
}

// The distance a candidate must not exceed to enter a sorted list of `count` of at most `k`
// entries: +inf while the list has room or ends in NaN, else its last (worst) distance.
// Candidates equal to the threshold may still enter on a lower id, so callers filter with `<=`
// (which also rejects NaN candidates), then call knn_insert, which decides ties exactly.
PANNING_HD float knn_threshold(const float* dist, std::int64_t count, std::int64_t k) {
  const float inf = std::numeric_limits<float>::infinity();
  if (count < k) return inf;
  const float last = dist[k - 1];
  return last == last ? last : inf;
}

// Inserts (d, id) into the sorted list dist[0, count), ids[0, count) of capacity k, keeping the k
// first in knn_before order (a full list drops its last entry; a candidate ranking after the last
// entry of a full list is ignored). Returns the new count. O(k) moves per insertion, which is
// what a sorted list costs; candidates are filtered with knn_threshold first, so insertions are
// rare (about k ln(n / k) per query when ids arrive in random order of distance).
template <class Id>
PANNING_HD std::int64_t knn_insert(float* dist, Id* ids, std::int64_t count, std::int64_t k,
                                   float d, Id id) {
  if (count == k && !knn_before(d, id, dist[k - 1], ids[k - 1])) return count;
  std::int64_t pos = count < k ? count : k - 1;  // the slot freed at the end
  while (pos > 0 && knn_before(d, id, dist[pos - 1], ids[pos - 1])) {
    dist[pos] = dist[pos - 1];
    ids[pos] = ids[pos - 1];
    --pos;
  }
  dist[pos] = d;
  ids[pos] = id;
  return count < k ? count + 1 : count;
}

}  // namespace panning
