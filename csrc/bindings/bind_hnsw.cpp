// Bindings of the HNSW index: HnswIndex (insertion, CPU search, save/load, exported links) and the
// batched beam search over exported links (the CPU twin and the CUDA launcher). Dtype, shape and
// framework checks happen once in python/panning/hnsw.py; this layer validates what it
// dereferences, allocates outputs, releases the GIL and calls.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "panning/hnsw.hpp"

#if PANNING_WITH_CUDA
#include "../cuda/hnsw_search.cuh"
#endif

namespace panning::bindings {
namespace {

Storage storage_from_code(int code) {
  if (code < 0 || code > 1) throw py::value_error("unknown storage code " + std::to_string(code));
  return static_cast<Storage>(code);
}

}  // namespace

void bind_hnsw(py::module_& m) {
  py::class_<cpu::HnswIndex>(m, "HnswIndex")
      .def(py::init([](std::int64_t dim, int metric, int storage, std::int64_t M,
                       std::int64_t ef_construction, std::uint64_t seed) {
             HnswParams p;
             p.dim = int_in_range(dim, 1, kMaxDim, "dim");
             p.metric = metric_from_code(metric);
             p.storage = storage_from_code(storage);
             p.M = int_in_range(M, 2, kMaxM, "M");
             p.ef_construction =
                 int_in_range(ef_construction, 1, kMaxEfConstruction, "ef_construction");
             p.seed = seed;
             return std::make_unique<cpu::HnswIndex>(p);
           }),
           py::arg("dim"), py::arg("metric"), py::arg("storage"), py::arg("M"),
           py::arg("ef_construction"), py::arg("seed"))
      .def("add", &add_rows<cpu::HnswIndex>, py::arg("x"), py::arg("dtype"),
           py::arg("ids").noconvert(), py::arg("threads"))
      .def(
          "search",
          [](const cpu::HnswIndex& self, const py::array& q, int dtype, std::int64_t k,
             std::int64_t ef, std::optional<Ids> exclude, std::int64_t threads) {
            const int ef_int = int_in_range(ef, 1, kMaxK, "ef");
            return search_rows(q, dtype, k, exclude, threads,
                               [&](const MatrixView& v, std::int64_t k_checked, auto... rest) {
                                 self.search(v, k_checked, ef_int, rest...);
                               });
          },
          py::arg("q"), py::arg("dtype"), py::arg("k"), py::arg("ef"),
          py::arg("exclude").noconvert(), py::arg("threads"))
      .def(
          "knn_graph",
          [](const cpu::HnswIndex& self, std::int64_t k, std::int64_t ef, std::int64_t threads) {
            check_k(k, "k");
            const int ef_int = int_in_range(ef, 1, kMaxK, "ef");
            const int n_threads = threads_arg(threads);
            SearchResult r = without_gil(
                [&] { return self.knn_graph(k, ef_int, n_threads, python_interrupt_check()); });
            return adopt_result(std::move(r), k);
          },
          py::arg("k"), py::arg("ef"), py::arg("threads"))
      .def("labels",
           [](const cpu::HnswIndex& self) {
             std::vector<std::int64_t> l = without_gil([&] { return self.labels(); });
             const auto n = static_cast<py::ssize_t>(l.size());
             return adopt(std::move(l), {n});
           })
      .def(
          "assemble",
          [](cpu::HnswIndex& self, const py::array& x, int dtype, std::optional<Ids> ids,
             const std::vector<py::array_t<std::uint32_t, py::array::c_style>>& levels,
             std::int64_t threads) {
            const MatrixView v = host_matrix(x, dtype_from_code(dtype));
            const std::int64_t* id = ids_pointer(ids, v.rows, "ids");
            std::vector<const std::uint32_t*> ptrs;
            std::vector<std::int64_t> rows;
            std::vector<int> widths;
            for (const auto& l : levels) {
              if (l.ndim() != 2) throw py::value_error("level links must be 2-D");
              ptrs.push_back(l.data());
              rows.push_back(l.shape(0));
              widths.push_back(static_cast<int>(l.shape(1)));
            }
            const int n_threads = threads_arg(threads);
            without_gil([&] { self.assemble(v, id, ptrs, rows, widths, n_threads); });
          },
          py::arg("x"), py::arg("dtype"), py::arg("ids").noconvert(), py::arg("levels"),
          py::arg("threads"))
      .def(
          "levels_of",
          [](const cpu::HnswIndex& self, std::int64_t base, std::int64_t n) {
            std::vector<int> l = self.levels_of(base, n);
            const auto size = static_cast<py::ssize_t>(l.size());
            return adopt(std::move(l), {size});
          },
          py::arg("base"), py::arg("n"))
      .def("export_links",
           [](const cpu::HnswIndex& self) {
             cpu::HnswIndex::Links l = without_gil([&] { return self.export_links(); });
             const auto n = static_cast<py::ssize_t>(l.upper_offset.size());
             const auto m0 = static_cast<py::ssize_t>(2 * self.params().M);
             const auto nu = static_cast<py::ssize_t>(l.upper.size());
             return py::make_tuple(adopt(std::move(l.level0), {n, m0}),
                                   adopt(std::move(l.upper), {nu}),
                                   adopt(std::move(l.upper_offset), {n}), l.entry, l.max_level);
           })
      .def("export_vectors",
           [](const cpu::HnswIndex& self) {
             std::vector<float> v = without_gil([&] { return self.export_vectors(); });
             const auto d = static_cast<py::ssize_t>(self.params().dim);
             const auto n = static_cast<py::ssize_t>(d > 0 ? v.size() / d : 0);
             return adopt(std::move(v), {n, d});
           })
      .def("size", &cpu::HnswIndex::size, release_gil())
      .def("reserve", &cpu::HnswIndex::reserve, py::arg("n"), release_gil())
      .def("memory_bytes", &cpu::HnswIndex::memory_bytes, release_gil())
      .def("max_level", &cpu::HnswIndex::max_level, release_gil())
      .def_property_readonly("dim", [](const cpu::HnswIndex& s) { return s.params().dim; })
      .def_property_readonly("metric",
                             [](const cpu::HnswIndex& s) { return metric_name(s.params().metric); })
      .def_property_readonly(
          "storage", [](const cpu::HnswIndex& s) { return storage_name(s.params().storage); })
      .def_property_readonly("M", [](const cpu::HnswIndex& s) { return s.params().M; })
      .def_property_readonly("ef_construction",
                             [](const cpu::HnswIndex& s) { return s.params().ef_construction; })
      .def_property_readonly("seed", [](const cpu::HnswIndex& s) { return s.params().seed; })
      .def(
          "save",
          [](const cpu::HnswIndex& self, const std::string& path) {
            without_gil([&] { self.save(path); });
          },
          py::arg("path"))
      .def_static(
          "load",
          [](const std::string& path) {
            return without_gil([&] { return cpu::HnswIndex::load(path); });
          },
          py::arg("path"));

  m.def(
      "beam_search",
      [](const F32& x, int metric, int M, const U32& level0, const U32& upper,
         const I64& upper_offset, std::int64_t entry, int max_level, const F32& q, int k, int ef,
         int threads) {
        require_2d(x, -1, "x");
        require_2d(q, -1, "queries");
        const std::int64_t n = x.shape(0), dim = x.shape(1), nq = q.shape(0);
        if (q.shape(1) != dim) throw py::value_error("queries and vectors differ in width");
        require_2d(level0, n, "level0");
        if (level0.shape(1) != 2 * M || upper_offset.ndim() != 1 || upper_offset.shape(0) != n)
          throw py::value_error("links do not match the index");
        if (k <= 0) throw py::value_error("k must be positive");
        U32 out({nq, static_cast<std::int64_t>(k)});
        F32 od({nq, static_cast<std::int64_t>(k)});
        std::uint32_t* o = out.mutable_data();
        float* d = od.mutable_data();
        without_gil([&] {
          cpu::beam_search(x.data(), n, dim, metric_from_code(metric), M, level0.data(),
                           upper.data(), upper_offset.data(), entry, max_level, q.data(), nq, k, ef,
                           o, d, threads, python_interrupt_check());
        });
        return std::make_pair(out, od);
      },
      py::arg("x"), py::arg("metric"), py::arg("M"), py::arg("level0"), py::arg("upper"),
      py::arg("upper_offset"), py::arg("entry"), py::arg("max_level"), py::arg("q"), py::arg("k"),
      py::arg("ef"), py::arg("threads"));

  // CUDA launchers: pointers are device addresses the Python layer allocated and checked.
  m.def(
      "beam_search_cuda",
      [](const MatrixView& x, int metric, int M, std::uintptr_t level0, std::uintptr_t upper,
         std::uintptr_t upper_offset, std::int64_t entry, int max_level, const MatrixView& q, int k,
         int ef, std::uintptr_t out_ids, std::uintptr_t out_dist, int device,
         std::uintptr_t stream) {
        same_width(q, x);
        const float* xf = dense_float32(x, "x");
        const float* qf = dense_float32(q, "q");
        const std::int64_t n = x.rows, dim = x.cols, nq = q.rows;
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::beam_search(xf, n, dim, metric, M, ptr<const std::uint32_t>(level0),
                            ptr<const std::uint32_t>(upper), ptr<const std::int64_t>(upper_offset),
                            entry, max_level, qf, nq, k, ef, ptr<std::uint32_t>(out_ids),
                            ptr<float>(out_dist), device, ptr<void>(stream));
        });
#else
        (void)xf, (void)n, (void)dim, (void)metric, (void)M, (void)level0, (void)upper,
            (void)upper_offset, (void)entry, (void)max_level, (void)qf, (void)nq, (void)k, (void)ef,
            (void)out_ids, (void)out_dist, (void)device, (void)stream;
        no_cuda();
#endif
      },
      py::arg("x"), py::arg("metric"), py::arg("M"), py::arg("level0"), py::arg("upper"),
      py::arg("upper_offset"), py::arg("entry"), py::arg("max_level"), py::arg("q"), py::arg("k"),
      py::arg("ef"), py::arg("out_ids"), py::arg("out_dist"), py::arg("device"), py::arg("stream"));
}

}  // namespace panning::bindings
