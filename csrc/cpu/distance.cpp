// Runtime ISA dispatch of the distance kernels (the same scheme as scoring.cpp: the best level
// the CPU supports, PANNING_SIMD may lower it, tests may force one).

#include <cstdlib>
#include <cstring>

#include "distance_kernels.hpp"
#include "panning/hnsw.hpp"

namespace panning::cpu {
namespace {

struct Level {
  const char* name;
  DistanceKernels (*make)();
  bool (*supported)();
};

bool always() {
  return true;
}
#if defined(PANNING_HAVE_X86_SIMD)
bool has_avx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}
bool has_avx512() {
  return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
}
#endif

const Level kLevels[] = {
#if defined(PANNING_HAVE_X86_SIMD)
    {"avx512", &distance_kernels_avx512, &has_avx512},
    {"avx2", &distance_kernels_avx2, &has_avx2},
#endif
    {"generic", &distance_kernels_generic, &always},
};

const Level* find_level(const char* name) {
  for (const Level& l : kLevels)
    if (std::strcmp(l.name, name) == 0) return &l;
  return nullptr;
}

DistanceKernels initial_kernels() {
  if (const char* env = std::getenv("PANNING_SIMD")) {
    const Level* l = find_level(env);
    if (l && l->supported()) return l->make();
  }
  for (const Level& l : kLevels)
    if (l.supported()) return l.make();
  return distance_kernels_generic();
}

DistanceKernels& active() {
  static DistanceKernels k = initial_kernels();
  return k;
}

}  // namespace

const DistanceKernels& distance_kernels() {
  return active();
}

const char* distance_simd_level() {
  return active().name;
}

bool set_distance_simd_level(const char* level) {
  const Level* l = find_level(level);
  if (!l || !l->supported()) return false;
  active() = l->make();
  return true;
}

}  // namespace panning::cpu
