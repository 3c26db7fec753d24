// Bindings of uncertainty scoring: validate, release the GIL, call the CPU or CUDA kernels.
// Dtype and framework handling happens once in python/panning/scoring.py.
#include "bindings.hpp"

#if PANNING_WITH_CUDA
#include "../cuda/scoring.cuh"
#endif

namespace panning::bindings {
namespace {

ScoreMethod method_from_code(int code) {
  if (code < 0 || code > 2) throw py::value_error("unknown scoring method code");
  return static_cast<ScoreMethod>(code);
}

#if !PANNING_WITH_CUDA
[[noreturn]] void no_cuda() {
  throw std::runtime_error("panning was built without CUDA; rebuild with PANNING_CUDA=ON");
}
#endif

}  // namespace

void bind_scoring(py::module_& m) {
  m.def(
      "score",
      [](const py::array& x, int dtype, int method, bool from_logits,
         py::array_t<float, py::array::c_style> out) {
        const MatrixView v = host_matrix(x, dtype_from_code(dtype));
        if (out.ndim() != 1 || out.shape(0) != v.rows)
          throw py::value_error("out must be a float32 vector with one entry per row");
        float* o = out.mutable_data();
        const ScoreMethod sm = method_from_code(method);
        without_gil([&] { cpu::score_rows(v, sm, from_logits, o, python_interrupt_check()); });
      },
      py::arg("x"), py::arg("dtype"), py::arg("method"), py::arg("from_logits"),
      py::arg("out").noconvert());

  m.def(
      "most_uncertain",
      [](const py::array& x, int dtype, int method, bool from_logits, std::int64_t k,
         py::array_t<std::int64_t, py::array::c_style> out) {
        const MatrixView v = host_matrix(x, dtype_from_code(dtype));
        if (k < 0 || k > v.rows) throw py::value_error("k must lie in [0, number of rows]");
        if (out.ndim() != 1 || out.shape(0) != k)
          throw py::value_error("out must be an int64 vector of length k");
        std::int64_t* o = out.mutable_data();
        const ScoreMethod sm = method_from_code(method);
        return without_gil([&] {
          return cpu::most_uncertain(v, sm, from_logits, k, o, python_interrupt_check());
        });
      },
      py::arg("x"), py::arg("dtype"), py::arg("method"), py::arg("from_logits"), py::arg("k"),
      py::arg("out").noconvert());

  m.def(
      "score_cuda",
      [](std::uintptr_t data, std::int64_t rows, std::int64_t cols, std::int64_t row_stride,
         std::int64_t col_stride, int dtype, int method, bool from_logits, std::uintptr_t out,
         int device, std::uintptr_t stream) {
        const MatrixView v = device_matrix(data, rows, cols, row_stride, col_stride, dtype);
        const ScoreMethod sm = method_from_code(method);
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::score_rows(v, sm, from_logits, reinterpret_cast<float*>(out), device,
                           reinterpret_cast<void*>(stream));
        });
#else
        (void)v, (void)sm, (void)from_logits, (void)out, (void)device, (void)stream;
        no_cuda();
#endif
      },
      py::arg("data"), py::arg("rows"), py::arg("cols"), py::arg("row_stride"),
      py::arg("col_stride"), py::arg("dtype"), py::arg("method"), py::arg("from_logits"),
      py::arg("out"), py::arg("device"), py::arg("stream"));

  m.def(
      "most_uncertain_cuda_workspace_bytes",
      [](std::int64_t rows, std::int64_t k) -> std::size_t {
#if PANNING_WITH_CUDA
        return cuda::most_uncertain_workspace_bytes(rows, k);
#else
        (void)rows, (void)k;
        no_cuda();
#endif
      },
      py::arg("rows"), py::arg("k"));

  m.def(
      "most_uncertain_cuda",
      [](std::uintptr_t data, std::int64_t rows, std::int64_t cols, std::int64_t row_stride,
         std::int64_t col_stride, int dtype, int method, bool from_logits, std::int64_t k,
         std::uintptr_t out, std::uintptr_t workspace, std::size_t workspace_bytes, int device,
         std::uintptr_t stream) -> std::int64_t {
        const MatrixView v = device_matrix(data, rows, cols, row_stride, col_stride, dtype);
        const ScoreMethod sm = method_from_code(method);
        if (k < 0 || k > v.rows) throw py::value_error("k must lie in [0, number of rows]");
#if PANNING_WITH_CUDA
        return without_gil([&] {
          return cuda::most_uncertain(v, sm, from_logits, k, reinterpret_cast<std::int64_t*>(out),
                                      reinterpret_cast<void*>(workspace), workspace_bytes, device,
                                      reinterpret_cast<void*>(stream));
        });
#else
        (void)v, (void)sm, (void)from_logits, (void)out, (void)workspace, (void)workspace_bytes,
            (void)device, (void)stream;
        no_cuda();
#endif
      },
      py::arg("data"), py::arg("rows"), py::arg("cols"), py::arg("row_stride"),
      py::arg("col_stride"), py::arg("dtype"), py::arg("method"), py::arg("from_logits"),
      py::arg("k"), py::arg("out"), py::arg("workspace"), py::arg("workspace_bytes"),
      py::arg("device"), py::arg("stream"));
}

}  // namespace panning::bindings
