// Bindings of graph construction (HNSWIndex.build, knn_graph on the GPU) and the batched beam
// search: the CPU twins take numpy arrays, the CUDA launchers device pointers. Shapes and dtypes
// are checked in python/panning/graph_build.py; this layer checks what it dereferences.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "panning/graph_build.hpp"
#include "panning/hnsw.hpp"

#if PANNING_WITH_CUDA
#include "../cuda/graph_build.cuh"
#endif

namespace panning::bindings {
namespace {

using F32 = py::array_t<float, py::array::c_style>;
using U32 = py::array_t<std::uint32_t, py::array::c_style>;
using I64 = py::array_t<std::int64_t, py::array::c_style>;

Metric metric_of(int code) {
  if (code < 0 || code > 2) throw py::value_error("unknown metric code " + std::to_string(code));
  return static_cast<Metric>(code);
}

void require_2d(const py::array& a, std::int64_t rows, const char* what) {
  if (a.ndim() != 2 || (rows >= 0 && a.shape(0) != rows))
    throw py::value_error(std::string(what) + " must be 2-D with one row per vector");
}

[[noreturn, maybe_unused]] void no_cuda() {
  throw std::runtime_error("panning was built without CUDA");
}

#if PANNING_WITH_CUDA
template <class T>
T* ptr(std::uintptr_t p) {
  return reinterpret_cast<T*>(p);
}
#endif

}  // namespace

void bind_graph(py::module_& m) {
  m.def(
      "prune_candidates",
      [](const F32& x, int metric, const U32& cand, const F32& cand_dist,
         const std::optional<U32>& extra, const std::optional<F32>& extra_dist, int m_out,
         int threads) {
        require_2d(x, -1, "x");
        const std::int64_t n = x.shape(0), dim = x.shape(1);
        require_2d(cand, n, "candidates");
        require_2d(cand_dist, n, "candidate distances");
        const int K = static_cast<int>(cand.shape(1));
        if (cand_dist.shape(1) != K) throw py::value_error("candidate arrays differ in shape");
        int E = 0;
        if (extra.has_value() != extra_dist.has_value())
          throw py::value_error("extra candidates need their distances");
        if (extra) {
          require_2d(*extra, n, "extra candidates");
          require_2d(*extra_dist, n, "extra distances");
          E = static_cast<int>(extra->shape(1));
          if (extra_dist->shape(1) != E) throw py::value_error("extra arrays differ in shape");
        }
        U32 out({n, static_cast<std::int64_t>(m_out)});
        F32 od({n, static_cast<std::int64_t>(m_out)});
        std::uint32_t* o = out.mutable_data();
        float* d = od.mutable_data();
        const std::uint32_t* ep = extra ? extra->data() : nullptr;
        const float* edp = extra_dist ? extra_dist->data() : nullptr;
        without_gil([&] {
          cpu::prune_candidates(x.data(), n, dim, metric_of(metric), cand.data(), cand_dist.data(),
                                K, ep, edp, E, m_out, o, d, threads, python_interrupt_check());
        });
        return std::make_pair(out, od);
      },
      py::arg("x"), py::arg("metric"), py::arg("cand"), py::arg("cand_dist"), py::arg("extra"),
      py::arg("extra_dist"), py::arg("m"), py::arg("threads"));

  m.def(
      "reverse_merge",
      [](const F32& x, int metric, const U32& fwd, const F32& fwd_dist, int reverse_cap, int m_out,
         int threads) {
        require_2d(x, -1, "x");
        const std::int64_t n = x.shape(0), dim = x.shape(1);
        require_2d(fwd, n, "links");
        require_2d(fwd_dist, n, "link distances");
        const int m_in = static_cast<int>(fwd.shape(1));
        if (fwd_dist.shape(1) != m_in) throw py::value_error("link arrays differ in shape");
        U32 out({n, static_cast<std::int64_t>(m_out)});
        F32 od({n, static_cast<std::int64_t>(m_out)});
        std::uint32_t* o = out.mutable_data();
        float* d = od.mutable_data();
        without_gil([&] {
          cpu::reverse_merge(x.data(), n, dim, metric_of(metric), fwd.data(), fwd_dist.data(), m_in,
                             reverse_cap, m_out, o, d, threads, python_interrupt_check());
        });
        return std::make_pair(out, od);
      },
      py::arg("x"), py::arg("metric"), py::arg("fwd"), py::arg("fwd_dist"), py::arg("reverse_cap"),
      py::arg("m"), py::arg("threads"));

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
          cpu::beam_search(x.data(), n, dim, metric_of(metric), M, level0.data(), upper.data(),
                           upper_offset.data(), entry, max_level, q.data(), nq, k, ef, o, d,
                           threads, python_interrupt_check());
        });
        return std::make_pair(out, od);
      },
      py::arg("x"), py::arg("metric"), py::arg("M"), py::arg("level0"), py::arg("upper"),
      py::arg("upper_offset"), py::arg("entry"), py::arg("max_level"), py::arg("q"), py::arg("k"),
      py::arg("ef"), py::arg("threads"));

  // ---- CUDA launchers: pointers are device addresses the Python layer allocated and checked.
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
      [](std::uintptr_t q, std::int64_t q_rows, std::int64_t q_rs, std::int64_t q_cs, int q_dtype,
         std::int64_t q_base, std::uintptr_t x, std::int64_t x_rows, std::int64_t x_rs,
         std::int64_t x_cs, int x_dtype, std::int64_t x_base, std::int64_t dim, int metric, int k,
         std::uintptr_t ids, std::uintptr_t dist, std::uintptr_t ws, std::size_t ws_bytes,
         int device, std::uintptr_t stream) {
        const MatrixView qv = device_matrix(q, q_rows, dim, q_rs, q_cs, q_dtype);
        const MatrixView xv = device_matrix(x, x_rows, dim, x_rs, x_cs, x_dtype);
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
      py::arg("q"), py::arg("q_rows"), py::arg("q_row_stride"), py::arg("q_col_stride"),
      py::arg("q_dtype"), py::arg("q_base"), py::arg("x"), py::arg("x_rows"),
      py::arg("x_row_stride"), py::arg("x_col_stride"), py::arg("x_dtype"), py::arg("x_base"),
      py::arg("dim"), py::arg("metric"), py::arg("k"), py::arg("ids"), py::arg("dist"),
      py::arg("workspace"), py::arg("workspace_bytes"), py::arg("device"), py::arg("stream"));

  m.def(
      "knn_refine_cuda",
      [](std::uintptr_t q, std::int64_t q_rows, std::int64_t q_rs, std::int64_t q_cs, int q_dtype,
         std::uintptr_t x, std::int64_t x_rows, std::int64_t x_rs, std::int64_t x_cs, int x_dtype,
         std::int64_t dim, int metric, int k, std::uintptr_t ids, std::uintptr_t dist, int device,
         std::uintptr_t stream) {
        const MatrixView qv = device_matrix(q, q_rows, dim, q_rs, q_cs, q_dtype);
        const MatrixView xv = device_matrix(x, x_rows, dim, x_rs, x_cs, x_dtype);
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
      py::arg("q"), py::arg("q_rows"), py::arg("q_row_stride"), py::arg("q_col_stride"),
      py::arg("q_dtype"), py::arg("x"), py::arg("x_rows"), py::arg("x_row_stride"),
      py::arg("x_col_stride"), py::arg("x_dtype"), py::arg("dim"), py::arg("metric"), py::arg("k"),
      py::arg("ids"), py::arg("dist"), py::arg("device"), py::arg("stream"));

  m.def(
      "prune_candidates_cuda",
      [](std::uintptr_t x, std::int64_t n, std::int64_t dim, int metric, std::uintptr_t cand,
         std::uintptr_t cand_dist, int K, std::uintptr_t extra, std::uintptr_t extra_dist, int E,
         int m_out, std::uintptr_t out, std::uintptr_t out_dist, int device,
         std::uintptr_t stream) {
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::prune_candidates(ptr<const float>(x), n, dim, metric,
                                 ptr<const std::uint32_t>(cand), ptr<const float>(cand_dist), K,
                                 ptr<const std::uint32_t>(extra), ptr<const float>(extra_dist), E,
                                 m_out, ptr<std::uint32_t>(out), ptr<float>(out_dist), device,
                                 ptr<void>(stream));
        });
#else
        (void)x, (void)n, (void)dim, (void)metric, (void)cand, (void)cand_dist, (void)K,
            (void)extra, (void)extra_dist, (void)E, (void)m_out, (void)out, (void)out_dist,
            (void)device, (void)stream;
        no_cuda();
#endif
      },
      py::arg("x"), py::arg("n"), py::arg("dim"), py::arg("metric"), py::arg("cand"),
      py::arg("cand_dist"), py::arg("K"), py::arg("extra"), py::arg("extra_dist"), py::arg("E"),
      py::arg("m"), py::arg("out"), py::arg("out_dist"), py::arg("device"), py::arg("stream"));

  m.def(
      "reverse_merge_workspace_bytes",
      [](std::int64_t n, int m_in, int device) -> std::size_t {
#if PANNING_WITH_CUDA
        return cuda::reverse_merge_workspace_bytes(n, m_in, device);
#else
        (void)n, (void)m_in, (void)device;
        no_cuda();
#endif
      },
      py::arg("n"), py::arg("m_in"), py::arg("device"));

  m.def(
      "reverse_merge_cuda",
      [](std::uintptr_t x, std::int64_t n, std::int64_t dim, int metric, std::uintptr_t fwd,
         std::uintptr_t fwd_dist, int m_in, int reverse_cap, int m_out, std::uintptr_t out,
         std::uintptr_t out_dist, std::uintptr_t ws, std::size_t ws_bytes, int device,
         std::uintptr_t stream) {
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::reverse_merge(ptr<const float>(x), n, dim, metric, ptr<const std::uint32_t>(fwd),
                              ptr<const float>(fwd_dist), m_in, reverse_cap, m_out,
                              ptr<std::uint32_t>(out), ptr<float>(out_dist), ptr<void>(ws),
                              ws_bytes, device, ptr<void>(stream));
        });
#else
        (void)x, (void)n, (void)dim, (void)metric, (void)fwd, (void)fwd_dist, (void)m_in,
            (void)reverse_cap, (void)m_out, (void)out, (void)out_dist, (void)ws, (void)ws_bytes,
            (void)device, (void)stream;
        no_cuda();
#endif
      },
      py::arg("x"), py::arg("n"), py::arg("dim"), py::arg("metric"), py::arg("fwd"),
      py::arg("fwd_dist"), py::arg("m_in"), py::arg("reverse_cap"), py::arg("m"), py::arg("out"),
      py::arg("out_dist"), py::arg("workspace"), py::arg("workspace_bytes"), py::arg("device"),
      py::arg("stream"));

  m.def(
      "beam_search_cuda",
      [](std::uintptr_t x, std::int64_t n, std::int64_t dim, int metric, int M,
         std::uintptr_t level0, std::uintptr_t upper, std::uintptr_t upper_offset,
         std::int64_t entry, int max_level, std::uintptr_t q, std::int64_t nq, int k, int ef,
         std::uintptr_t out_ids, std::uintptr_t out_dist, int device, std::uintptr_t stream) {
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::beam_search(ptr<const float>(x), n, dim, metric, M,
                            ptr<const std::uint32_t>(level0), ptr<const std::uint32_t>(upper),
                            ptr<const std::int64_t>(upper_offset), entry, max_level,
                            ptr<const float>(q), nq, k, ef, ptr<std::uint32_t>(out_ids),
                            ptr<float>(out_dist), device, ptr<void>(stream));
        });
#else
        (void)x, (void)n, (void)dim, (void)metric, (void)M, (void)level0, (void)upper,
            (void)upper_offset, (void)entry, (void)max_level, (void)q, (void)nq, (void)k, (void)ef,
            (void)out_ids, (void)out_dist, (void)device, (void)stream;
        no_cuda();
#endif
      },
      py::arg("x"), py::arg("n"), py::arg("dim"), py::arg("metric"), py::arg("M"),
      py::arg("level0"), py::arg("upper"), py::arg("upper_offset"), py::arg("entry"),
      py::arg("max_level"), py::arg("q"), py::arg("nq"), py::arg("k"), py::arg("ef"),
      py::arg("out_ids"), py::arg("out_dist"), py::arg("device"), py::arg("stream"));
}

}  // namespace panning::bindings
