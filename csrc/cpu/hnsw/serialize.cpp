// HNSW index files.
//
// Format version 2, little-endian, in this order:
//   header (80 bytes): magic "PANNHNSW", u32 version, u32 header bytes, u32 metric, u32 storage,
//     i64 dim, u32 M, u32 ef_construction, u64 seed, i64 count, i64 entry, i32 max_level,
//     u32 node bytes, zero padding
//   labels      count x i64
//   levels      count x i32
//   level 0     count x node bytes (vector, link count, links; see graph.hpp)
//   upper links for each node with level L > 0: L x (M + 1) x u32
//   checksum    u64 over every byte above (WordSum below)
// Version 1 is the same layout with a byte-wise FNV-1a checksum, which costs ~4 cycles per byte
// (one dependent multiply per byte: ~1.4 s to load a 1M-vector float16 index, ~7 s at 5M);
// version 2's checksum reads 32 bytes per step in four independent lanes. Version 1 files still
// load. The reader checks sizes against the file before allocating, the checksum before trusting
// any content, and then every link, level and label, so a damaged file raises instead of crashing.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "graph.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define PANNING_HAVE_FSYNC 1
#else
#define PANNING_HAVE_FSYNC 0
#endif

namespace panning::cpu {
namespace {

constexpr char kMagic[8] = {'P', 'A', 'N', 'N', 'H', 'N', 'S', 'W'};
constexpr std::uint32_t kVersion = 2;
constexpr std::uint32_t kHeaderBytes = 80;

#pragma pack(push, 1)
struct Header {
  char magic[8];
  std::uint32_t version;
  std::uint32_t header_bytes;
  std::uint32_t metric;
  std::uint32_t storage;
  std::int64_t dim;
  std::uint32_t M;
  std::uint32_t ef_construction;
  std::uint64_t seed;
  std::int64_t count;
  std::int64_t entry;
  std::int32_t max_level;
  std::uint32_t node_bytes;
  char padding[8];
};
#pragma pack(pop)
static_assert(sizeof(Header) == kHeaderBytes, "header layout");

// Version 1's checksum.
struct Fnv1a {
  std::uint64_t h = 0xcbf29ce484222325ull;
  void update(const unsigned char* b, std::size_t n) {
    std::uint64_t x = h;  // a local: stores to a member could alias the bytes read
    for (std::size_t i = 0; i < n; ++i) x = (x ^ b[i]) * 0x100000001b3ull;
    h = x;
  }
  std::uint64_t digest() const { return h; }
};

// Version 2's checksum: the stream is cut into 32-byte blocks, each lane k takes the k-th
// 64-bit word of every block (multiply, rotate, multiply: every input bit reaches the high
// bits), and the lanes, the trailing bytes and the length are folded with a final avalanche.
// Four independent multiply chains instead of one per byte. Not cryptographic: it catches
// accidents (truncation, bit flips, torn writes); load() proves the structure separately.
class WordSum {
 public:
  void update(const unsigned char* b, std::size_t n) {
    if (n == 0) return;  // b may be null (an empty index's labels): memcpy must not see it
    total_ += n;
    if (pending_ > 0) {
      const std::size_t take = std::min(n, kBlock - pending_);
      std::memcpy(buf_ + pending_, b, take);
      pending_ += take;
      b += take;
      n -= take;
      if (pending_ < kBlock) return;
      block(lane_, buf_);
      pending_ = 0;
    }
    // Lanes in a local copy: stores to members could alias the bytes read.
    std::uint64_t lanes[4] = {lane_[0], lane_[1], lane_[2], lane_[3]};
    for (; n >= kBlock; b += kBlock, n -= kBlock) block(lanes, b);
    std::memcpy(lane_, lanes, sizeof lanes);
    std::memcpy(buf_, b, n);
    pending_ = n;
  }
  std::uint64_t digest() const {
    std::uint64_t h = rotl(lane_[0], 1) + rotl(lane_[1], 7) + rotl(lane_[2], 12) +
                      rotl(lane_[3], 18) + total_ * kP1;
    for (std::size_t i = 0; i < pending_; ++i) h = rotl(h ^ (buf_[i] * kP2), 11) * kP1;
    h ^= h >> 31;
    h *= kP2;
    h ^= h >> 29;
    h *= kP1;
    return h ^ (h >> 32);
  }

 private:
  static constexpr std::size_t kBlock = 32;
  static constexpr std::uint64_t kP1 = 0x9e3779b97f4a7c15ull;
  static constexpr std::uint64_t kP2 = 0xbf58476d1ce4e5b9ull;
  static std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
  static std::uint64_t word(const unsigned char* b) {
    std::uint64_t w;
    std::memcpy(&w, b, 8);
    return w;
  }
  static void block(std::uint64_t* lanes, const unsigned char* b) {
    for (int k = 0; k < 4; ++k) lanes[k] = rotl(lanes[k] + word(b + 8 * k) * kP2, 31) * kP1;
  }
  std::uint64_t lane_[4] = {kP1, kP2, ~kP1, ~kP2};
  unsigned char buf_[kBlock] = {};
  std::size_t pending_ = 0;
  std::uint64_t total_ = 0;
};

// The checksum of a file of the given format version.
class Checksum {
 public:
  explicit Checksum(std::uint32_t version) : v1_(version == 1) {}
  void update(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    if (v1_)
      fnv_.update(b, n);
    else
      words_.update(b, n);
  }
  std::uint64_t digest() const { return v1_ ? fnv_.digest() : words_.digest(); }

 private:
  bool v1_;
  Fnv1a fnv_;
  WordSum words_;
};

struct File {
  std::FILE* f = nullptr;
  ~File() {
    if (f) std::fclose(f);
  }
};

[[noreturn]] void bad_file(const std::string& path, const std::string& why) {
  throw std::invalid_argument("cannot load HNSW index '" + path + "': " + why);
}

class Writer {
 public:
  Writer(std::FILE* f, const std::string& path) : f_(f), path_(path), sum_(kVersion) {}
  void write(const void* p, std::size_t n) {
    sum_.update(p, n);
    if (n && std::fwrite(p, 1, n, f_) != n)
      throw std::runtime_error("cannot write '" + path_ + "' (disk full?)");
  }
  std::uint64_t checksum() const { return sum_.digest(); }

 private:
  std::FILE* f_;
  std::string path_;
  Checksum sum_;
};

// Reads the file, checksumming everything read; the header's first 12 bytes (magic and version)
// are read before the checksum's version is known and fed to it by start().
class Reader {
 public:
  Reader(std::FILE* f, const std::string& path) : f_(f), path_(path) {}
  void read_raw(void* p, std::size_t n) {
    if (n && std::fread(p, 1, n, f_) != n) bad_file(path_, "the file is truncated");
  }
  void start(std::uint32_t version, const void* head, std::size_t n) {
    sum_ = Checksum(version);
    sum_.update(head, n);
  }
  void read(void* p, std::size_t n) {
    read_raw(p, n);
    sum_.update(p, n);
  }
  std::uint64_t checksum() const { return sum_.digest(); }

 private:
  std::FILE* f_;
  std::string path_;
  Checksum sum_{kVersion};
};

}  // namespace

void HnswIndex::save(const std::string& path) const {
  const Impl& s = *impl_;
  std::shared_lock<detail::RwLock> lock(s.rw);
  File file;
  file.f = std::fopen(path.c_str(), "wb");
  if (!file.f) throw std::runtime_error("cannot open '" + path + "' for writing");
  Writer w(file.f, path);
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.header_bytes = kHeaderBytes;
  h.metric = static_cast<std::uint32_t>(s.p.metric);
  h.storage = static_cast<std::uint32_t>(s.p.storage);
  h.dim = s.p.dim;
  h.M = static_cast<std::uint32_t>(s.p.M);
  h.ef_construction = static_cast<std::uint32_t>(s.p.ef_construction);
  h.seed = s.p.seed;
  h.count = s.count;
  h.entry = s.entry;
  h.max_level = s.max_level;
  h.node_bytes = static_cast<std::uint32_t>(s.node_bytes);
  w.write(&h, sizeof h);
  w.write(s.labels.labels().data(), static_cast<std::size_t>(s.count) * sizeof(std::int64_t));
  for (std::int64_t i = 0; i < s.count; ++i) {
    const std::int32_t level = s.levels[static_cast<std::size_t>(i)];
    w.write(&level, sizeof level);
  }
  w.write(s.nodes.get(), static_cast<std::size_t>(s.count) * s.node_bytes);
  for (std::int64_t i = 0; i < s.count; ++i) {
    const auto& u = s.upper[static_cast<std::size_t>(i)];
    w.write(u.data(), u.size() * sizeof(std::uint32_t));
  }
  const std::uint64_t sum = w.checksum();
  if (std::fwrite(&sum, 1, sizeof sum, file.f) != sizeof sum || std::fflush(file.f) != 0)
    throw std::runtime_error("cannot write '" + path + "' (disk full?)");
#if PANNING_HAVE_FSYNC
  if (::fsync(fileno(file.f)) != 0) throw std::runtime_error("cannot fsync '" + path + "'");
#endif
  const int rc = std::fclose(file.f);
  file.f = nullptr;
  if (rc != 0) throw std::runtime_error("cannot close '" + path + "'");
}

std::unique_ptr<HnswIndex> HnswIndex::load(const std::string& path) {
  File file;
  file.f = std::fopen(path.c_str(), "rb");
  if (!file.f) throw std::runtime_error("cannot open '" + path + "' for reading");
  if (std::fseek(file.f, 0, SEEK_END) != 0) throw std::runtime_error("cannot seek '" + path + "'");
  const long file_size_l = std::ftell(file.f);
  if (file_size_l < 0) throw std::runtime_error("cannot tell the size of '" + path + "'");
  const auto file_size = static_cast<std::uint64_t>(file_size_l);
  std::rewind(file.f);

  Reader r(file.f, path);
  if (file_size < 8) bad_file(path, "the file is truncated (no header)");
  Header h{};
  {
    char magic[8];
    r.read_raw(magic, 8);
    if (std::memcmp(magic, kMagic, 8) != 0)
      bad_file(path, "not a panning HNSW index file (bad magic bytes)");
    if (file_size < kHeaderBytes) bad_file(path, "the file is truncated (short header)");
    std::memcpy(h.magic, magic, 8);
    r.read_raw(&h.version, sizeof h.version);
    r.start(h.version, &h, 12);
    r.read(reinterpret_cast<char*>(&h) + 12, sizeof h - 12);
  }
  if (h.version > kVersion)
    bad_file(path, "format version " + std::to_string(h.version) +
                       " was written by a newer panning (this one reads up to version " +
                       std::to_string(kVersion) + "); upgrade panning");
  if (h.version == 0) bad_file(path, "format version 0 is invalid");
  if (h.header_bytes != kHeaderBytes) bad_file(path, "unexpected header size");
  if (h.metric > 2) bad_file(path, "unknown metric code " + std::to_string(h.metric));
  if (h.storage > 1) bad_file(path, "unknown storage code " + std::to_string(h.storage));
  if (h.dim <= 0 || h.dim > (std::int64_t{1} << 24)) bad_file(path, "implausible dim");
  if (h.M < 2 || h.M > 4096) bad_file(path, "implausible M");
  if (h.ef_construction < 1 || h.ef_construction > (1u << 24))
    bad_file(path, "implausible ef_construction");
  if (h.max_level < -1 || h.max_level > 64) bad_file(path, "corrupted (invalid top level)");
  if (h.count < 0 ||
      static_cast<std::uint64_t>(h.count) >= std::numeric_limits<std::uint32_t>::max())
    bad_file(path, "implausible count");

  HnswParams p;
  p.dim = h.dim;
  p.metric = static_cast<Metric>(h.metric);
  p.storage = static_cast<Storage>(h.storage);
  p.M = static_cast<int>(h.M);
  p.ef_construction = static_cast<int>(h.ef_construction);
  p.seed = h.seed;
  auto index = std::make_unique<HnswIndex>(p);
  Impl& s = *index->impl_;
  if (h.node_bytes != s.node_bytes) bad_file(path, "node size does not match the header");
  const auto count = static_cast<std::uint64_t>(h.count);
  // Sizes are checked against the file before anything is allocated for them.
  const std::uint64_t fixed = kHeaderBytes + count * (8 + 4 + s.node_bytes) + 8;
  if (fixed > file_size) bad_file(path, "the file is truncated");

  std::vector<std::int64_t> labels(static_cast<std::size_t>(count));
  r.read(labels.data(), labels.size() * sizeof(std::int64_t));
  std::vector<std::int32_t> levels(static_cast<std::size_t>(count));
  r.read(levels.data(), levels.size() * sizeof(std::int32_t));
  std::uint64_t upper_words = 0;
  for (std::int32_t l : levels) {
    if (l < 0 || l > 64) bad_file(path, "corrupted (invalid level)");
    upper_words += static_cast<std::uint64_t>(l) * (h.M + 1);
  }
  if (fixed + upper_words * 4 != file_size)
    bad_file(path, fixed + upper_words * 4 > file_size ? "the file is truncated"
                                                       : "unexpected trailing bytes (corrupted)");
  s.reserve(h.count);
  r.read(s.nodes.get(), static_cast<std::size_t>(count) * s.node_bytes);
  for (std::uint64_t i = 0; i < count; ++i) {
    s.levels[i] = levels[i];
    auto& u = s.upper[i];
    u.resize(static_cast<std::size_t>(levels[i]) * (h.M + 1));
    r.read(u.data(), u.size() * sizeof(std::uint32_t));
  }
  const std::uint64_t expected = r.checksum();
  std::uint64_t stored = 0;
  if (std::fread(&stored, 1, sizeof stored, file.f) != sizeof stored)
    bad_file(path, "the file is truncated (no checksum)");
  if (stored != expected) bad_file(path, "checksum mismatch (the file is corrupted)");

  // Structural checks: a file with a valid checksum may still come from a buggy writer.
  if (count == 0) {
    if (h.entry != -1 || h.max_level != -1) bad_file(path, "corrupted (entry point)");
  } else {
    if (h.entry < 0 || static_cast<std::uint64_t>(h.entry) >= count ||
        levels[static_cast<std::size_t>(h.entry)] != h.max_level)
      bad_file(path, "corrupted (entry point)");
  }
  // Everything a search dereferences is proven valid here: a checksum only stops accidents, and
  // a crafted file can carry a correct one. Searches walk level l only through nodes whose top
  // level is >= l (their upper link block for l exists), starting from the entry point.
  for (std::uint64_t i = 0; i < count; ++i) {
    if (levels[i] > h.max_level)
      bad_file(path, "corrupted (node " + std::to_string(i) + " is above the top level)");
    for (int l = 0; l <= levels[i]; ++l) {
      const std::uint32_t* links = s.links(static_cast<std::int64_t>(i), l);
      const std::uint32_t max_links = l == 0 ? s.max_links0 : s.max_links;
      if (links[0] > max_links) bad_file(path, "corrupted (link count)");
      for (std::uint32_t j = 0; j < links[0]; ++j) {
        const std::uint32_t target = links[j + 1];
        if (target >= count) bad_file(path, "corrupted (link target)");
        if (levels[target] < l)
          bad_file(path, "corrupted (node " + std::to_string(i) + " links to node " +
                             std::to_string(target) + " on level " + std::to_string(l) +
                             ", which that node is not on)");
      }
    }
    // Non-finite vectors are refused on load as they are on add(): they would poison distances.
    const void* v = s.vec(static_cast<std::int64_t>(i));
    bool finite = true;
    if (s.p.storage == Storage::kFloat16) {
      const auto* hbits = static_cast<const std::uint16_t*>(v);
      for (std::int64_t j = 0; j < s.p.dim; ++j) finite &= (hbits[j] & 0x7c00u) != 0x7c00u;
    } else {
      const auto* f = static_cast<const float*>(v);
      for (std::int64_t j = 0; j < s.p.dim; ++j) finite &= std::isfinite(f[j]);
    }
    if (!finite) bad_file(path, "vector " + std::to_string(i) + " holds NaN or inf (corrupted)");
  }
  try {
    s.labels.check_new(labels.data(), h.count);
  } catch (const std::invalid_argument& e) {
    bad_file(path, std::string("corrupted labels: ") + e.what());
  }
  s.labels.append(labels.data(), h.count);
  s.count = h.count;
  s.entry = h.entry;
  s.max_level = h.max_level;
  return index;
}

}  // namespace panning::cpu
