// Host launchers of CUDA frontier expansion (no CUDA types: streams are void*).
#pragma once

#include <cstddef>
#include <cstdint>

#include "panning/frontier.hpp"

namespace panning::cuda {

// Bytes of device workspace expand_frontier needs for `count` expanders of `k` columns each.
std::size_t expand_frontier_workspace_bytes(std::int64_t count, std::int64_t k);

// The CUDA twin of cpu::expand_frontier: every pointer is device memory on `device`. Writes the
// entering ids, ascending, to out (capacity count * (col_end - col_begin)) and returns how many
// there are. Synchronises `stream` twice (to check the input, and to size the sort). Invalid
// input throws as on the CPU (throw_frontier_input_error), before the bitmaps change.
std::int64_t expand_frontier(const GraphView& graph, const ExpandRequest& request,
                             const FrontierBitmaps& state, std::int64_t* out, void* workspace,
                             std::size_t workspace_bytes, int device, void* stream);

}  // namespace panning::cuda
