// Pieces shared by the HNSW and flat indexes: input rows -> float32, validation, labels,
// exclusion sets, OpenMP helpers. Internal to csrc/cpu.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "distance_kernels.hpp"
#include "panning/knn.hpp"
#include "panning/scoring_math.hpp"
#include "panning/sizes.hpp"

#if PANNING_WITH_OPENMP
#include <omp.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include <cstdlib>

namespace panning::cpu::detail {

inline int resolve_threads(int threads) {
  // threads <= 0: every core.
  if (threads > kMaxThreads)
    throw std::invalid_argument("threads must be at most " + std::to_string(kMaxThreads) +
                                "; got " + std::to_string(threads));
#if PANNING_WITH_OPENMP
  return threads > 0 ? threads : omp_get_max_threads();
#else
  (void)threads;
  return 1;
#endif
}

// Memory for a large array searched in random order (an index's nodes): `align`-aligned, and for
// arrays of 4 MiB or more, 2 MiB-aligned and marked for transparent huge pages (Linux), because a
// search touches one node per 4 KiB page and would otherwise miss the TLB on nearly every visited
// node. Free with std::free. nullptr when out of memory.
inline void* alloc_large(std::size_t bytes, std::size_t align) {
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  if (bytes >= 2 * kHuge) align = std::max(align, kHuge);
  const std::size_t rounded = (bytes + align - 1) / align * align;  // aligned_alloc needs it
  void* p = std::aligned_alloc(align, rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p && align >= kHuge) madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return p;
}

inline int thread_id() {
#if PANNING_WITH_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline void check_interrupt(const InterruptCheck& interrupted) {
  if (interrupted && interrupted()) throw Interrupted();
}

// Exceptions may not leave an OpenMP region: workers park the first one here and the calling
// thread rethrows it after the region.
class ExceptionCollector {
 public:
  template <class F>
  void run(F&& f) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
      failed_.store(true);
    }
  }
  void rethrow() {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
};

// Searches share the index, add() takes it alone. std::shared_mutex alone lets a steady stream
// of searches starve an add (glibc prefers readers); the turnstile makes new searches queue
// behind a waiting add.
class RwLock {
 public:
  void lock_shared() {
    {
      std::lock_guard<std::mutex> wait_for_writers(turnstile_);
    }
    rw_.lock_shared();
  }
  void unlock_shared() { rw_.unlock_shared(); }
  void lock() {
    std::lock_guard<std::mutex> block_new_readers(turnstile_);
    rw_.lock();
  }
  void unlock() { rw_.unlock(); }

 private:
  std::mutex turnstile_;
  std::shared_mutex rw_;
};

// Row r of x as float32 in out[0, x.cols).
inline void read_row(const MatrixView& x, std::int64_t r, float* out, const DistanceKernels& k) {
  if (x.dtype == DType::kFloat32) {
    const float* p = static_cast<const float*>(x.data) + r * x.row_stride;
    if (x.col_stride == 1) {
      std::copy(p, p + x.cols, out);
    } else {
      for (std::int64_t j = 0; j < x.cols; ++j) out[j] = p[j * x.col_stride];
    }
  } else {
    const std::uint16_t* p = static_cast<const std::uint16_t*>(x.data) + r * x.row_stride;
    if (x.col_stride == 1) {
      k.half_to_float(p, x.cols, out);
    } else {
      for (std::int64_t j = 0; j < x.cols; ++j) out[j] = half_bits_to_float(p[j * x.col_stride]);
    }
  }
}

inline bool all_finite(const float* v, std::int64_t d) {
  bool ok = true;
  for (std::int64_t j = 0; j < d; ++j) ok &= std::isfinite(v[j]);
  return ok;
}

// Scales v to unit length (zero vectors stay zero), as reference.pairwise_distances does.
inline void normalize(float* v, std::int64_t d) {
  double s = 0.0;
  for (std::int64_t j = 0; j < d; ++j) s += static_cast<double>(v[j]) * v[j];
  const double n = std::max(std::sqrt(s), 1e-30);
  const float inv = static_cast<float>(1.0 / n);
  for (std::int64_t j = 0; j < d; ++j) v[j] *= inv;
}

inline void check_input(const MatrixView& x, std::int64_t dim, const char* what) {
  if (x.dtype != DType::kFloat32 && x.dtype != DType::kFloat16)
    throw std::invalid_argument(std::string(what) + " must be float32 or float16");
  if (x.rows > 0 && x.cols != dim)
    throw std::invalid_argument(std::string(what) + " has " + std::to_string(x.cols) +
                                " columns but the index has dim " + std::to_string(dim));
}

// Index of the first row of x holding NaN or inf, or -1. Parallel; reads x once.
inline std::int64_t first_non_finite_row(const MatrixView& x, int threads,
                                         const DistanceKernels& k) {
  std::atomic<std::int64_t> first{x.rows};
  std::vector<std::vector<float>> bufs(threads,
                                       std::vector<float>(std::max<std::int64_t>(1, x.cols)));
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t r = 0; r < x.rows; ++r) {
    float* b = bufs[thread_id()].data();
    read_row(x, r, b, k);
    if (!all_finite(b, x.cols)) {
      std::int64_t cur = first.load();
      while (r < cur && !first.compare_exchange_weak(cur, r)) {
      }
    }
  }
  const std::int64_t f = first.load();
  return f == x.rows ? -1 : f;
}

// The user's ids ("labels") of the stored vectors, in insertion order, and the way back. While
// every label equals its insertion number (the default ids, and what Seals and most users
// pass), the reverse map is the identity and is not stored: ~40 bytes per vector saved, and
// adding n default ids costs O(n) instead of 2n hash-map insertions. The first other id turns
// the map on.
class LabelTable {
 public:
  std::int64_t size() const { return static_cast<std::int64_t>(labels_.size()); }
  std::int64_t label(std::int64_t internal) const { return labels_[internal]; }
  const std::vector<std::int64_t>& labels() const { return labels_; }

  // Throws std::invalid_argument naming the first label of `ids` that is already present or
  // repeated within `ids`. Changes nothing.
  void check_new(const std::int64_t* ids, std::int64_t n) const {
    if (continues_identity(ids, n)) return;  // size(), size() + 1, ...: new and distinct
    std::unordered_map<std::int64_t, std::int64_t> seen;
    seen.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      if (ids[i] < 0)
        throw std::invalid_argument("id " + std::to_string(ids[i]) +
                                    " is negative; ids must be >= 0 (-1 marks missing results)");
      if (find(ids[i]) >= 0)
        throw std::invalid_argument("id " + std::to_string(ids[i]) + " is already in the index");
      if (!seen.emplace(ids[i], i).second)
        throw std::invalid_argument("id " + std::to_string(ids[i]) + " appears twice in ids");
    }
  }
  void append(const std::int64_t* ids, std::int64_t n) {
    if (identity_ && !continues_identity(ids, n)) {
      identity_ = false;  // materialise the map for the labels so far
      for (std::size_t i = 0; i < labels_.size(); ++i)
        to_internal_.emplace(labels_[i], static_cast<std::int64_t>(i));
    }
    if (!identity_) to_internal_.reserve(labels_.size() + static_cast<std::size_t>(n));
    labels_.reserve(labels_.size() + static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      if (!identity_) to_internal_.emplace(ids[i], static_cast<std::int64_t>(labels_.size()));
      labels_.push_back(ids[i]);
    }
  }
  // Forgets the labels from `count` on (an interrupted add keeps only what it inserted).
  void truncate(std::int64_t count) {
    if (!identity_)
      for (std::int64_t i = count; i < size(); ++i) to_internal_.erase(labels_[i]);
    labels_.resize(static_cast<std::size_t>(count));
  }
  std::int64_t find(std::int64_t label) const {
    if (identity_) return label >= 0 && label < size() ? label : -1;
    auto it = to_internal_.find(label);
    return it == to_internal_.end() ? -1 : it->second;
  }
  std::int64_t next_default_label() const { return size(); }
  std::size_t memory_bytes() const {
    return labels_.capacity() * sizeof(std::int64_t) +
           to_internal_.size() * (sizeof(std::int64_t) * 2 + 2 * sizeof(void*)) +
           to_internal_.bucket_count() * sizeof(void*);
  }

 private:
  bool continues_identity(const std::int64_t* ids, std::int64_t n) const {
    if (!identity_) return false;
    for (std::int64_t i = 0; i < n; ++i)
      if (ids[i] != size() + i) return false;
    return true;
  }

  std::vector<std::int64_t> labels_;
  bool identity_ = true;  // labels_[i] == i for all i; to_internal_ unused
  std::unordered_map<std::int64_t, std::int64_t> to_internal_;
};

// Internal ids to leave out of results, as a bitmap (one bit per stored vector).
class ExcludeSet {
 public:
  ExcludeSet(const LabelTable& table, const std::int64_t* exclude, std::int64_t n) {
    if (n <= 0) return;
    bits_.assign(static_cast<std::size_t>((table.size() + 63) / 64), 0);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t id = table.find(exclude[i]);
      if (id >= 0) {
        bits_[static_cast<std::size_t>(id >> 6)] |= std::uint64_t{1} << (id & 63);
        any_ = true;
      }
    }
  }
  bool any() const { return any_; }
  bool excluded(std::int64_t internal) const {
    return any_ && ((bits_[static_cast<std::size_t>(internal >> 6)] >> (internal & 63)) & 1u);
  }

 private:
  std::vector<std::uint64_t> bits_;
  bool any_ = false;
};

}  // namespace panning::cpu::detail
