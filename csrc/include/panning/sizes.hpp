// Overflow-checked sizes for every allocation whose size comes from a caller.
//
// A request is refused before anything is allocated: a product that does not fit in 64 bits, or a
// size beyond a documented limit, is std::invalid_argument (ValueError in Python, naming the
// argument); an allocation the machine cannot meet is OutOfMemory (MemoryError in Python, saying
// how many bytes were asked for). The Python layer checks the same limits first, so these are the
// second line of defence for C++ callers and for anything the Python checks miss.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace panning {

// Largest k / ef a search accepts (the C++ search keeps ef candidates per query in int).
constexpr std::int64_t kMaxK = std::numeric_limits<std::int32_t>::max();
// Largest vector length an index accepts (also what index files may declare).
constexpr std::int64_t kMaxDim = std::int64_t{1} << 24;
// Largest M (links per node) and ef_construction an index accepts.
constexpr int kMaxM = 4096;
constexpr int kMaxEfConstruction = 1 << 24;
// More threads than this is a mistake, not a request (each thread gets per-thread buffers).
constexpr int kMaxThreads = 4096;

// An allocation that could not be met; what() says how many bytes were asked for.
class OutOfMemory : public std::bad_alloc {
 public:
  OutOfMemory(std::uint64_t bytes, const char* what)
      : message_("cannot allocate " + std::to_string(bytes) + " bytes for " + what) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

// a * b, or std::invalid_argument naming `what` when either is negative or the product
// overflows 64 bits.
inline std::uint64_t checked_mul(std::int64_t a, std::int64_t b, const char* what) {
  if (a < 0 || b < 0) throw std::invalid_argument(std::string(what) + ": negative size");
  std::uint64_t out = 0;
  if (__builtin_mul_overflow(static_cast<std::uint64_t>(a), static_cast<std::uint64_t>(b), &out))
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(a) + " x " +
                                std::to_string(b) + " overflows 64 bits");
  return out;
}

// Resizes v to rows * cols elements, with the product and the byte count overflow-checked and a
// failed allocation reported as OutOfMemory with the bytes asked for.
template <class T>
void checked_resize(std::vector<T>& v, std::int64_t rows, std::int64_t cols, const char* what) {
  const std::uint64_t n = checked_mul(rows, cols, what);
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(sizeof(T)), &bytes) || n > v.max_size())
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(rows) + " x " +
                                std::to_string(cols) + " elements exceed the address space");
  try {
    v.resize(static_cast<std::size_t>(n));
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(bytes, what);
  }
}

// k (or ef) in [1, kMaxK], or std::invalid_argument naming it.
inline void check_k(std::int64_t k, const char* name) {
  if (k < 1 || k > kMaxK)
    throw std::invalid_argument(std::string(name) + " must be in [1, " + std::to_string(kMaxK) +
                                "]; got " + std::to_string(k));
}

}  // namespace panning
