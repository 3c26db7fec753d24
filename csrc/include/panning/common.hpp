// Shared vocabulary of panning's C++ core: dtypes, strided matrix views and the
// host/device qualifier used by math that both the CPU and CUDA kernels run.
// No Python and no CUDA types may appear in this header.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define PANNING_HD __host__ __device__ __forceinline__
#else
#define PANNING_HD inline __attribute__((always_inline))
#endif

// Feature macros are always defined to 0 or 1 (set by CMake) so code can use #if.
#ifndef PANNING_WITH_CUDA
#define PANNING_WITH_CUDA 0
#endif
#ifndef PANNING_WITH_OPENMP
#define PANNING_WITH_OPENMP 0
#endif

namespace panning {

// Element types accepted at the boundary; the Python layer maps framework dtypes onto these once.
// Only the scoring kernels take kFloat64 (scikit-learn's predict_proba); the indexes refuse it.
enum class DType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2, kFloat64 = 3 };

inline std::size_t dtype_size(DType t) {
  return t == DType::kFloat64 ? 8 : t == DType::kFloat32 ? 4 : 2;
}

// A read-only 2-D view [rows, cols] with strides counted in elements (may be negative or zero
// for broadcasts). `data` points at element (0, 0).
struct MatrixView {
  const void* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t row_stride = 0;
  std::int64_t col_stride = 1;
  DType dtype = DType::kFloat32;
};

}  // namespace panning
