// Runtime ISA dispatch of the distance kernels (simd_dispatch.hpp: the best level the CPU
// supports, PANNING_SIMD may lower it, tests may force one).

#include <iterator>

#include "distance_kernels.hpp"
#include "panning/knn.hpp"
#include "simd_dispatch.hpp"

namespace panning::cpu {
namespace {

const SimdLevel<DistanceKernels> kLevels[] = {
#if defined(PANNING_HAVE_X86_SIMD)
    {"avx512", &distance_kernels_avx512, &cpu_has_avx512},
    {"avx2", &distance_kernels_avx2, &cpu_has_avx2},
#endif
    {"generic", &distance_kernels_generic, &cpu_always},
};

SimdDispatch<DistanceKernels, std::size(kLevels)>& dispatch() {
  static SimdDispatch<DistanceKernels, std::size(kLevels)> d(kLevels);
  return d;
}

}  // namespace

const DistanceKernels& distance_kernels() {
  return dispatch().active();
}

const char* distance_simd_level() {
  return dispatch().active().name;
}

bool set_distance_simd_level(const char* level) {
  return dispatch().select(level);
}

}  // namespace panning::cpu
