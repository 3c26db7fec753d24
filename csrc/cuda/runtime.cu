// Device discovery. Works (returning 0) on machines without a driver, so importing panning never
// fails for lack of a GPU.
#include <cuda_runtime.h>

#include "scoring.cuh"

namespace panning::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

}  // namespace panning::cuda
