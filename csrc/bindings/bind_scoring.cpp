// Bindings of uncertainty scoring: validate, release the GIL, call the CPU or CUDA kernels.
// Dtype and framework handling happens once in python/panning/scoring.py.
#include "bindings.hpp"
#include "panning/scoring.hpp"

#if PANNING_WITH_CUDA
#include "../cuda/scoring.cuh"
#endif

namespace panning::bindings {
namespace {

ScoreMethod method_from_code(int code) {
  if (code < 0 || code > 2) throw py::value_error("unknown scoring method code");
  return static_cast<ScoreMethod>(code);
}

// Scores come back as float32, or float64 for float64 inputs.
void check_score_output(const py::array& out, const MatrixView& x, std::int64_t n,
                        const char* what) {
  const bool f64 = x.dtype == DType::kFloat64;
  const bool ok_type =
      f64 ? py::isinstance<py::array_t<double>>(out) : py::isinstance<py::array_t<float>>(out);
  if (!ok_type || out.ndim() != 1 || out.shape(0) != n || !(out.flags() & py::array::c_style) ||
      !out.writeable())
    throw py::value_error(std::string(what) + " must be a writable contiguous " +
                          (f64 ? "float64" : "float32") + " vector of length " + std::to_string(n));
}

// A contiguous int64 id vector owned by the caller (no conversion: the Python layer made it).
py::array_t<std::int64_t> id_vector(const py::object& o, const char* what) {
  if (!py::isinstance<py::array_t<std::int64_t>>(o))
    throw py::type_error(std::string(what) + " must be an int64 numpy vector");
  auto a = o.cast<py::array_t<std::int64_t>>();
  if (a.ndim() != 1 || !(a.flags() & py::array::c_style))
    throw py::value_error(std::string(what) + " must be a contiguous 1-D vector");
  return a;
}

// The outputs and row selection of a CPU top-k (most_uncertain, bald_top_k), checked. The id
// vectors are held here, and not mutated, while the GIL is released.
struct TopKArgs {
  std::int64_t* out = nullptr;
  void* scores = nullptr;
  RowSelection selection;
  py::array_t<std::int64_t> candidates, exclude;
};

TopKArgs top_k_args(const MatrixView& x, std::int64_t k,
                    py::array_t<std::int64_t, py::array::c_style>& out,
                    const py::object& out_scores, const py::object& candidates,
                    const py::object& exclude) {
  if (k < 0) throw py::value_error("k must be >= 0");
  if (out.ndim() != 1 || out.shape(0) != k)
    throw py::value_error("out must be an int64 vector of length k");
  TopKArgs a;
  if (!out_scores.is_none()) {
    auto sa = out_scores.cast<py::array>();
    check_score_output(sa, x, k, "out_scores");
    a.scores = sa.mutable_data();
  }
  if (!candidates.is_none()) {
    a.candidates = id_vector(candidates, "candidates");
    a.selection.candidates = a.candidates.data();
    a.selection.num_candidates = a.candidates.shape(0);
  }
  if (!exclude.is_none()) {
    a.exclude = id_vector(exclude, "exclude");
    a.selection.exclude = a.exclude.data();
    a.selection.num_exclude = a.exclude.shape(0);
  }
  a.out = out.mutable_data();
  return a;
}

// A 3-D host array [samples, rows, cols] as a SamplesView, without copying or casting.
SamplesView host_samples(const py::array& a, DType dtype) {
  if (a.ndim() != 3) throw py::value_error("expected a 3-D [samples, rows, classes] array");
  const auto itemsize = static_cast<py::ssize_t>(dtype_size(dtype));
  if (a.itemsize() != itemsize) throw py::type_error("array itemsize does not match its dtype");
  for (int d = 0; d < 3; ++d)
    if (a.strides(d) % itemsize != 0)
      throw py::value_error("array strides must be multiples of the element size");
  SamplesView v;
  v.first.data = a.data();
  v.samples = a.shape(0);
  v.first.rows = a.shape(1);
  v.first.cols = a.shape(2);
  v.sample_stride = a.strides(0) / itemsize;
  v.first.row_stride = a.strides(1) / itemsize;
  v.first.col_stride = a.strides(2) / itemsize;
  v.first.dtype = dtype;
  if (v.samples < 1) throw py::value_error("BALD needs at least one sample");
  return v;
}

}  // namespace

void bind_scoring(py::module_& m) {
  m.def(
      "score",
      [](const py::array& x, int dtype, int method, bool from_logits, py::array out) {
        const MatrixView v = host_matrix(x, dtype_from_code(dtype));
        check_score_output(out, v, v.rows, "out");
        void* o = out.mutable_data();
        const ScoreMethod sm = method_from_code(method);
        without_gil([&] { cpu::score_rows(v, sm, from_logits, o, python_interrupt_check()); });
      },
      py::arg("x"), py::arg("dtype"), py::arg("method"), py::arg("from_logits"),
      py::arg("out").noconvert());

  m.def(
      "most_uncertain",
      [](const py::array& x, int dtype, int method, bool from_logits, std::int64_t k,
         py::array_t<std::int64_t, py::array::c_style> out, const py::object& out_scores,
         const py::object& candidates, const py::object& exclude) {
        const MatrixView v = host_matrix(x, dtype_from_code(dtype));
        const TopKArgs a = top_k_args(v, k, out, out_scores, candidates, exclude);
        const ScoreMethod sm = method_from_code(method);
        without_gil([&] {
          cpu::most_uncertain(v, sm, from_logits, k, a.out, a.scores, a.selection,
                              python_interrupt_check());
        });
      },
      py::arg("x"), py::arg("dtype"), py::arg("method"), py::arg("from_logits"), py::arg("k"),
      py::arg("out").noconvert(), py::arg("out_scores") = py::none(),
      py::arg("candidates") = py::none(), py::arg("exclude") = py::none());

  m.def(
      "bald",
      [](const py::array& x, int dtype, py::array out) {
        const SamplesView v = host_samples(x, dtype_from_code(dtype));
        check_score_output(out, v.first, v.first.rows, "out");
        void* o = out.mutable_data();
        without_gil([&] { cpu::bald_scores(v, o, python_interrupt_check()); });
      },
      py::arg("x"), py::arg("dtype"), py::arg("out").noconvert());

  m.def(
      "bald_top_k",
      [](const py::array& x, int dtype, std::int64_t k,
         py::array_t<std::int64_t, py::array::c_style> out, const py::object& out_scores,
         const py::object& candidates, const py::object& exclude) {
        const SamplesView v = host_samples(x, dtype_from_code(dtype));
        const TopKArgs a = top_k_args(v.first, k, out, out_scores, candidates, exclude);
        without_gil(
            [&] { cpu::bald_top_k(v, k, a.out, a.scores, a.selection, python_interrupt_check()); });
      },
      py::arg("x"), py::arg("dtype"), py::arg("k"), py::arg("out").noconvert(),
      py::arg("out_scores") = py::none(), py::arg("candidates") = py::none(),
      py::arg("exclude") = py::none());

  m.def(
      "bald_cuda",
      [](const SamplesView& v, std::uintptr_t out, int device, std::uintptr_t stream) {
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::bald_scores(v, reinterpret_cast<void*>(out), device,
                            reinterpret_cast<void*>(stream));
        });
#else
        (void)v, (void)out, (void)device, (void)stream;
        no_cuda();
#endif
      },
      py::arg("x"), py::arg("out"), py::arg("device"), py::arg("stream"));

  m.def(
      "bald_top_k_cuda",
      [](const SamplesView& v, std::int64_t k, std::uintptr_t out, std::uintptr_t out_scores,
         std::uintptr_t candidates, std::int64_t num_candidates, std::uintptr_t workspace,
         std::size_t workspace_bytes, int device, std::uintptr_t stream) {
        const std::int64_t n = candidates ? num_candidates : v.first.rows;
        if (k < 0 || k > n) throw py::value_error("k must lie in [0, number of candidate rows]");
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::bald_top_k(v, k, reinterpret_cast<std::int64_t*>(out),
                           reinterpret_cast<void*>(out_scores),
                           reinterpret_cast<const std::int64_t*>(candidates), num_candidates,
                           reinterpret_cast<void*>(workspace), workspace_bytes, device,
                           reinterpret_cast<void*>(stream));
        });
#else
        (void)v, (void)out, (void)out_scores, (void)workspace, (void)workspace_bytes, (void)device,
            (void)stream;
        no_cuda();
#endif
      },
      py::arg("x"), py::arg("k"), py::arg("out"), py::arg("out_scores"), py::arg("candidates"),
      py::arg("num_candidates"), py::arg("workspace"), py::arg("workspace_bytes"),
      py::arg("device"), py::arg("stream"));

  m.def(
      "score_cuda",
      [](const MatrixView& v, int method, bool from_logits, std::uintptr_t out, int device,
         std::uintptr_t stream) {
        const ScoreMethod sm = method_from_code(method);
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::score_rows(v, sm, from_logits, reinterpret_cast<void*>(out), device,
                           reinterpret_cast<void*>(stream));
        });
#else
        (void)v, (void)sm, (void)from_logits, (void)out, (void)device, (void)stream;
        no_cuda();
#endif
      },
      py::arg("x"), py::arg("method"), py::arg("from_logits"), py::arg("out"), py::arg("device"),
      py::arg("stream"));

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

  // candidates: device address of `num_candidates` unique in-range int64 row ids (0: all rows);
  // the Python layer builds and checks it (exclusions are folded into it there).
  m.def(
      "most_uncertain_cuda",
      [](const MatrixView& v, int method, bool from_logits, std::int64_t k, std::uintptr_t out,
         std::uintptr_t out_scores, std::uintptr_t candidates, std::int64_t num_candidates,
         std::uintptr_t workspace, std::size_t workspace_bytes, int device, std::uintptr_t stream) {
        const ScoreMethod sm = method_from_code(method);
        const std::int64_t n = candidates ? num_candidates : v.rows;
        if (k < 0 || k > n) throw py::value_error("k must lie in [0, number of candidate rows]");
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::most_uncertain(v, sm, from_logits, k, reinterpret_cast<std::int64_t*>(out),
                               reinterpret_cast<void*>(out_scores),
                               reinterpret_cast<const std::int64_t*>(candidates), num_candidates,
                               reinterpret_cast<void*>(workspace), workspace_bytes, device,
                               reinterpret_cast<void*>(stream));
        });
#else
        (void)v, (void)sm, (void)from_logits, (void)out, (void)out_scores, (void)workspace,
            (void)workspace_bytes, (void)device, (void)stream;
        no_cuda();
#endif
      },
      py::arg("x"), py::arg("method"), py::arg("from_logits"), py::arg("k"), py::arg("out"),
      py::arg("out_scores"), py::arg("candidates"), py::arg("num_candidates"), py::arg("workspace"),
      py::arg("workspace_bytes"), py::arg("device"), py::arg("stream"));
}

}  // namespace panning::bindings
