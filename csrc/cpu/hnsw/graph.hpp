// The state of an HNSW index, shared by hnsw/index.cpp (build and search) and
// hnsw/serialize.cpp (files). Internal to csrc/cpu.
//
// Memory layout (after hnswlib): level 0 is one contiguous array of fixed-size nodes,
//   [ vector (dim float32 or float16, padded) | link count (uint32) | maxM0 links (uint32) ],
// so a search touching a node reads its vector and its links from neighbouring cache lines.
// Nodes are 64-byte aligned when vectors are large enough for alignment to matter. Upper levels,
// which only ~1/M of the nodes have, live in a small per-node array of (maxM + 1) uint32 per level.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "../index_common.hpp"
#include "panning/hnsw.hpp"

namespace panning::cpu {

// Per-thread "visited" marks: a tag array compared against an epoch, so clearing it between
// searches is one increment instead of a memset over all nodes.
struct VisitedList {
  std::vector<std::uint16_t> tags;
  std::uint16_t epoch = 0;
  void begin(std::size_t n) {
    if (tags.size() < n) {
      tags.assign(n, 0);
      epoch = 0;
    }
    if (++epoch == 0) {
      std::fill(tags.begin(), tags.end(), 0);
      epoch = 1;
    }
  }
  bool test_and_set(std::uint32_t id) {
    if (tags[id] == epoch) return true;
    tags[id] = epoch;
    return false;
  }
};

// Visited lists reused across searches (hnswlib's VisitedListPool): searches from many Python
// threads each take one and give it back.
class VisitedPool {
 public:
  std::unique_ptr<VisitedList> acquire() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.empty()) return std::make_unique<VisitedList>();
    auto v = std::move(free_.back());
    free_.pop_back();
    return v;
  }
  void release(std::unique_ptr<VisitedList> v) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(v));
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<VisitedList>> free_;
};

// One byte per node: link lists are held for a few hundred nanoseconds, so spinning beats a
// 40-byte std::mutex per node.
struct SpinLock {
  std::atomic<bool> held{false};
  void lock() {
    while (held.exchange(true, std::memory_order_acquire)) {
      // Yield now and then: on an oversubscribed machine the holder may not be running.
      for (int spins = 0; held.load(std::memory_order_relaxed); ++spins) {
        if (spins % 64 == 63) std::this_thread::yield();
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
    }
  }
  void unlock() { held.store(false, std::memory_order_release); }
};

struct AlignedFree {
  void operator()(char* p) const { std::free(p); }
};

struct HnswIndex::Impl {
  HnswParams p;
  int max_links = 0;      // M: upper levels
  int max_links0 = 0;     // 2 * M: level 0
  double level_mult = 0;  // 1 / ln(M), the paper's m_L
  std::size_t vector_bytes = 0;
  std::size_t links0_offset = 0;  // of the level-0 link block inside a node
  std::size_t node_bytes = 0;
  std::size_t node_align = 4;

  std::unique_ptr<char, AlignedFree> nodes;  // [capacity, node_bytes]
  std::int64_t capacity = 0;
  std::int64_t count = 0;
  std::vector<int> levels;                        // top level of each node
  std::vector<std::vector<std::uint32_t>> upper;  // levels 1..L: (max_links + 1) uint32 each
  std::unique_ptr<SpinLock[]> node_locks;         // guard link lists while inserting
  std::mutex global;                              // guards entry and max_level while inserting
  std::int64_t entry = -1;
  int max_level = -1;
  detail::LabelTable labels;

  mutable detail::RwLock rw;  // searches shared, add exclusive
  mutable VisitedPool visited;

  explicit Impl(const HnswParams& params);

  char* node(std::int64_t id) const {
    return nodes.get() + static_cast<std::size_t>(id) * node_bytes;
  }
  const void* vec(std::int64_t id) const { return node(id); }
  std::uint32_t* links(std::int64_t id, int level) const {
    if (level == 0) return reinterpret_cast<std::uint32_t*>(node(id) + links0_offset);
    return const_cast<std::uint32_t*>(upper[static_cast<std::size_t>(id)].data()) +
           static_cast<std::size_t>(level - 1) * static_cast<std::size_t>(max_links + 1);
  }
  // Grows storage to hold at least n nodes (callers hold `rw` exclusively).
  void reserve(std::int64_t n);
  std::size_t memory_bytes() const;
};

}  // namespace panning::cpu
