// Bindings of frontier expansion. The Python layer (python/panning/frontier.py) checks dtypes and
// shapes; this layer turns them into views, releases the GIL and reports invalid ids.
#include <string>

#include "bindings.hpp"
#include "panning/frontier.hpp"

#if PANNING_WITH_CUDA
#include "../cuda/frontier.cuh"
#endif

namespace panning::bindings {
namespace {

[[noreturn]] void raise_frontier_error(const FrontierError& e, std::int64_t n) {
  const std::string range = "[0, " + std::to_string(n) + ")";
  if (e.kind == FrontierError::kNewIdOutOfRange)
    throw py::value_error("new_ids[" + std::to_string(e.position) +
                          "] = " + std::to_string(e.value) + " is not a dataset id in " + range);
  throw py::value_error("the kNN graph row of new_ids[" + std::to_string(e.position) + "] holds " +
                        std::to_string(e.value) + ", which is neither -1 nor an id in " + range);
}

GraphView graph_view(std::uintptr_t data, std::int64_t rows, std::int64_t k,
                     std::int64_t row_stride, std::int64_t col_stride) {
  GraphView g;
  g.ids = reinterpret_cast<const std::int64_t*>(data);
  g.rows = rows;
  g.k = k;
  g.row_stride = row_stride;
  g.col_stride = col_stride;
  return g;
}

}  // namespace

void bind_frontier(py::module_& m) {
  m.def(
      "expand_frontier",
      [](const py::array_t<std::int64_t>& graph, const py::array_t<std::int64_t>& new_ids,
         py::array_t<std::uint64_t, py::array::c_style> labeled,
         py::array_t<std::uint64_t, py::array::c_style> pool) {
        if (graph.ndim() != 2) throw py::value_error("graph must be 2-D [n, k]");
        if (new_ids.ndim() != 1) throw py::value_error("new_ids must be 1-D");
        const std::int64_t n = graph.shape(0);
        if (labeled.ndim() != 1 || pool.ndim() != 1 || labeled.shape(0) != bitmap_words(n) ||
            pool.shape(0) != bitmap_words(n))
          throw py::value_error("bitmaps must hold (n + 63) // 64 uint64 words");
        const GraphView g = graph_view(reinterpret_cast<std::uintptr_t>(graph.data()), n,
                                       graph.shape(1), graph.strides(0) / 8, graph.strides(1) / 8);
        // new_ids may be strided: gather them once (it is a small batch)
        std::vector<std::int64_t> ids(static_cast<std::size_t>(new_ids.shape(0)));
        auto view = new_ids.unchecked<1>();
        for (py::ssize_t i = 0; i < new_ids.shape(0); ++i) ids[i] = view(i);
        std::uint64_t* lab = labeled.mutable_data();
        std::uint64_t* pl = pool.mutable_data();
        FrontierError error;
        std::vector<std::int64_t> entered = without_gil([&] {
          return cpu::expand_frontier(g, ids.data(), static_cast<std::int64_t>(ids.size()), lab, pl,
                                      &error);
        });
        if (error.kind != FrontierError::kNone) raise_frontier_error(error, n);
        py::array_t<std::int64_t> out(static_cast<py::ssize_t>(entered.size()));
        std::copy(entered.begin(), entered.end(), out.mutable_data());
        return out;
      },
      py::arg("graph").noconvert(), py::arg("new_ids").noconvert(), py::arg("labeled").noconvert(),
      py::arg("pool").noconvert());

  m.def(
      "expand_frontier_cuda_workspace_bytes",
      [](std::int64_t count, std::int64_t k) -> std::size_t {
#if PANNING_WITH_CUDA
        return cuda::expand_frontier_workspace_bytes(count, k);
#else
        (void)count, (void)k;
        throw std::runtime_error("panning was built without CUDA");
#endif
      },
      py::arg("count"), py::arg("k"));

  m.def(
      "expand_frontier_cuda",
      [](std::uintptr_t graph, std::int64_t rows, std::int64_t k, std::int64_t row_stride,
         std::int64_t col_stride, std::uintptr_t new_ids, std::int64_t count,
         std::uintptr_t labeled, std::uintptr_t pool, std::uintptr_t out, std::uintptr_t workspace,
         std::size_t workspace_bytes, int device, std::uintptr_t stream) -> std::int64_t {
        const GraphView g = graph_view(graph, rows, k, row_stride, col_stride);
#if PANNING_WITH_CUDA
        FrontierError error;
        const std::int64_t entered = without_gil([&] {
          return cuda::expand_frontier(
              g, reinterpret_cast<const std::int64_t*>(new_ids), count,
              reinterpret_cast<std::uint64_t*>(labeled), reinterpret_cast<std::uint64_t*>(pool),
              reinterpret_cast<std::int64_t*>(out), reinterpret_cast<void*>(workspace),
              workspace_bytes, &error, device, reinterpret_cast<void*>(stream));
        });
        if (error.kind != FrontierError::kNone) raise_frontier_error(error, rows);
        return entered;
#else
        (void)g, (void)new_ids, (void)count, (void)labeled, (void)pool, (void)out, (void)workspace,
            (void)workspace_bytes, (void)device, (void)stream;
        throw std::runtime_error("panning was built without CUDA");
#endif
      },
      py::arg("graph"), py::arg("rows"), py::arg("k"), py::arg("row_stride"), py::arg("col_stride"),
      py::arg("new_ids"), py::arg("count"), py::arg("labeled"), py::arg("pool"), py::arg("out"),
      py::arg("workspace"), py::arg("workspace_bytes"), py::arg("device"), py::arg("stream"));
}

}  // namespace panning::bindings
