// Error checking and device selection shared by the CUDA launchers.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace panning::cuda {

inline void check_cuda(cudaError_t err, const char* what, const char* file, int line) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA error in ") + what + " (" + file + ":" +
                             std::to_string(line) + "): " + cudaGetErrorString(err));
  }
}

#define PANNING_CUDA_CHECK(expr) ::panning::cuda::check_cuda((expr), #expr, __FILE__, __LINE__)
#define PANNING_CUDA_CHECK_LAUNCH() PANNING_CUDA_CHECK(cudaGetLastError())

// Makes `device` current for the lifetime of the guard and restores the previous one after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    PANNING_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) PANNING_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() {
    int current = previous_;
    if (cudaGetDevice(&current) == cudaSuccess && current != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

// Carves 256-byte-aligned pieces out of one caller-provided device buffer, so a launcher's
// workspace is sized and laid out by the same code: with base == nullptr it only counts bytes.
class WorkspaceCarver {
 public:
  explicit WorkspaceCarver(void* base) : base_(static_cast<char*>(base)) {}

  template <class T>
  T* take(std::size_t count) {
    char* p = base_ ? base_ + used_ : nullptr;
    used_ += (sizeof(T) * count + 255) / 256 * 256;
    return reinterpret_cast<T*>(p);
  }

  std::size_t used() const { return used_; }

 private:
  char* base_;
  std::size_t used_ = 0;
};

inline int multiprocessor_count(int device) {
  int n = 0;
  PANNING_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
  return n;
}

}  // namespace panning::cuda
