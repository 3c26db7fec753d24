// Host launchers of CUDA frontier expansion (no CUDA types: streams are void*).
#pragma once

#include <cstddef>
#include <cstdint>

#include "panning/frontier.hpp"

namespace panning::cuda {

// Bytes of device workspace expand_frontier needs for `count` new ids of a k-wide graph.
std::size_t expand_frontier_workspace_bytes(std::int64_t count, std::int64_t k);

// The CUDA twin of cpu::expand_frontier: every pointer is device memory on `device`. Writes the
// entering ids, ascending, to out (capacity count * k) and returns how many there are.
// Synchronises `stream` twice (to check the input, and to size the sort).
std::int64_t expand_frontier(const GraphView& graph, const std::int64_t* new_ids,
                             std::int64_t count, std::uint64_t* labeled, std::uint64_t* pool,
                             std::int64_t* out, void* workspace, std::size_t workspace_bytes,
                             FrontierError* error, int device, void* stream);

}  // namespace panning::cuda
