// HNSW graph construction and search (Malkov & Yashunin, "Efficient and robust approximate
// nearest neighbor search using Hierarchical Navigable Small World graphs", TPAMI 2018).
//
// Parallel insertion follows hnswlib: each node has a lock guarding its link lists, and one
// global lock guards the entry point and the top level. Unlike hnswlib, a thread never holds two
// node locks at once (lists are copied under the lock, then distances computed outside), so no
// lock ordering is needed. Levels come from a hash of (seed, node number) rather than a shared
// RNG, so they do not depend on thread scheduling, and with threads = 1 a build is reproducible.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <utility>

#include "graph.hpp"
#include "panning/hnsw_build.hpp"

#if defined(__GNUC__)
#define PANNING_PREFETCH(p) __builtin_prefetch(p)
#define PANNING_PREFETCH_LOCALITY(p, locality) __builtin_prefetch(p, 0, locality)
#else
#define PANNING_PREFETCH(p) ((void)(p))
#define PANNING_PREFETCH_LOCALITY(p, locality) ((void)(p))
#endif

namespace panning {

const char* storage_name(Storage s) {
  return s == Storage::kFloat16 ? "float16" : "float32";
}

}  // namespace panning

namespace panning::cpu {

using detail::ExceptionCollector;

namespace {

using Hit = std::pair<float, std::uint32_t>;  // (distance, internal id)
// A binary heap over a workspace vector, so searches allocate nothing once warm.
template <class Compare>
class Heap {
 public:
  explicit Heap(std::vector<Hit>& storage) : v_(storage) { v_.clear(); }
  bool empty() const { return v_.empty(); }
  std::size_t size() const { return v_.size(); }
  const Hit& top() const { return v_.front(); }
  void emplace(float d, std::uint32_t id) {
    v_.emplace_back(d, id);
    std::push_heap(v_.begin(), v_.end(), Compare());
  }
  void pop() {
    std::pop_heap(v_.begin(), v_.end(), Compare());
    v_.pop_back();
  }
  const std::vector<Hit>& items() const { return v_; }

 private:
  std::vector<Hit>& v_;
};
using MaxHeap = Heap<std::less<Hit>>;     // worst result on top
using MinHeap = Heap<std::greater<Hit>>;  // closest candidate on top

constexpr std::int64_t kInsertChunk = 4096;  // insertions between interrupt checks
constexpr std::int64_t kSearchChunk = 8192;  // queries between interrupt checks
constexpr int kMaxLevel = 64;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The paper's level draw, floor(-ln(U) * m_L), with U from a hash of (seed, node number).
int draw_level(std::uint64_t seed, std::int64_t node, double mult) {
  const std::uint64_t h = splitmix64(seed ^ splitmix64(static_cast<std::uint64_t>(node)));
  const double u = (static_cast<double>(h >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
  return std::min(kMaxLevel, static_cast<int>(-std::log(u) * mult));
}

// Distance from a float32 query to stored vectors, with the kernels fixed for one operation.
struct Distance {
  float (*f32)(const float*, const float*, std::int64_t) = nullptr;
  float (*f16)(const float*, const std::uint16_t*, std::int64_t) = nullptr;
  void (*decode)(const std::uint16_t*, std::int64_t, float*) = nullptr;
  bool l2 = true;
  std::int64_t dim = 0;

  Distance(const HnswParams& p, const DistanceKernels& k) : dim(p.dim) {
    l2 = p.metric == Metric::kL2;
    if (p.storage == Storage::kFloat32)
      f32 = l2 ? k.l2_f32 : k.dot_f32;
    else
      f16 = l2 ? k.l2_f16 : k.dot_f16;
    decode = k.half_to_float;
  }
  float operator()(const float* q, const void* v) const {
    const float r = f32 ? f32(q, static_cast<const float*>(v), dim)
                        : f16(q, static_cast<const std::uint16_t*>(v), dim);
    return l2 ? r : 1.0f - r;
  }
  // The stored vector as float32: itself, or decoded into buf.
  const float* as_float(const void* v, float* buf) const {
    if (f32) return static_cast<const float*>(v);
    decode(static_cast<const std::uint16_t*>(v), dim, buf);
    return buf;
  }
};

// Scratch space of one thread for one operation.
struct Workspace {
  std::vector<float> query, a, b;
  std::vector<std::uint32_t> list, todo;
  std::vector<Hit> hits, selected, top_storage, candidate_storage;
  std::unique_ptr<VisitedList> visited;
  Workspace(std::int64_t dim, int max_links0)
      : query(static_cast<std::size_t>(dim)),
        a(static_cast<std::size_t>(dim)),
        b(static_cast<std::size_t>(dim)),
        list(static_cast<std::size_t>(max_links0) + 1),
        todo(static_cast<std::size_t>(max_links0) + 1) {}
};

class Graph {
 public:
  Graph(HnswIndex::Impl& s, const Distance& dist) : s_(s), dist_(dist) {}

  // Copies the link list of `id` at `level` into ws.list (count first), under the node's lock
  // when other threads may be writing it.
  template <bool kLocked>
  std::uint32_t read_links(std::int64_t id, int level, Workspace& ws) const {
    const std::uint32_t* l = s_.links(id, level);
    if constexpr (kLocked) {
      std::lock_guard<SpinLock> lock(s_.node_locks[static_cast<std::size_t>(id)]);
      const std::uint32_t n = l[0];
      std::memcpy(ws.list.data(), l, (n + 1) * sizeof(std::uint32_t));
      return n;
    } else {
      return l[0];
    }
  }
  template <bool kLocked>
  const std::uint32_t* list_ptr(std::int64_t id, int level, const Workspace& ws) const {
    if constexpr (kLocked)
      return ws.list.data() + 1;
    else
      return s_.links(id, level) + 1;
  }

  // Starts fetching all cache lines of a stored vector: into L1 (kLocality 3, for the next
  // distance) or only into L2 (kLocality 2, for a whole neighbour list at once: L2 tracks far more
  // outstanding misses than L1, so the list's vectors arrive in parallel instead of one after
  // another; issue #17 measured 1.7x more queries/s on float32 from this alone).
  template <int kLocality>
  void prefetch_vector(std::uint32_t id) const {
    const char* v = static_cast<const char*>(s_.vec(id));
    for (std::size_t off = 0; off < s_.vector_bytes; off += 64)
      PANNING_PREFETCH_LOCALITY(v + off, kLocality);
  }

  // Greedy walk on one upper level: moves to the closest neighbour until none is closer.
  template <bool kLocked>
  void greedy(const float* q, int level, std::uint32_t& cur, float& cur_dist, Workspace& ws) const {
    bool changed = true;
    while (changed) {
      changed = false;
      const std::uint32_t n = read_links<kLocked>(cur, level, ws);
      const std::uint32_t* l = list_ptr<kLocked>(cur, level, ws);
      for (std::uint32_t i = 0; i < n; ++i) prefetch_vector<2>(l[i]);
      for (std::uint32_t i = 0; i < n; ++i) {
        const float d = dist_(q, s_.vec(l[i]));
        if (d < cur_dist) {
          cur_dist = d;
          cur = l[i];
          changed = true;
        }
      }
    }
  }

  // Best-first search of one level from `ep` (the paper's SEARCH-LAYER, Alg. 2), keeping the
  // ef closest nodes not excluded. Excluded nodes are still walked through, never returned.
  // Leaves the results in ws.hits, unsorted.
  template <bool kLocked>
  void search_layer(const float* q, std::uint32_t ep, float ep_dist, int level, std::int64_t ef,
                    const detail::ExcludeSet* exclude, Workspace& ws) const {
    VisitedList& vis = *ws.visited;
    vis.begin(static_cast<std::size_t>(s_.capacity));
    MaxHeap top(ws.top_storage);
    MinHeap candidates(ws.candidate_storage);
    const bool filter = exclude && exclude->any();
    float bound = std::numeric_limits<float>::infinity();
    if (!filter || !exclude->excluded(ep)) {
      top.emplace(ep_dist, ep);
      bound = ep_dist;
    }
    candidates.emplace(ep_dist, ep);
    vis.test_and_set(ep);
    while (!candidates.empty()) {
      const Hit c = candidates.top();
      if (c.first > bound && static_cast<std::int64_t>(top.size()) >= ef) break;
      candidates.pop();
      const std::uint32_t n = read_links<kLocked>(c.second, level, ws);
      const std::uint32_t* l = list_ptr<kLocked>(c.second, level, ws);
      // Two passes: first keep the unvisited neighbours and start fetching all of their
      // vectors into L2, so that the memory latencies overlap; then compute distances, pulling
      // the next vector into L1 while the current one is being read.
      std::uint32_t* todo = ws.todo.data();
      std::uint32_t pending = 0;
      for (std::uint32_t i = 0; i < n; ++i) {
        if (i + 1 < n) PANNING_PREFETCH(&vis.tags[l[i + 1]]);
        if (vis.test_and_set(l[i])) continue;
        todo[pending++] = l[i];
        prefetch_vector<2>(l[i]);
      }
      for (std::uint32_t j = 0; j < pending; ++j) {
        const std::uint32_t id = todo[j];
        if (j + 1 < pending) prefetch_vector<3>(todo[j + 1]);
        const float d = dist_(q, s_.vec(id));
        if (static_cast<std::int64_t>(top.size()) < ef || d < bound) {
          candidates.emplace(d, id);
          PANNING_PREFETCH(s_.links(candidates.top().second, level));
          if (!filter || !exclude->excluded(id)) {
            top.emplace(d, id);
            if (static_cast<std::int64_t>(top.size()) > ef) top.pop();
            bound = top.top().first;
          }
        }
      }
    }
    ws.hits.assign(top.items().begin(), top.items().end());
  }

  // The paper's heuristic neighbour selection (Alg. 4, without extending or keeping pruned
  // candidates, as hnswlib): take candidates nearest first, keep one only if it is closer to the
  // base than to every neighbour kept so far. Spreads links over directions, which keeps the
  // graph navigable across clusters. Sorts `cands` and leaves at most m of them.
  void select_neighbors(std::vector<Hit>& cands, int m, Workspace& ws) const {
    std::sort(cands.begin(), cands.end());
    if (static_cast<int>(cands.size()) <= m) return;
    ws.selected.clear();
    for (const Hit& c : cands) {
      if (static_cast<int>(ws.selected.size()) >= m) break;
      const float* cv = dist_.as_float(s_.vec(c.second), ws.a.data());
      bool keep = true;
      for (const Hit& r : ws.selected) {
        if (dist_(cv, s_.vec(r.second)) < c.first) {
          keep = false;
          break;
        }
      }
      if (keep) ws.selected.push_back(c);
    }
    cands.swap(ws.selected);
  }

  // Links `node` to its selected neighbours at `level` and back (hnswlib's
  // mutuallyConnectNewElement). Returns the closest neighbour: the entry for the next level.
  std::uint32_t connect(std::uint32_t node, int level, Workspace& ws) const {
    const int max_links = level == 0 ? s_.max_links0 : s_.max_links;
    std::vector<Hit>& chosen = ws.hits;
    chosen.erase(std::remove_if(chosen.begin(), chosen.end(),
                                [&](const Hit& h) { return h.second == node; }),
                 chosen.end());
    select_neighbors(chosen, s_.max_links, ws);
    {
      std::lock_guard<SpinLock> lock(s_.node_locks[node]);
      std::uint32_t* l = s_.links(node, level);
      l[0] = static_cast<std::uint32_t>(chosen.size());
      for (std::size_t i = 0; i < chosen.size(); ++i) l[i + 1] = chosen[i].second;
    }
    const std::vector<Hit> mine = chosen;  // select_neighbors below reuses the workspace
    std::vector<Hit> cands;
    for (const Hit& h : mine) {
      const std::uint32_t other = h.second;
      std::lock_guard<SpinLock> lock(s_.node_locks[other]);
      std::uint32_t* l = s_.links(other, level);
      const std::uint32_t n = l[0];
      bool present = false;
      for (std::uint32_t i = 0; i < n; ++i) present |= l[i + 1] == node;
      if (present) continue;
      if (static_cast<int>(n) < max_links) {
        l[n + 1] = node;
        l[0] = n + 1;
        continue;
      }
      // Full: re-select among the old links and the new node, from `other`'s point of view.
      const float* ov = dist_.as_float(s_.vec(other), ws.b.data());
      cands.clear();
      cands.emplace_back(h.first, node);
      for (std::uint32_t i = 0; i < n; ++i)
        cands.emplace_back(dist_(ov, s_.vec(l[i + 1])), l[i + 1]);
      select_neighbors(cands, max_links, ws);
      l[0] = static_cast<std::uint32_t>(cands.size());
      for (std::size_t i = 0; i < cands.size(); ++i) l[i + 1] = cands[i].second;
    }
    return mine.empty() ? node : mine.front().second;
  }

  // Inserts node `c` (its vector and level are already stored). The paper's INSERT (Alg. 1).
  void insert(std::uint32_t c, Workspace& ws) const {
    const int level = s_.levels[c];
    const float* q = dist_.as_float(s_.vec(c), ws.query.data());
    std::unique_lock<std::mutex> glock(s_.global);
    const int top_level = s_.max_level;
    const std::int64_t ep = s_.entry;
    // A node that raises the top level keeps the global lock until it is linked, so nobody
    // starts from an entry point without links.
    if (level <= top_level) glock.unlock();
    if (ep < 0) {
      s_.entry = c;
      s_.max_level = level;
      return;
    }
    std::uint32_t cur = static_cast<std::uint32_t>(ep);
    float cur_dist = dist_(q, s_.vec(cur));
    for (int l = top_level; l > level; --l) greedy<true>(q, l, cur, cur_dist, ws);
    for (int l = std::min(level, top_level); l >= 0; --l) {
      search_layer<true>(q, cur, cur_dist, l, s_.p.ef_construction, nullptr, ws);
      cur = connect(c, l, ws);
      cur_dist = dist_(q, s_.vec(cur));
    }
    if (level > top_level) {
      s_.entry = c;
      s_.max_level = level;
    }
  }

  // k nearest of query q (float32, normalised for cosine) into ids/dists (internal ids; -1 pads).
  void query(const float* q, std::int64_t k, std::int64_t ef, const detail::ExcludeSet* exclude,
             std::int64_t skip, Workspace& ws, std::int64_t* ids, float* dists) const {
    std::int64_t m = 0;
    if (s_.count > 0) {
      std::uint32_t cur = static_cast<std::uint32_t>(s_.entry);
      float cur_dist = dist_(q, s_.vec(cur));
      for (int l = s_.max_level; l > 0; --l) greedy<false>(q, l, cur, cur_dist, ws);
      search_layer<false>(q, cur, cur_dist, 0, std::max(ef, k + (skip >= 0 ? 1 : 0)), exclude, ws);
      std::sort(ws.hits.begin(), ws.hits.end());
      for (const Hit& h : ws.hits) {
        if (m == k) break;
        if (static_cast<std::int64_t>(h.second) == skip) continue;
        ids[m] = s_.labels.label(h.second);
        dists[m] = h.first;
        ++m;
      }
    }
    for (; m < k; ++m) {
      ids[m] = -1;
      dists[m] = std::numeric_limits<float>::infinity();
    }
  }

 private:
  HnswIndex::Impl& s_;
  const Distance& dist_;
};

// Runs body(i, ws) for i in [0, n) on `threads` threads in chunks, checking for interrupts
// between chunks on the calling thread; `after_chunk(end)` runs after each chunk.
template <class Body, class After>
void parallel_chunks(std::int64_t n, std::int64_t chunk, int threads, std::int64_t dim,
                     int max_links0, VisitedPool& pool, const InterruptCheck& interrupted,
                     Body&& body, After&& after_chunk) {
  if (n == 1) {
    Workspace ws(dim, max_links0);
    ws.visited = pool.acquire();
    body(0, ws);
    pool.release(std::move(ws.visited));
    after_chunk(1);
    return;
  }
  // Items per dynamic grab: 8 for big batches (less scheduling traffic), fewer for small ones,
  // so that a batch of a few queries still spreads over the threads.
  const std::int64_t grab =
      std::clamp<std::int64_t>(n / (8 * std::max(threads, 1)), std::int64_t{1}, std::int64_t{8});
  for (std::int64_t c0 = 0; c0 < n; c0 += chunk) {
    const std::int64_t c1 = std::min(n, c0 + chunk);
    ExceptionCollector errors;
#pragma omp parallel num_threads(threads)
    {
      Workspace ws(dim, max_links0);
      ws.visited = pool.acquire();
#pragma omp for schedule(dynamic, grab)
      for (std::int64_t i = c0; i < c1; ++i) errors.run([&] { body(i, ws); });
      pool.release(std::move(ws.visited));
    }
    errors.rethrow();
    after_chunk(c1);
    detail::check_interrupt(interrupted);
  }
}

}  // namespace

// ---- Impl ---------------------------------------------------------------------------------------

HnswIndex::Impl::Impl(const HnswParams& params) : p(params) {
  if (p.dim <= 0 || p.dim > kMaxDim)
    throw std::invalid_argument("dim must be in [1, " + std::to_string(kMaxDim) + "]; got " +
                                std::to_string(p.dim));
  if (p.M < 2 || p.M > kMaxM)
    throw std::invalid_argument("M must be in [2, " + std::to_string(kMaxM) + "]; got " +
                                std::to_string(p.M));
  if (p.ef_construction < 1 || p.ef_construction > kMaxEfConstruction)
    throw std::invalid_argument("ef_construction must be in [1, " +
                                std::to_string(kMaxEfConstruction) + "]; got " +
                                std::to_string(p.ef_construction));
  max_links = p.M;
  max_links0 = 2 * p.M;
  level_mult = 1.0 / std::log(static_cast<double>(p.M));
  const std::size_t elem = p.storage == Storage::kFloat16 ? 2 : 4;
  vector_bytes = static_cast<std::size_t>(p.dim) * elem;
  links0_offset = (vector_bytes + 3) / 4 * 4;
  node_bytes = links0_offset + (static_cast<std::size_t>(max_links0) + 1) * sizeof(std::uint32_t);
  if (vector_bytes >= 256) {
    node_align = 64;  // whole cache lines: vectors never straddle one more than needed
    node_bytes = (node_bytes + 63) / 64 * 64;
  }
}

void HnswIndex::Impl::reserve(std::int64_t n) {
  if (n <= capacity) return;
  const std::int64_t grown = std::max(n, capacity + capacity / 2);
  const std::uint64_t bytes =
      checked_mul(grown, static_cast<std::int64_t>(node_bytes), "the index's nodes");
  char* fresh = static_cast<char*>(detail::alloc_large(bytes, node_align));
  if (!fresh) throw OutOfMemory(bytes, "the index's nodes");
  std::unique_ptr<char, AlignedFree> owner(fresh);
  if (count > 0) std::memcpy(fresh, nodes.get(), static_cast<std::size_t>(count) * node_bytes);
  std::unique_ptr<SpinLock[]> locks(new SpinLock[static_cast<std::size_t>(grown)]);
  levels.resize(static_cast<std::size_t>(grown));
  upper.resize(static_cast<std::size_t>(grown));
  nodes = std::move(owner);
  node_locks = std::move(locks);
  capacity = grown;
}

std::size_t HnswIndex::Impl::memory_bytes() const {
  std::size_t b = static_cast<std::size_t>(capacity) * node_bytes;
  b += levels.capacity() * sizeof(int) + upper.capacity() * sizeof(upper[0]);
  for (std::int64_t i = 0; i < count; ++i) b += upper[static_cast<std::size_t>(i)].capacity() * 4;
  b += static_cast<std::size_t>(capacity) * sizeof(SpinLock);
  return b + labels.memory_bytes();
}

// ---- HnswIndex ----------------------------------------------------------------------------------

HnswIndex::HnswIndex(const HnswParams& params) : impl_(new Impl(params)) {}
HnswIndex::~HnswIndex() = default;

namespace {

// Validates x and ids, then stores the rows as nodes count .. count + n - 1 (vectors, levels,
// empty links, labels) without linking them. Returns the first new node number. The caller
// holds the index exclusively.
std::int64_t store_rows(HnswIndex::Impl& s, const MatrixView& x, const std::int64_t* ids,
                        int threads, const DistanceKernels& kern) {
  const std::int64_t n = x.rows;
  std::vector<std::int64_t> default_ids;
  if (!ids) {
    default_ids.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) default_ids[static_cast<std::size_t>(i)] = s.count + i;
    ids = default_ids.data();
  }
  s.labels.check_new(ids, n);
  if (static_cast<std::uint64_t>(s.count + n) >= std::numeric_limits<std::uint32_t>::max())
    throw std::invalid_argument("an HNSWIndex holds at most 2^32 - 2 vectors");

  // Validate every row before changing anything.
  const std::int64_t bad = detail::first_non_finite_row(x, threads, kern);
  if (bad >= 0) throw std::invalid_argument("x row " + std::to_string(bad) + " holds NaN or inf");

  const std::int64_t base = s.count;
  s.reserve(base + n);
  std::vector<std::vector<float>> bufs(static_cast<std::size_t>(threads),
                                       std::vector<float>(static_cast<std::size_t>(s.p.dim)));
  std::atomic<std::int64_t> too_big{-1};
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t c = base + i;
    float* row = bufs[static_cast<std::size_t>(detail::thread_id())].data();
    detail::read_row(x, i, row, kern);
    if (s.p.metric == Metric::kCosine) detail::normalize(row, s.p.dim);
    char* node = s.node(c);
    if (s.p.storage == Storage::kFloat32) {
      std::memcpy(node, row, s.vector_bytes);
    } else {
      for (std::int64_t j = 0; j < s.p.dim; ++j)
        if (std::fabs(row[j]) > 65504.0f) too_big.store(i);
      kern.float_to_half(row, s.p.dim, reinterpret_cast<std::uint16_t*>(node));
    }
    std::memset(node + s.links0_offset, 0, s.node_bytes - s.links0_offset);
    const int level = draw_level(s.p.seed, c, s.level_mult);
    s.levels[static_cast<std::size_t>(c)] = level;
    s.upper[static_cast<std::size_t>(c)].assign(
        static_cast<std::size_t>(level) * static_cast<std::size_t>(s.max_links + 1), 0u);
  }
  if (too_big.load() >= 0)
    throw std::invalid_argument("x row " + std::to_string(too_big.load()) +
                                " holds values beyond the float16 range (|x| > 65504); use "
                                "storage='float32'");
  s.labels.append(ids, n);
  return base;
}

}  // namespace

void HnswIndex::add(const MatrixView& x, const std::int64_t* ids, int threads,
                    const InterruptCheck& interrupted) {
  Impl& s = *impl_;
  detail::check_input(x, s.p.dim, "x");
  std::unique_lock<detail::RwLock> lock(s.rw);
  threads = detail::resolve_threads(threads);
  const DistanceKernels& kern = distance_kernels();
  const std::int64_t n = x.rows;
  if (n == 0) return;
  const std::int64_t base = store_rows(s, x, ids, threads, kern);

  const Distance dist(s.p, kern);
  Graph graph(s, dist);
  std::int64_t inserted = 0;
  try {
    parallel_chunks(
        n, kInsertChunk, threads, s.p.dim, s.max_links0, s.visited, interrupted,
        [&](std::int64_t i, Workspace& ws) {
          graph.insert(static_cast<std::uint32_t>(base + i), ws);
        },
        [&](std::int64_t end) {
          inserted = end;
          s.count = base + end;
        });
  } catch (...) {
    // Keep what was inserted; forget the labels of the rest.
    s.count = base + inserted;
    s.labels.truncate(s.count);
    throw;
  }
}

std::vector<int> HnswIndex::levels_of(std::int64_t base, std::int64_t n) const {
  std::vector<int> out(static_cast<std::size_t>(std::max<std::int64_t>(0, n)));
  for (std::int64_t i = 0; i < n; ++i)
    out[static_cast<std::size_t>(i)] = draw_level(impl_->p.seed, base + i, impl_->level_mult);
  return out;
}

void HnswIndex::assemble(const MatrixView& x, const std::int64_t* ids,
                         const std::vector<const std::uint32_t*>& levels,
                         const std::vector<std::int64_t>& rows, const std::vector<int>& widths,
                         int threads) {
  Impl& s = *impl_;
  detail::check_input(x, s.p.dim, "x");
  std::unique_lock<detail::RwLock> lock(s.rw);
  if (s.count != 0) throw std::invalid_argument("assemble() needs an empty index");
  threads = detail::resolve_threads(threads);
  const std::int64_t n = x.rows;
  const std::vector<int> drawn = levels_of(0, n);
  const int top = n > 0 ? *std::max_element(drawn.begin(), drawn.end()) : -1;
  if (levels.size() != static_cast<std::size_t>(top + 1) || widths.size() != levels.size() ||
      rows.size() != levels.size())
    throw std::invalid_argument("assemble() needs link lists for levels 0.." + std::to_string(top));
  // Rows per level first: nothing is read from a list of the wrong length.
  std::vector<std::int64_t> on_level(static_cast<std::size_t>(top + 1), 0);
  for (const int d : drawn)
    for (int l = 0; l <= d; ++l) ++on_level[static_cast<std::size_t>(l)];
  for (int l = 0; l <= top; ++l)
    if (rows[static_cast<std::size_t>(l)] != on_level[static_cast<std::size_t>(l)])
      throw std::invalid_argument("level " + std::to_string(l) + " links have " +
                                  std::to_string(rows[static_cast<std::size_t>(l)]) + " rows; " +
                                  std::to_string(on_level[static_cast<std::size_t>(l)]) +
                                  " nodes are on that level");
  // Check every link before storing anything: ids in range, on the right level, not self.
  for (int l = 0; l <= top; ++l) {
    const int w = widths[static_cast<std::size_t>(l)];
    if (w < 0 || w > (l == 0 ? s.max_links0 : s.max_links))
      throw std::invalid_argument("level " + std::to_string(l) + " links are " + std::to_string(w) +
                                  " wide; the limit is " +
                                  std::to_string(l == 0 ? s.max_links0 : s.max_links));
    const std::uint32_t* links = levels[static_cast<std::size_t>(l)];
    std::int64_t row = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (drawn[static_cast<std::size_t>(i)] < l) continue;
      for (int j = 0; j < w; ++j) {
        const std::uint32_t v = links[row * w + j];
        if (v == graph::kNone) continue;
        if (v >= n || drawn[v] < l || v == i)
          throw std::invalid_argument("level " + std::to_string(l) + " link " + std::to_string(v) +
                                      " of node " + std::to_string(i) +
                                      " is not another node of that level");
      }
      ++row;
    }
  }
  if (n == 0) return;
  const std::int64_t base = store_rows(s, x, ids, threads, distance_kernels());
  for (int l = 0; l <= top; ++l) {
    const int w = widths[static_cast<std::size_t>(l)];
    const std::uint32_t* links = levels[static_cast<std::size_t>(l)];
    std::int64_t row = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (drawn[static_cast<std::size_t>(i)] < l) continue;
      std::uint32_t* dst = s.links(base + i, l);
      std::uint32_t count = 0;
      for (int j = 0; j < w; ++j) {
        const std::uint32_t v = links[row * w + j];
        if (v != graph::kNone) dst[1 + count++] = v;
      }
      dst[0] = count;
      ++row;
    }
  }
  // Entry: the first node on the top level.
  s.entry = std::find(drawn.begin(), drawn.end(), top) - drawn.begin();
  s.max_level = top;
  s.count = n;
}

HnswIndex::Links HnswIndex::export_links() const {
  const Impl& s = *impl_;
  std::shared_lock<detail::RwLock> lock(s.rw);
  Links out;
  const std::size_t m0 = static_cast<std::size_t>(s.max_links0);
  const std::size_t m = static_cast<std::size_t>(s.max_links);
  out.level0.assign(static_cast<std::size_t>(s.count) * m0, graph::kNone);
  out.upper_offset.assign(static_cast<std::size_t>(s.count), -1);
  for (std::int64_t i = 0; i < s.count; ++i) {
    const std::uint32_t* l = s.links(i, 0);
    std::copy(l + 1, l + 1 + l[0], out.level0.begin() + static_cast<std::ptrdiff_t>(i * m0));
    const int level = s.levels[static_cast<std::size_t>(i)];
    if (level == 0) continue;
    out.upper_offset[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(out.upper.size());
    out.upper.resize(out.upper.size() + static_cast<std::size_t>(level) * m, graph::kNone);
    for (int lv = 1; lv <= level; ++lv) {
      const std::uint32_t* u = s.links(i, lv);
      std::copy(u + 1, u + 1 + u[0],
                out.upper.end() - static_cast<std::ptrdiff_t>((level - lv + 1) * m));
    }
  }
  out.entry = s.entry;
  out.max_level = s.max_level;
  return out;
}

std::vector<float> HnswIndex::export_vectors() const {
  const Impl& s = *impl_;
  std::shared_lock<detail::RwLock> lock(s.rw);
  const DistanceKernels& kern = distance_kernels();
  std::vector<float> out(static_cast<std::size_t>(s.count * s.p.dim));
  for (std::int64_t i = 0; i < s.count; ++i) {
    float* dst = out.data() + i * s.p.dim;
    if (s.p.storage == Storage::kFloat32)
      std::memcpy(dst, s.vec(i), s.vector_bytes);
    else
      kern.half_to_float(static_cast<const std::uint16_t*>(s.vec(i)), s.p.dim, dst);
  }
  return out;
}

void HnswIndex::search(const MatrixView& q, std::int64_t k, int ef, const std::int64_t* exclude,
                       std::int64_t n_exclude, int threads, std::int64_t* out_ids,
                       float* out_distances, const InterruptCheck& interrupted) const {
  const Impl& s = *impl_;
  check_k(k, "k");
  check_k(ef, "ef");
  detail::check_input(q, s.p.dim, "queries");
  std::shared_lock<detail::RwLock> lock(s.rw);
  threads = detail::resolve_threads(threads);
  const DistanceKernels& kern = distance_kernels();
  const Distance dist(s.p, kern);
  Graph graph(const_cast<Impl&>(s), dist);
  detail::ExcludeSet ex(s.labels, exclude, n_exclude);
  std::atomic<std::int64_t> bad{-1};
  parallel_chunks(
      q.rows, kSearchChunk, threads, s.p.dim, s.max_links0, s.visited, interrupted,
      [&](std::int64_t i, Workspace& ws) {
        float* row = ws.query.data();
        detail::read_row(q, i, row, kern);
        if (!detail::all_finite(row, s.p.dim)) {
          bad.store(i);
          return;
        }
        if (s.p.metric == Metric::kCosine) detail::normalize(row, s.p.dim);
        graph.query(row, k, ef, &ex, -1, ws, out_ids + i * k, out_distances + i * k);
      },
      [](std::int64_t) {});
  if (bad.load() >= 0)
    throw std::invalid_argument("queries row " + std::to_string(bad.load()) + " holds NaN or inf");
}

SearchResult HnswIndex::knn_graph(std::int64_t k, int ef, int threads,
                                  const InterruptCheck& interrupted) const {
  const Impl& s = *impl_;
  check_k(k, "k");
  check_k(ef, "ef");
  std::shared_lock<detail::RwLock> lock(s.rw);
  SearchResult out;
  checked_resize(out.ids, s.count, k, "the kNN graph's ids");
  checked_resize(out.distances, s.count, k, "the kNN graph's distances");
  std::int64_t* out_ids = out.ids.data();
  float* out_distances = out.distances.data();
  threads = detail::resolve_threads(threads);
  const Distance dist(s.p, distance_kernels());
  Graph graph(const_cast<Impl&>(s), dist);
  parallel_chunks(
      s.count, kSearchChunk, threads, s.p.dim, s.max_links0, s.visited, interrupted,
      [&](std::int64_t i, Workspace& ws) {
        // Search for k + 1 and drop the node itself; if the search missed it, keep the first k.
        const float* row = dist.as_float(s.vec(i), ws.query.data());
        graph.query(row, k, std::max<std::int64_t>(ef, k + 1), nullptr, i, ws, out_ids + i * k,
                    out_distances + i * k);
      },
      [](std::int64_t) {});
  return out;
}

std::vector<std::int64_t> HnswIndex::labels() const {
  std::shared_lock<detail::RwLock> lock(impl_->rw);
  return impl_->labels.labels();
}

void HnswIndex::reserve(std::int64_t n) {
  if (n < 0) throw std::invalid_argument("reserve: n must be non-negative");
  std::unique_lock<detail::RwLock> lock(impl_->rw);
  impl_->reserve(n);
}

std::int64_t HnswIndex::size() const {
  std::shared_lock<detail::RwLock> lock(impl_->rw);
  return impl_->count;
}
const HnswParams& HnswIndex::params() const {
  return impl_->p;
}
std::size_t HnswIndex::memory_bytes() const {
  std::shared_lock<detail::RwLock> lock(impl_->rw);
  return impl_->memory_bytes();
}
int HnswIndex::max_level() const {
  std::shared_lock<detail::RwLock> lock(impl_->rw);
  return impl_->max_level;
}

}  // namespace panning::cpu
