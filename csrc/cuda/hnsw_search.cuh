// Host launcher of the batched HNSW beam search. No CUDA types: streams are void*, every pointer
// is device memory on `device`; ids are uint32 internal ids, kNone pads.
#pragma once

#include <cstdint>

#include "panning/common.hpp"

namespace panning::cuda {

// The CUDA twin of cpu::beam_search: one warp per query. level0 [n, 2M], upper and
// upper_offset as HnswIndex::Links; q float32 [nq, dim] contiguous (normalised for cosine).
// ef <= 512.
void beam_search(const float* x, std::int64_t n, std::int64_t dim, int metric, int M,
                 const std::uint32_t* level0, const std::uint32_t* upper,
                 const std::int64_t* upper_offset, std::int64_t entry, int max_level,
                 const float* q, std::int64_t nq, int k, int ef, std::uint32_t* out_ids,
                 float* out_dist, int device, void* stream);

}  // namespace panning::cuda
