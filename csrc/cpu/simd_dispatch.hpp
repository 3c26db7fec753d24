// Runtime choice of a per-ISA kernel table, shared by every CPU kernel family (scoring,
// distances): each family compiles its kernels once per instruction set and lists the tables
// here, best first; the best one this CPU supports is used, unless the environment variable
// PANNING_SIMD names another supported level (tests use select() to run every variant).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace panning::cpu {

inline bool cpu_always() {
  return true;
}

#if defined(PANNING_HAVE_X86_SIMD)
inline bool cpu_has_avx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}

inline bool cpu_has_avx512() {
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq");
}
#endif

template <class Kernels>
struct SimdLevel {
  const char* name;
  Kernels (*make)();
  bool (*supported)();
};

template <class Kernels, std::size_t N>
class SimdDispatch {
 public:
  explicit SimdDispatch(const SimdLevel<Kernels> (&levels)[N]) : levels_(levels) {
    const char* env = std::getenv("PANNING_SIMD");
    if (!(env && select(env))) active_ = best().make();
  }

  const Kernels& active() const { return active_; }

  // Switches to `name`; false (and no change) when it is unknown or unsupported here.
  bool select(const char* name) {
    for (const SimdLevel<Kernels>& l : levels_) {
      if (std::strcmp(l.name, name) == 0 && l.supported()) {
        active_ = l.make();
        return true;
      }
    }
    return false;
  }

 private:
  const SimdLevel<Kernels>& best() const {
    for (const SimdLevel<Kernels>& l : levels_)
      if (l.supported()) return l;
    return levels_[N - 1];  // the portable baseline, last by convention
  }

  const SimdLevel<Kernels> (&levels_)[N];
  Kernels active_{};
};

}  // namespace panning::cpu
