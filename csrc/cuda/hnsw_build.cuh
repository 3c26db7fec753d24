// Host launchers of the HNSW level build kernels (prune, reverse merge): the CUDA twins of
// csrc/cpu/hnsw_build.cpp, running panning/hnsw_build.hpp's functions. No CUDA types: streams are
// void*, every pointer is device memory on `device`; ids are uint32 row numbers, kNone pads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "panning/common.hpp"

namespace panning::cuda {

// The CUDA twins of cpu::prune_candidates and cpu::reverse_merge (x: float32 [n, dim]
// contiguous, metric 0 l2 or 1 ip; cosine callers normalise x and pass 1). K + E and
// m_in + reverse_cap <= 512. reverse_merge checks fwd's ids as its twin does (std::invalid_argument
// on one that is neither kNone nor below n); its workspace is sized for `device`.
void prune_candidates(const float* x, std::int64_t n, std::int64_t dim, int metric,
                      const std::uint32_t* cand, const float* cand_dist, int K,
                      const std::uint32_t* extra, const float* extra_dist, int E, int m,
                      std::uint32_t* out, float* out_dist, int device, void* stream);

std::size_t reverse_merge_workspace_bytes(std::int64_t n, int m_in, int device);
void reverse_merge(const float* x, std::int64_t n, std::int64_t dim, int metric,
                   const std::uint32_t* fwd, const float* fwd_dist, int m_in, int reverse_cap,
                   int m_out, std::uint32_t* out, float* out_dist, void* workspace,
                   std::size_t workspace_bytes, int device, void* stream);

}  // namespace panning::cuda
