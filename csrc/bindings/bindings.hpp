// Helpers shared by the bind_<family>.cpp files: array -> view conversion and interrupt checks.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "panning/common.hpp"
#include "panning/frontier.hpp"
#include "panning/interrupt.hpp"
#include "panning/knn.hpp"  // Metric and SearchResult, shared by the nearest-neighbour bindings
#include "panning/sizes.hpp"

namespace panning::bindings {

namespace py = pybind11;

// `value` as an int when it lies in [lo, hi], else ValueError naming `name` and the range. Sizes
// arrive as int64 so that a huge Python int is a clean ValueError here, not a pybind11 overload
// error.
inline int int_in_range(std::int64_t value, std::int64_t lo, std::int64_t hi, const char* name) {
  if (value < lo || value > hi)
    throw py::value_error(std::string(name) + " must be in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]; got " + std::to_string(value));
  return static_cast<int>(value);
}

// A thread count: <= 0 (every core) .. kMaxThreads.
inline int threads_arg(std::int64_t threads) {
  return int_in_range(threads < 0 ? 0 : threads, 0, kMaxThreads, "threads");
}

// The dtype code the Python layer chose (it owns the framework -> DType mapping).
inline DType dtype_from_code(int code) {
  if (code < 0 || code > 3) throw py::value_error("unknown dtype code " + std::to_string(code));
  return static_cast<DType>(code);
}

// A 2-D host array as a MatrixView, without copying or casting: the caller has already checked
// that the array's element type matches `dtype`.
inline MatrixView host_matrix(const py::array& a, DType dtype) {
  if (a.ndim() != 2) throw py::value_error("expected a 2-D array");
  const auto itemsize = static_cast<py::ssize_t>(dtype_size(dtype));
  if (a.itemsize() != itemsize) throw py::type_error("array itemsize does not match its dtype");
  if (a.strides(0) % itemsize != 0 || a.strides(1) % itemsize != 0)
    throw py::value_error("array strides must be multiples of the element size");
  MatrixView v;
  v.data = a.data();
  v.rows = a.shape(0);
  v.cols = a.shape(1);
  v.row_stride = a.strides(0) / itemsize;
  v.col_stride = a.strides(1) / itemsize;
  v.dtype = dtype;
  return v;
}

inline MatrixView device_matrix(std::uintptr_t data, std::int64_t rows, std::int64_t cols,
                                std::int64_t row_stride, std::int64_t col_stride, int dtype_code) {
  if (rows < 0 || cols < 0) throw py::value_error("negative shape");
  MatrixView v;
  v.data = reinterpret_cast<const void*>(data);
  v.rows = rows;
  v.cols = cols;
  v.row_stride = row_stride;
  v.col_stride = col_stride;
  v.dtype = dtype_from_code(dtype_code);
  return v;
}

// int64 neighbour ids at `data` (host or device) as a GraphView.
inline GraphView graph_view(std::uintptr_t data, std::int64_t rows, std::int64_t k,
                            std::int64_t row_stride, std::int64_t col_stride) {
  if (rows < 0 || k < 0) throw py::value_error("negative graph shape");
  GraphView g;
  g.ids = reinterpret_cast<const std::int64_t*>(data);
  g.rows = rows;
  g.k = k;
  g.row_stride = row_stride;
  g.col_stride = col_stride;
  return g;
}

// The rows of a C-contiguous float32 device matrix (the layout the graph-build and beam-search
// kernels read), or ValueError naming `what`.
inline const float* dense_float32(const MatrixView& v, const char* what) {
  if (v.dtype != DType::kFloat32 || v.col_stride != 1 || (v.rows > 1 && v.row_stride != v.cols))
    throw py::value_error(std::string(what) + " must be a C-contiguous float32 device matrix");
  return static_cast<const float*>(v.data);
}

// Queries and data of a kNN launch must have the same number of columns.
inline void same_width(const MatrixView& q, const MatrixView& x) {
  if (q.cols != x.cols)
    throw py::value_error("queries have " + std::to_string(q.cols) + " columns but the data " +
                          std::to_string(x.cols));
}

// Called without the GIL from native loops: takes the GIL briefly to let Python handle signals.
inline InterruptCheck python_interrupt_check() {
  return [] {
    py::gil_scoped_acquire gil;
    return PyErr_CheckSignals() != 0;
  };
}

// Runs `body` without the GIL; a Ctrl-C seen by the interrupt check becomes KeyboardInterrupt.
template <class Body>
auto without_gil(Body&& body) -> decltype(body()) {
  try {
    py::gil_scoped_release release;
    return body();
  } catch (const Interrupted&) {
    throw py::error_already_set();
  }
}

// ---- shared by the nearest-neighbour bindings (bind_knn, bind_hnsw, bind_hnsw_build) ----------

// The Metric of a code; the Python layer maps names to codes (panning/_native_index.py).
inline Metric metric_from_code(int code) {
  if (code < 0 || code > 2) throw py::value_error("unknown metric code " + std::to_string(code));
  return static_cast<Metric>(code);
}

using F32 = py::array_t<float, py::array::c_style>;
using U32 = py::array_t<std::uint32_t, py::array::c_style>;
using I64 = py::array_t<std::int64_t, py::array::c_style>;

inline void require_2d(const py::array& a, std::int64_t rows, const char* what) {
  if (a.ndim() != 2 || (rows >= 0 && a.shape(0) != rows))
    throw py::value_error(std::string(what) + " must be 2-D with one row per vector");
}

[[noreturn]] inline void no_cuda() {
  throw std::runtime_error("panning was built without CUDA; rebuild with PANNING_CUDA=ON");
}

// A device address from the Python layer as a typed pointer.
template <class T>
T* ptr(std::uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

using Ids = py::array_t<std::int64_t, py::array::c_style>;
using Dists = py::array_t<float, py::array::c_style>;

// A 1-D int64 array of `n` ids (or none), contiguous.
inline const std::int64_t* ids_pointer(const std::optional<Ids>& ids, std::int64_t n,
                                       const char* what) {
  if (!ids) return nullptr;
  if (ids->ndim() != 1 || (n >= 0 && ids->shape(0) != n))
    throw py::value_error(std::string(what) + " must be a 1-D int64 array of the right length");
  return ids->data();
}

// `add` of the index classes (HnswIndex, FlatIndex): rows of x under `ids` (or consecutive).
template <class Index>
void add_rows(Index& self, const py::array& x, int dtype, std::optional<Ids> ids,
              std::int64_t threads) {
  const MatrixView v = host_matrix(x, dtype_from_code(dtype));
  const std::int64_t* id = ids_pointer(ids, v.rows, "ids");
  const int n_threads = threads_arg(threads);
  without_gil([&] { self.add(v, id, n_threads, python_interrupt_check()); });
}

// The [rows, k] outputs of a search; the size is overflow-checked before numpy allocates it.
inline std::pair<Ids, Dists> result_arrays(std::int64_t rows, std::int64_t k) {
  const std::uint64_t n = checked_mul(rows, k, "the search results");
  if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / 8))
    throw py::value_error("the search results: " + std::to_string(rows) + " x " +
                          std::to_string(k) + " elements exceed the address space");
  return {Ids({rows, k}), Dists({rows, k})};
}

// `search` of the index classes: checks the queries, k, threads and exclusions, allocates the
// [rows, k] results and runs search(q, k, exclude, n_exclude, threads, ids, distances, interrupt)
// without the GIL.
template <class Search>
std::pair<Ids, Dists> search_rows(const py::array& q, int dtype, std::int64_t k,
                                  const std::optional<Ids>& exclude, std::int64_t threads,
                                  Search&& search) {
  const MatrixView v = host_matrix(q, dtype_from_code(dtype));
  check_k(k, "k");
  const int n_threads = threads_arg(threads);
  const std::int64_t* ex = ids_pointer(exclude, -1, "exclude");
  const std::int64_t n_ex = exclude ? exclude->shape(0) : 0;
  auto out = result_arrays(v.rows, k);
  std::int64_t* oi = out.first.mutable_data();
  float* od = out.second.mutable_data();
  without_gil([&] { search(v, k, ex, n_ex, n_threads, oi, od, python_interrupt_check()); });
  return out;
}

// Hands a vector to numpy without copying: the array owns it through a capsule.
template <class T>
py::array_t<T> adopt(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, owned->data(), free_when_done);
}

inline std::pair<py::array, py::array> adopt_result(SearchResult&& r, std::int64_t k) {
  const auto rows =
      static_cast<py::ssize_t>(k > 0 ? r.ids.size() / static_cast<std::size_t>(k) : 0);
  return {adopt(std::move(r.ids), {rows, static_cast<py::ssize_t>(k)}),
          adopt(std::move(r.distances), {rows, static_cast<py::ssize_t>(k)})};
}

// Methods that take no Python objects may block on the index lock while an add() runs; they
// must not hold the GIL then, or the add's interrupt check (which takes the GIL) deadlocks.
using release_gil = py::call_guard<py::gil_scoped_release>;

void bind_build_info(py::module_& m);
void bind_device(py::module_& m);
void bind_scoring(py::module_& m);
void bind_frontier(py::module_& m);
void bind_knn(py::module_& m);
void bind_hnsw(py::module_& m);
void bind_hnsw_build(py::module_& m);

}  // namespace panning::bindings
