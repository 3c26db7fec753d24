// Bindings of the HNSW and flat indexes: validate, allocate outputs, release the GIL, call.
// Dtype, shape and framework checks happen once in python/panning/index.py.
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "panning/hnsw.hpp"

namespace panning::bindings {
namespace {

using Ids = py::array_t<std::int64_t, py::array::c_style>;
using Dists = py::array_t<float, py::array::c_style>;

Metric metric_from_code(int code) {
  if (code < 0 || code > 2) throw py::value_error("unknown metric code " + std::to_string(code));
  return static_cast<Metric>(code);
}

Storage storage_from_code(int code) {
  if (code < 0 || code > 1) throw py::value_error("unknown storage code " + std::to_string(code));
  return static_cast<Storage>(code);
}

// A 1-D int64 array of `n` ids (or none), contiguous.
const std::int64_t* ids_pointer(const std::optional<Ids>& ids, std::int64_t n, const char* what) {
  if (!ids) return nullptr;
  if (ids->ndim() != 1 || (n >= 0 && ids->shape(0) != n))
    throw py::value_error(std::string(what) + " must be a 1-D int64 array of the right length");
  return ids->data();
}

// The [rows, k] outputs of a search; the size is overflow-checked before numpy allocates it.
std::pair<Ids, Dists> result_arrays(std::int64_t rows, std::int64_t k) {
  const std::uint64_t n = checked_mul(rows, k, "the search results");
  if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / 8))
    throw py::value_error("the search results: " + std::to_string(rows) + " x " +
                          std::to_string(k) + " elements exceed the address space");
  return {Ids({rows, k}), Dists({rows, k})};
}

// Hands a vector to numpy without copying: the array owns it through a capsule.
template <class T>
py::array_t<T> adopt(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, owned->data(), free_when_done);
}

std::pair<py::array, py::array> adopt_result(SearchResult&& r, std::int64_t k) {
  const auto rows =
      static_cast<py::ssize_t>(k > 0 ? r.ids.size() / static_cast<std::size_t>(k) : 0);
  return {adopt(std::move(r.ids), {rows, static_cast<py::ssize_t>(k)}),
          adopt(std::move(r.distances), {rows, static_cast<py::ssize_t>(k)})};
}

// Methods that take no Python objects may block on the index lock while an add() runs; they
// must not hold the GIL then, or the add's interrupt check (which takes the GIL) deadlocks.
using release_gil = py::call_guard<py::gil_scoped_release>;

}  // namespace

void bind_index(py::module_& m) {
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
      .def(
          "add",
          [](cpu::HnswIndex& self, const py::array& x, int dtype, std::optional<Ids> ids,
             std::int64_t threads) {
            const MatrixView v = host_matrix(x, dtype_from_code(dtype));
            const std::int64_t* id = ids_pointer(ids, v.rows, "ids");
            const int n_threads = threads_arg(threads);
            without_gil([&] { self.add(v, id, n_threads, python_interrupt_check()); });
          },
          py::arg("x"), py::arg("dtype"), py::arg("ids").noconvert(), py::arg("threads"))
      .def(
          "search",
          [](const cpu::HnswIndex& self, const py::array& q, int dtype, std::int64_t k,
             std::int64_t ef, std::optional<Ids> exclude, std::int64_t threads) {
            const MatrixView v = host_matrix(q, dtype_from_code(dtype));
            check_k(k, "k");
            const int ef_int = int_in_range(ef, 1, kMaxK, "ef");
            const int n_threads = threads_arg(threads);
            const std::int64_t* ex = ids_pointer(exclude, -1, "exclude");
            const std::int64_t n_ex = exclude ? exclude->shape(0) : 0;
            auto out = result_arrays(v.rows, k);
            std::int64_t* oi = out.first.mutable_data();
            float* od = out.second.mutable_data();
            without_gil([&] {
              self.search(v, k, ef_int, ex, n_ex, n_threads, oi, od, python_interrupt_check());
            });
            return out;
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

  py::class_<cpu::FlatIndex>(m, "FlatIndex")
      .def(py::init([](std::int64_t dim, int metric) {
             return std::make_unique<cpu::FlatIndex>(int_in_range(dim, 1, kMaxDim, "dim"),
                                                     metric_from_code(metric));
           }),
           py::arg("dim"), py::arg("metric"))
      .def(
          "add",
          [](cpu::FlatIndex& self, const py::array& x, int dtype, std::optional<Ids> ids,
             std::int64_t threads) {
            const MatrixView v = host_matrix(x, dtype_from_code(dtype));
            const std::int64_t* id = ids_pointer(ids, v.rows, "ids");
            const int n_threads = threads_arg(threads);
            without_gil([&] { self.add(v, id, n_threads, python_interrupt_check()); });
          },
          py::arg("x"), py::arg("dtype"), py::arg("ids").noconvert(), py::arg("threads"))
      .def(
          "search",
          [](const cpu::FlatIndex& self, const py::array& q, int dtype, std::int64_t k,
             std::optional<Ids> exclude, std::int64_t threads) {
            const MatrixView v = host_matrix(q, dtype_from_code(dtype));
            check_k(k, "k");
            const int n_threads = threads_arg(threads);
            const std::int64_t* ex = ids_pointer(exclude, -1, "exclude");
            const std::int64_t n_ex = exclude ? exclude->shape(0) : 0;
            auto out = result_arrays(v.rows, k);
            std::int64_t* oi = out.first.mutable_data();
            float* od = out.second.mutable_data();
            without_gil(
                [&] { self.search(v, k, ex, n_ex, n_threads, oi, od, python_interrupt_check()); });
            return out;
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
}

}  // namespace panning::bindings
