// Bindings of exact nearest neighbours: FlatIndex (CPU) and the exact kNN kernels on the GPU
// (tiles + per-row top-k, refine, reset), plus the size limits and the distance kernels' SIMD
// level that the indexes share. Dtype, shape and framework checks happen once in
// python/panning/knn.py; this layer checks what it dereferences.
#include <memory>
#include <string>

#include "bindings.hpp"
#include "panning/knn.hpp"

#if PANNING_WITH_CUDA
#include "../cuda/knn.cuh"
#endif

namespace panning::bindings {

void bind_knn(py::module_& m) {
  py::class_<cpu::FlatIndex>(m, "FlatIndex")
      .def(py::init([](std::int64_t dim, int metric) {
             return std::make_unique<cpu::FlatIndex>(int_in_range(dim, 1, kMaxDim, "dim"),
                                                     metric_from_code(metric));
           }),
           py::arg("dim"), py::arg("metric"))
      .def("add", &add_rows<cpu::FlatIndex>, py::arg("x"), py::arg("dtype"),
           py::arg("ids").noconvert(), py::arg("threads"))
      .def(
          "search",
          [](const cpu::FlatIndex& self, const py::array& q, int dtype, std::int64_t k,
             std::optional<Ids> exclude, std::int64_t threads) {
            return search_rows(q, dtype, k, exclude, threads,
                               [&](auto... args) { self.search(args...); });
          },
          py::arg("q"), py::arg("dtype"), py::arg("k"), py::arg("exclude").noconvert(),
          py::arg("threads"))
      .def(
          "knn_graph",
          [](const cpu::FlatIndex& self, std::int64_t k, std::int64_t threads) {
            check_k(k, "k");
            const int n_threads = threads_arg(threads);
            SearchResult r =
                without_gil([&] { return self.knn_graph(k, n_threads, python_interrupt_check()); });
            return adopt_result(std::move(r), k);
          },
          py::arg("k"), py::arg("threads"))
      .def("labels",
           [](const cpu::FlatIndex& self) {
             std::vector<std::int64_t> l = without_gil([&] { return self.labels(); });
             const auto n = static_cast<py::ssize_t>(l.size());
             return adopt(std::move(l), {n});
           })
      .def("size", &cpu::FlatIndex::size, release_gil())
      .def("memory_bytes", &cpu::FlatIndex::memory_bytes, release_gil())
      .def_property_readonly("dim", &cpu::FlatIndex::dim)
      .def_property_readonly("metric",
                             [](const cpu::FlatIndex& s) { return metric_name(s.metric()); });

  // The size limits of sizes.hpp, so the Python layer checks the same numbers first.
  m.attr("MAX_K") = kMaxK;
  m.attr("MAX_DIM") = kMaxDim;
  m.attr("MAX_M") = kMaxM;
  m.attr("MAX_EF_CONSTRUCTION") = kMaxEfConstruction;
  m.attr("MAX_THREADS") = kMaxThreads;

  m.def("distance_simd_level", [] { return std::string(cpu::distance_simd_level()); });
  m.def(
      "set_distance_simd_level",
      [](const std::string& level) {
        if (!cpu::set_distance_simd_level(level.c_str()))
          throw py::value_error("SIMD level '" + level + "' is unknown or not supported here");
      },
      py::arg("level"));

  // CUDA launchers: pointers are device addresses the Python layer allocated and checked.
  m.def(
      "knn_workspace_bytes",
      [](std::int64_t nq, std::int64_t nx) -> std::size_t {
#if PANNING_WITH_CUDA
        return cuda::knn_workspace_bytes(nq, nx);
#else
        (void)nq, (void)nx;
        no_cuda();
#endif
      },
      py::arg("nq"), py::arg("nx"));

  m.def(
      "knn_reset_cuda",
      [](std::int64_t rows, int k, std::uintptr_t ids, std::uintptr_t dist, int device,
         std::uintptr_t stream) {
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::knn_reset(rows, k, ptr<std::uint32_t>(ids), ptr<float>(dist), device,
                          ptr<void>(stream));
        });
#else
        (void)rows, (void)k, (void)ids, (void)dist, (void)device, (void)stream;
        no_cuda();
#endif
      },
      py::arg("rows"), py::arg("k"), py::arg("ids"), py::arg("dist"), py::arg("device"),
      py::arg("stream"));

  m.def(
      "knn_merge_cuda",
      [](const MatrixView& qv, std::int64_t q_base, const MatrixView& xv, std::int64_t x_base,
         int metric, int k, std::uintptr_t ids, std::uintptr_t dist, std::uintptr_t ws,
         std::size_t ws_bytes, int device, std::uintptr_t stream) {
        same_width(qv, xv);
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::knn_merge(qv, q_base, xv, x_base, metric, k, ptr<std::uint32_t>(ids),
                          ptr<float>(dist), ptr<void>(ws), ws_bytes, device, ptr<void>(stream));
        });
#else
        (void)qv, (void)q_base, (void)xv, (void)x_base, (void)metric, (void)k, (void)ids,
            (void)dist, (void)ws, (void)ws_bytes, (void)device, (void)stream;
        no_cuda();
#endif
      },
      py::arg("q"), py::arg("q_base"), py::arg("x"), py::arg("x_base"), py::arg("metric"),
      py::arg("k"), py::arg("ids"), py::arg("dist"), py::arg("workspace"),
      py::arg("workspace_bytes"), py::arg("device"), py::arg("stream"));

  m.def(
      "knn_refine_cuda",
      [](const MatrixView& qv, const MatrixView& xv, int metric, int k, std::uintptr_t ids,
         std::uintptr_t dist, int device, std::uintptr_t stream) {
        same_width(qv, xv);
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::knn_refine(qv, xv, metric, k, ptr<std::uint32_t>(ids), ptr<float>(dist), device,
                           ptr<void>(stream));
        });
#else
        (void)qv, (void)xv, (void)metric, (void)k, (void)ids, (void)dist, (void)device,
            (void)stream;
        no_cuda();
#endif
      },
      py::arg("q"), py::arg("x"), py::arg("metric"), py::arg("k"), py::arg("ids"), py::arg("dist"),
      py::arg("device"), py::arg("stream"));
}

}  // namespace panning::bindings
