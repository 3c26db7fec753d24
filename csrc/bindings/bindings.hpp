// Helpers shared by the bind_<family>.cpp files: array -> view conversion and interrupt checks.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "panning/common.hpp"
#include "panning/scoring.hpp"
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

void bind_build(py::module_& m);
void bind_index(py::module_& m);
void bind_scoring(py::module_& m);
void bind_frontier(py::module_& m);
void bind_graph(py::module_& m);

}  // namespace panning::bindings
