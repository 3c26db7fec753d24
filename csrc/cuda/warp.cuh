// Device helpers shared by the kNN, HNSW build and HNSW search kernels.
#pragma once

#include <algorithm>
#include <cstdint>

namespace panning::cuda {

constexpr unsigned kFull = 0xffffffffu;  // every lane of a warp
constexpr int kMaxList = 512;            // longest list a warp keeps (build lists, search beam)

// The sum of v over the warp, in every lane.
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// Blocks of `per_block` work items covering `work` (at least one).
inline unsigned blocks_for(std::int64_t work, int per_block) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, (work + per_block - 1) / per_block));
}

}  // namespace panning::cuda
