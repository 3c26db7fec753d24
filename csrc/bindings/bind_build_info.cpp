// Build and runtime facts mirrored in panning.build_info().
#include <string>

#include "bindings.hpp"
#include "panning/scoring.hpp"  // the SIMD level of the CPU kernels

#if PANNING_WITH_CUDA
#include "../cuda/scoring.cuh"
#endif
#if PANNING_WITH_OPENMP
#include <omp.h>
#endif

#ifndef PANNING_VERSION
#define PANNING_VERSION "0.0.0"
#endif
#ifndef PANNING_CUDA_ARCHITECTURES
#define PANNING_CUDA_ARCHITECTURES ""
#endif

namespace panning::bindings {

void bind_build_info(py::module_& m) {
  m.def("build_info", [] {
    py::dict d;
    d["version"] = PANNING_VERSION;
    d["cuda"] = static_cast<bool>(PANNING_WITH_CUDA);
#if PANNING_WITH_CUDA
    d["cuda_devices"] = cuda::device_count();
    d["cuda_architectures"] = std::string(PANNING_CUDA_ARCHITECTURES);
#else
    d["cuda_devices"] = 0;
    d["cuda_architectures"] = std::string();
#endif
    d["openmp"] = static_cast<bool>(PANNING_WITH_OPENMP);
#if PANNING_WITH_OPENMP
    d["threads"] = omp_get_max_threads();
#else
    d["threads"] = 1;
#endif
    d["simd"] = std::string(cpu::simd_level());
    int n = 0;
    const char* const* levels = cpu::available_simd_levels(&n);
    py::list avail;
    for (int i = 0; i < n; ++i) avail.append(std::string(levels[i]));
    d["simd_available"] = avail;
    return d;
  });
  m.def("set_simd_level", [](const std::string& level) {
    if (!cpu::set_simd_level(level.c_str()))
      throw py::value_error("SIMD level '" + level + "' is unknown or not supported on this CPU");
  });
}

}  // namespace panning::bindings
