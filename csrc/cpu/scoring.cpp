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

// Calls body(thread, begin, end, rowbuf) over blocks of positions [0, n) (rows, or indices into a
// candidate list), in parallel, in chunks with an interrupt check between them. rowbuf holds
// rowbuf_doubles(x.cols) doubles (a converted or gathered row of any dtype, BALD's running mean,
// or a block of short float64 rows laid end to end).
template <class Body>
void for_each_block(const MatrixView& x, std::int64_t n, const InterruptCheck& interrupted,
                    Body&& body) {
  const std::int64_t chunk = chunk_rows(x);
  const int threads = max_threads();
  std::vector<std::vector<double>> rowbufs(
      threads, std::vector<double>(static_cast<std::size_t>(rowbuf_doubles(x.cols))));
  for (std::int64_t c0 = 0; c0 < n; c0 += chunk) {
    const std::int64_t c1 = std::min(n, c0 + chunk);
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

// K is the key type: float for float32/16/bfloat16 inputs, double for float64 ones, so float64
// scores are ranked at their own precision.
template <class K>
struct Candidate {
  K key;  // larger = more uncertain
  std::int64_t row;
};

// True when a ranks before b: larger key first, then lower row.
template <class K>
inline bool ranks_before(const Candidate<K>& a, const Candidate<K>& b) {
  return a.key > b.key || (a.key == b.key && a.row < b.row);
}

// The best k candidates seen so far, plus whatever beat the threshold since the last compaction.
template <class K>
struct TopK {
  explicit TopK(std::int64_t k) : k(static_cast<std::size_t>(k)) {
    kept.reserve(std::min<std::size_t>(2 * this->k, std::size_t{1} << 16));
  }

  void offer(const Candidate<K>& c) {
    if (full && !ranks_before(c, threshold)) return;
    kept.push_back(c);
    if (kept.size() == 2 * k) compact();
  }

  void compact() {
    std::nth_element(kept.begin(), kept.begin() + (k - 1), kept.end(), ranks_before<K>);
    kept.resize(k);
    threshold = kept[k - 1];  // the k-th best: a candidate must rank before it to matter
    reject_below = threshold.key;
    full = true;
  }

  std::size_t k;
  std::vector<Candidate<K>> kept;
  Candidate<K> threshold{K(0), 0};
  K reject_below = Real<K>::lowest();  // keys under this can never enter (one compare per row)
  bool full = false;
};

// Bit per row: set for rows that must never be returned.
class RowBitmap {
 public:
  explicit RowBitmap(std::int64_t rows) : words_(static_cast<std::size_t>((rows + 63) / 64)) {}
  bool test(std::int64_t r) const { return (words_[r >> 6] >> (r & 63)) & 1u; }
  // Sets the bit; returns whether it was already set.
  bool set(std::int64_t r) {
    std::uint64_t& w = words_[r >> 6];
    const std::uint64_t bit = std::uint64_t{1} << (r & 63);
    const bool was = (w & bit) != 0;
    w |= bit;
    return was;
  }

 private:
  std::vector<std::uint64_t> words_;
};

void check_id(std::int64_t id, std::int64_t rows, const char* what) {
  if (id < 0 || id >= rows)
    throw std::invalid_argument(std::string(what) + " id " + std::to_string(id) +
                                " is out of range for " + std::to_string(rows) + " rows");
}

// Whether ids[0] < ids[1] < ... (one branch-free pass, vectorised).
bool strictly_increasing(const std::int64_t* ids, std::int64_t n) {
  int out_of_order = 0;
#pragma omp simd reduction(| : out_of_order)
  for (std::int64_t i = 1; i < n; ++i) out_of_order |= ids[i] <= ids[i - 1];
  return out_of_order == 0;
}

// The fused top-k over any row scorer: score_block(rows, n, i0, i1, out, rowbuf) scores
// positions [i0, i1); `negate` turns smaller-is-more-uncertain scores (margin) into keys.
// `invalid_why` describes an invalid row of this input, for invalid_row_error.
template <class K, class ScoreBlock>
void top_k_typed(const MatrixView& x, bool negate, ScoreBlock&& score_block, std::int64_t k,
                 std::int64_t* out_rows, K* out_scores, const RowSelection& sel,
                 const char* invalid_why, const InterruptCheck& interrupted) {
  // Excluded rows live in a bitmap (O(rows / 8) bytes); candidates are scored in place through
  // their ids, so x is never gathered or copied.
  const bool has_exclude = sel.exclude != nullptr && sel.num_exclude > 0;
  RowBitmap excluded(has_exclude ? x.rows : 0);
  std::int64_t n_excluded = 0;
  for (std::int64_t i = 0; has_exclude && i < sel.num_exclude; ++i) {
    check_id(sel.exclude[i], x.rows, "exclude");
    n_excluded += !excluded.set(sel.exclude[i]);
  }
  const std::int64_t* rows = sel.candidates;
  const std::int64_t n = rows ? sel.num_candidates : x.rows;
  std::int64_t eligible = x.rows - n_excluded;
  if (rows && strictly_increasing(rows, n)) {
    // the common case (ids from np.flatnonzero, np.setdiff1d, a sorted pool): in range when the
    // ends are, and free of repeats; no bitmap needed
    if (n > 0) {
      check_id(rows[0], x.rows, "candidate");
      check_id(rows[n - 1], x.rows, "candidate");
    }
    eligible = n;
    for (std::int64_t i = 0; has_exclude && i < n; ++i) eligible -= excluded.test(rows[i]);
  } else if (rows) {
    RowBitmap seen(x.rows);
    eligible = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      check_id(rows[i], x.rows, "candidate");
      if (seen.set(rows[i]))
        throw std::invalid_argument("candidate id " + std::to_string(rows[i]) + " is repeated");
      eligible += !(has_exclude && excluded.test(rows[i]));
    }
  }
  if (k < 0 || k > eligible)
    throw std::invalid_argument("k=" + std::to_string(k) + " is out of range for " +
                                std::to_string(eligible) + " eligible rows");
  if (k == 0) return;

  const int threads = max_threads();
  // Per-thread partial top-k: candidates that beat the thread's current k-th best are appended to
  // a buffer of up to 2k; when it fills, nth_element keeps the best k and the new k-th best becomes
  // the threshold. Most rows cost one comparison, and each accepted row O(1) amortised work
  // (a bounded heap would pay O(log k) per accepted row).
  std::vector<TopK<K>> tops(threads, TopK<K>(k));
  std::vector<std::int64_t> first_bad(threads, std::numeric_limits<std::int64_t>::max());
  std::vector<std::vector<K>> scores(threads, std::vector<K>(kBlockRows));

  for_each_block(x, n, interrupted, [&](int t, std::int64_t i0, std::int64_t i1, double* rowbuf) {
    K* s = scores[t].data();
    score_block(rows, n, i0, i1, static_cast<void*>(s), static_cast<void*>(rowbuf));
    TopK<K>& top = tops[t];
    for (std::int64_t i = i0; i < i1; ++i) {
      const K key = negate ? -s[i - i0] : s[i - i0];
      if (key < top.reject_below) continue;  // the common case; NaN fails it and is caught below
      const std::int64_t r = rows ? rows[i] : i;
      if (has_exclude && excluded.test(r)) continue;
      if (key != key) {
        first_bad[t] = std::min(first_bad[t], r);
        continue;
      }
      top.offer(Candidate<K>{key, r});
    }
  });

  const std::int64_t bad = *std::min_element(first_bad.begin(), first_bad.end());
  if (bad != std::numeric_limits<std::int64_t>::max()) throw invalid_row_error(bad, invalid_why);

  std::vector<Candidate<K>> merged;
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
    std::nth_element(merged.begin(), kth - 1, merged.end(), ranks_before<K>);
  std::sort(merged.begin(), kth, ranks_before<K>);
  for (std::int64_t i = 0; i < k; ++i) {
    out_rows[i] = merged[i].row;
    if (out_scores) out_scores[i] = negate ? -merged[i].key : merged[i].key;
  }
}

}  // namespace

void score_rows(const MatrixView& x, ScoreMethod method, bool from_logits, void* out,
                const InterruptCheck& interrupted) {
  if (x.rows == 0) return;
  const ScoringKernels kernels = active_kernels();
  const std::size_t out_size = x.dtype == DType::kFloat64 ? sizeof(double) : sizeof(float);
  for_each_block(x, x.rows, interrupted,
                 [&](int, std::int64_t r0, std::int64_t r1, double* rowbuf) {
                   kernels.score_block(x, nullptr, 0, r0, r1, method, from_logits,
                                       static_cast<char*>(out) + r0 * out_size, rowbuf);
                 });
}

void most_uncertain(const MatrixView& x, ScoreMethod method, bool from_logits, std::int64_t k,
                    std::int64_t* out_rows, void* out_scores, const RowSelection& selection,
                    const InterruptCheck& interrupted) {
  const ScoringKernels kernels = active_kernels();
  auto score = [&](const std::int64_t* rows, std::int64_t n, std::int64_t i0, std::int64_t i1,
                   void* out, void* rowbuf) {
    kernels.score_block(x, rows, n, i0, i1, method, from_logits, out, rowbuf);
  };
  const bool negate = method == ScoreMethod::kMargin;
  const char* why = invalid_row_reason(from_logits);
  if (x.dtype == DType::kFloat64)
    top_k_typed<double>(x, negate, score, k, out_rows, static_cast<double*>(out_scores), selection,
                        why, interrupted);
  else
    top_k_typed<float>(x, negate, score, k, out_rows, static_cast<float*>(out_scores), selection,
                       why, interrupted);
}

void bald_scores(const SamplesView& x, void* out, const InterruptCheck& interrupted) {
  if (x.first.rows == 0) return;
  if (x.samples < 1) throw std::invalid_argument("BALD needs at least one sample");
  const ScoringKernels kernels = active_kernels();
  const std::size_t out_size = x.first.dtype == DType::kFloat64 ? sizeof(double) : sizeof(float);
  for_each_block(x.first, x.first.rows, interrupted,
                 [&](int, std::int64_t r0, std::int64_t r1, double* rowbuf) {
                   kernels.bald_block(x, nullptr, 0, r0, r1,
                                      static_cast<char*>(out) + r0 * out_size, rowbuf);
                 });
}

void bald_top_k(const SamplesView& x, std::int64_t k, std::int64_t* out_rows, void* out_scores,
                const RowSelection& selection, const InterruptCheck& interrupted) {
  if (x.samples < 1) throw std::invalid_argument("BALD needs at least one sample");
  const ScoringKernels kernels = active_kernels();
  auto score = [&](const std::int64_t* rows, std::int64_t n, std::int64_t i0, std::int64_t i1,
                   void* out,
                   void* rowbuf) { kernels.bald_block(x, rows, n, i0, i1, out, rowbuf); };
  if (x.first.dtype == DType::kFloat64)
    top_k_typed<double>(x.first, false, score, k, out_rows, static_cast<double*>(out_scores),
                        selection, kInvalidSampleReason, interrupted);
  else
    top_k_typed<float>(x.first, false, score, k, out_rows, static_cast<float*>(out_scores),
                       selection, kInvalidSampleReason, interrupted);
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
