// Threading, chunking, runtime ISA dispatch and the fused top-k of CPU uncertainty scoring.
// The per-row math is in scoring_kernels.inc (one build per ISA).

#include "panning/scoring.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "scoring_kernels.hpp"
#include "simd_dispatch.hpp"

#if PANNING_WITH_OPENMP
#include <omp.h>
#endif

namespace panning::cpu {
namespace {

int max_threads() {
#if PANNING_WITH_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int thread_id() {
#if PANNING_WITH_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// ---- runtime dispatch ---------------------------------------------------------------------------

const SimdLevel<ScoringKernels> kLevels[] = {
#if defined(PANNING_HAVE_X86_SIMD)
    {"avx512", &scoring_kernels_avx512, &cpu_has_avx512},
    {"avx2", &scoring_kernels_avx2, &cpu_has_avx2},
#endif
    {"generic", &scoring_kernels_generic, &cpu_always},
};

SimdDispatch<ScoringKernels, std::size(kLevels)>& dispatch() {
  static SimdDispatch<ScoringKernels, std::size(kLevels)> d(kLevels);
  return d;
}

const ScoringKernels& active_kernels() {
  return dispatch().active();
}

// ---- chunking -----------------------------------------------------------------------------------

constexpr std::int64_t kBlockRows = 64;                      // rows scored per call into the kernel
constexpr std::int64_t kChunkBytes = std::int64_t{1} << 26;  // work between interrupt checks

std::int64_t chunk_rows(const MatrixView& x) {
  const std::int64_t row_bytes =
      std::max<std::int64_t>(1, x.cols * static_cast<std::int64_t>(dtype_size(x.dtype)));
  const std::int64_t rows = std::max<std::int64_t>(kBlockRows, kChunkBytes / row_bytes);
  return (rows + kBlockRows - 1) / kBlockRows * kBlockRows;
}

void check_interrupt(const InterruptCheck& interrupted) {
  if (interrupted && interrupted()) throw Interrupted();
}

// Calls body(thread, block_begin, block_end, rowbuf) over blocks of rows, in parallel, in chunks
// with an interrupt check between them.
template <class Body>
void for_each_block(const MatrixView& x, const InterruptCheck& interrupted, Body&& body) {
  const std::int64_t chunk = chunk_rows(x);
  const int threads = max_threads();
  std::vector<std::vector<float>> rowbufs(threads,
                                          std::vector<float>(std::max<std::int64_t>(1, x.cols)));
  for (std::int64_t c0 = 0; c0 < x.rows; c0 += chunk) {
    const std::int64_t c1 = std::min(x.rows, c0 + chunk);
    const std::int64_t nblocks = (c1 - c0 + kBlockRows - 1) / kBlockRows;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::int64_t b = 0; b < nblocks; ++b) {
      const std::int64_t r0 = c0 + b * kBlockRows;
      const std::int64_t r1 = std::min(c1, r0 + kBlockRows);
      const int t = thread_id();
      body(t, r0, r1, rowbufs[t].data());
    }
    check_interrupt(interrupted);
  }
}

// ---- top-k --------------------------------------------------------------------------------------

struct Candidate {
  float key;  // larger = more uncertain
  std::int64_t row;
};

// True when a ranks before b: larger key first, then lower row.
inline bool ranks_before(const Candidate& a, const Candidate& b) {
  return a.key > b.key || (a.key == b.key && a.row < b.row);
}

// The best k candidates seen so far, plus whatever beat the threshold since the last compaction.
struct TopK {
  explicit TopK(std::int64_t k) : k(static_cast<std::size_t>(k)) {
    kept.reserve(std::min<std::size_t>(2 * this->k, std::size_t{1} << 16));
  }

  void offer(const Candidate& c) {
    if (full && !ranks_before(c, threshold)) return;
    kept.push_back(c);
    if (kept.size() == 2 * k) compact();
  }

  void compact() {
    std::nth_element(kept.begin(), kept.begin() + (k - 1), kept.end(), ranks_before);
    kept.resize(k);
    threshold = kept[k - 1];  // the k-th best: a candidate must rank before it to matter
    reject_below = threshold.key;
    full = true;
  }

  std::size_t k;
  std::vector<Candidate> kept;
  Candidate threshold{0.0f, 0};
  float reject_below = neg_inf();  // keys under this can never enter (one compare per row)
  bool full = false;
};

}  // namespace

void score_rows(const MatrixView& x, ScoreMethod method, bool from_logits, float* out,
                const InterruptCheck& interrupted) {
  if (x.rows == 0) return;
  const ScoringKernels kernels = active_kernels();
  for_each_block(x, interrupted, [&](int, std::int64_t r0, std::int64_t r1, float* rowbuf) {
    kernels.score_block(x, r0, r1, method, from_logits, out + r0, rowbuf);
  });
}

std::int64_t most_uncertain(const MatrixView& x, ScoreMethod method, bool from_logits,
                            std::int64_t k, std::int64_t* out_rows,
                            const InterruptCheck& interrupted) {
  if (k < 0 || k > x.rows) throw std::invalid_argument("k must lie in [0, rows]");
  if (k == 0) return -1;
  const ScoringKernels kernels = active_kernels();
  const int threads = max_threads();
  // Per-thread partial top-k: candidates that beat the thread's current k-th best are appended to
  // a buffer of up to 2k; when it fills, nth_element keeps the best k and the new k-th best becomes
  // the threshold. Most rows cost one comparison, and each accepted row O(1) amortised work
  // (a bounded heap would pay O(log k) per accepted row).
  std::vector<TopK> tops(threads, TopK(k));
  std::vector<std::int64_t> first_bad(threads, std::numeric_limits<std::int64_t>::max());
  std::vector<std::vector<float>> scores(threads, std::vector<float>(kBlockRows));

  for_each_block(x, interrupted, [&](int t, std::int64_t r0, std::int64_t r1, float* rowbuf) {
    float* s = scores[t].data();
    kernels.score_block(x, r0, r1, method, from_logits, s, rowbuf);
    TopK& top = tops[t];
    for (std::int64_t r = r0; r < r1; ++r) {
      const float key = uncertainty_key(method, s[r - r0]);
      if (key < top.reject_below) continue;  // the common case; NaN fails it and is caught below
      if (key != key) {
        first_bad[t] = std::min(first_bad[t], r);
        continue;
      }
      top.offer(Candidate{key, r});
    }
  });

  const std::int64_t bad = *std::min_element(first_bad.begin(), first_bad.end());
  if (bad != std::numeric_limits<std::int64_t>::max()) return bad;

  std::vector<Candidate> merged;
  if (threads == 1) {
    merged.swap(tops[0].kept);
  } else {
    std::size_t total = 0;
    for (auto& tk : tops) total += tk.kept.size();
    merged.reserve(total);
    for (auto& tk : tops) merged.insert(merged.end(), tk.kept.begin(), tk.kept.end());
  }
  auto kth = merged.begin() + k;
  if (static_cast<std::int64_t>(merged.size()) > k)
    std::nth_element(merged.begin(), kth - 1, merged.end(), ranks_before);
  std::sort(merged.begin(), kth, ranks_before);
  for (std::int64_t i = 0; i < k; ++i) out_rows[i] = merged[i].row;
  return -1;
}

const char* simd_level() {
  return active_kernels().name;
}

const char* const* available_simd_levels(int* count) {
  static const std::vector<const char*> names = [] {
    std::vector<const char*> v;
    for (const SimdLevel<ScoringKernels>& l : kLevels)
      if (l.supported()) v.push_back(l.name);
    return v;
  }();
  *count = static_cast<int>(names.size());
  return names.data();
}

bool set_simd_level(const char* level) {
  return dispatch().select(level);
}

}  // namespace panning::cpu
