// Bindings of frontier expansion. The Python layer (python/panning/frontier.py) checks dtypes and
// shapes; this layer checks the sizes again, turns them into views and releases the GIL; invalid
// ids raise std::invalid_argument in the core (ValueError).
#include <optional>
#include <string>

#include "bindings.hpp"
#include "panning/frontier.hpp"

#if PANNING_WITH_CUDA
#include "../cuda/frontier.cuh"
#endif

namespace panning::bindings {
namespace {

// The checks the Python layer also makes, repeated here because the pointers are walked next.
// `graph_form`: the expanders index the graph's rows (`expanders` may still be null when count is
// 0); otherwise row i belongs to the i-th expander.
ExpandRequest expand_request(const GraphView& g, bool graph_form, const std::int64_t* expanders,
                             std::int64_t count, std::int64_t col_begin, std::int64_t col_end,
                             bool label, std::int64_t n) {
  if (n < 0 || g.rows < 0 || g.k < 0 || count < 0) throw py::value_error("negative frontier size");
  if (col_begin < 0 || col_end < col_begin || col_end > g.k)
    throw py::value_error("columns [" + std::to_string(col_begin) + ", " + std::to_string(col_end) +
                          ") are not within the graph's " + std::to_string(g.k) + " columns");
  if (graph_form ? (expanders == nullptr && count != 0) || g.rows != n
                 : (expanders != nullptr || label || count != g.rows))
    throw py::value_error(graph_form ? "graph form: the graph must have n rows"
                                     : "rows form: one row per expander and nothing to label");
  ExpandRequest r;
  r.expanders = expanders;
  r.count = count;
  r.col_begin = col_begin;
  r.col_end = col_end;
  r.label = label;
  return r;
}

}  // namespace

void bind_frontier(py::module_& m) {
  m.def(
      "expand_frontier",
      [](const py::array_t<std::int64_t>& graph,
         const std::optional<py::array_t<std::int64_t>>& expanders,
         py::array_t<std::uint64_t, py::array::c_style> labeled,
         py::array_t<std::uint64_t, py::array::c_style> pool,
         const std::optional<py::array_t<std::uint64_t, py::array::c_style>>& excluded,
         std::int64_t n, std::int64_t col_begin, std::int64_t col_end, bool label) {
        if (graph.ndim() != 2) throw py::value_error("graph must be 2-D [rows, k]");
        if (expanders && expanders->ndim() != 1) throw py::value_error("expanders must be 1-D");
        const py::ssize_t words = bitmap_words(n);
        if (labeled.ndim() != 1 || pool.ndim() != 1 || labeled.shape(0) != words ||
            pool.shape(0) != words ||
            (excluded && (excluded->ndim() != 1 || excluded->shape(0) != words)))
          throw py::value_error("bitmaps must hold (n + 63) // 64 uint64 words");
        const GraphView g =
            graph_view(reinterpret_cast<std::uintptr_t>(graph.data()), graph.shape(0),
                       graph.shape(1), graph.strides(0) / 8, graph.strides(1) / 8);
        // expanders may be strided: gather them once (it is a small batch)
        std::vector<std::int64_t> ids;
        if (expanders) {
          ids.resize(static_cast<std::size_t>(expanders->shape(0)));
          auto view = expanders->unchecked<1>();
          for (py::ssize_t i = 0; i < expanders->shape(0); ++i) ids[i] = view(i);
        }
        const ExpandRequest r =
            expand_request(g, expanders.has_value(), expanders ? ids.data() : nullptr,
                           expanders ? static_cast<std::int64_t>(ids.size()) : g.rows, col_begin,
                           col_end, label, n);
        FrontierBitmaps state;
        state.n = n;
        state.labeled = labeled.mutable_data();
        state.pool = pool.mutable_data();
        state.excluded = excluded ? excluded->data() : nullptr;
        std::vector<std::int64_t> entered =
            without_gil([&] { return cpu::expand_frontier(g, r, state); });
        py::array_t<std::int64_t> out(static_cast<py::ssize_t>(entered.size()));
        std::copy(entered.begin(), entered.end(), out.mutable_data());
        return out;
      },
      py::arg("graph").noconvert(), py::arg("expanders").noconvert(),
      py::arg("labeled").noconvert(), py::arg("pool").noconvert(), py::arg("excluded").noconvert(),
      py::arg("n"), py::arg("col_begin"), py::arg("col_end"), py::arg("label"));

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
      [](const GraphView& g, std::uintptr_t expanders, std::int64_t count, std::uintptr_t labeled,
         std::uintptr_t pool, std::uintptr_t excluded, std::int64_t n, std::int64_t col_begin,
         std::int64_t col_end, bool label, std::uintptr_t out, std::uintptr_t workspace,
         std::size_t workspace_bytes, int device, std::uintptr_t stream) -> std::int64_t {
        const ExpandRequest r =
            expand_request(g, expanders != 0, reinterpret_cast<const std::int64_t*>(expanders),
                           count, col_begin, col_end, label, n);
#if PANNING_WITH_CUDA
        FrontierBitmaps state;
        state.n = n;
        state.labeled = reinterpret_cast<std::uint64_t*>(labeled);
        state.pool = reinterpret_cast<std::uint64_t*>(pool);
        state.excluded = reinterpret_cast<const std::uint64_t*>(excluded);
        return without_gil([&] {
          return cuda::expand_frontier(g, r, state, reinterpret_cast<std::int64_t*>(out),
                                       reinterpret_cast<void*>(workspace), workspace_bytes, device,
                                       reinterpret_cast<void*>(stream));
        });
#else
        (void)r, (void)labeled, (void)pool, (void)excluded, (void)out, (void)workspace,
            (void)workspace_bytes, (void)device, (void)stream;
        throw std::runtime_error("panning was built without CUDA");
#endif
      },
      py::arg("graph"), py::arg("expanders"), py::arg("count"), py::arg("labeled"), py::arg("pool"),
      py::arg("excluded"), py::arg("n"), py::arg("col_begin"), py::arg("col_end"), py::arg("label"),
      py::arg("out"), py::arg("workspace"), py::arg("workspace_bytes"), py::arg("device"),
      py::arg("stream"));
}

}  // namespace panning::bindings
