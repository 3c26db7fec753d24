// Bindings of HNSW level building from exact kNN candidates (HNSWIndex.build): prune and reverse
// merge, the CPU twins taking numpy arrays and the CUDA launchers device pointers. Shapes and
// dtypes are checked in python/panning/hnsw_build.py; this layer checks what it dereferences.
#include <optional>
#include <string>
#include <utility>

#include "bindings.hpp"
#include "panning/hnsw_build.hpp"

#if PANNING_WITH_CUDA
#include "../cuda/hnsw_build.cuh"
#endif

namespace panning::bindings {

void bind_hnsw_build(py::module_& m) {
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
          cpu::prune_candidates(x.data(), n, dim, metric_from_code(metric), cand.data(),
                                cand_dist.data(), K, ep, edp, E, m_out, o, d, threads,
                                python_interrupt_check());
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
          cpu::reverse_merge(x.data(), n, dim, metric_from_code(metric), fwd.data(),
                             fwd_dist.data(), m_in, reverse_cap, m_out, o, d, threads,
                             python_interrupt_check());
        });
        return std::make_pair(out, od);
      },
      py::arg("x"), py::arg("metric"), py::arg("fwd"), py::arg("fwd_dist"), py::arg("reverse_cap"),
      py::arg("m"), py::arg("threads"));

  // CUDA launchers: pointers are device addresses the Python layer allocated and checked.
  m.def(
      "prune_candidates_cuda",
      [](const MatrixView& x, int metric, std::uintptr_t cand, std::uintptr_t cand_dist, int K,
         std::uintptr_t extra, std::uintptr_t extra_dist, int E, int m_out, std::uintptr_t out,
         std::uintptr_t out_dist, int device, std::uintptr_t stream) {
        const float* xf = dense_float32(x, "x");
        const std::int64_t n = x.rows, dim = x.cols;
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::prune_candidates(xf, n, dim, metric, ptr<const std::uint32_t>(cand),
                                 ptr<const float>(cand_dist), K, ptr<const std::uint32_t>(extra),
                                 ptr<const float>(extra_dist), E, m_out, ptr<std::uint32_t>(out),
                                 ptr<float>(out_dist), device, ptr<void>(stream));
        });
#else
        (void)xf, (void)n, (void)dim, (void)metric, (void)cand, (void)cand_dist, (void)K,
            (void)extra, (void)extra_dist, (void)E, (void)m_out, (void)out, (void)out_dist,
            (void)device, (void)stream;
        no_cuda();
#endif
      },
      py::arg("x"), py::arg("metric"), py::arg("cand"), py::arg("cand_dist"), py::arg("K"),
      py::arg("extra"), py::arg("extra_dist"), py::arg("E"), py::arg("m"), py::arg("out"),
      py::arg("out_dist"), py::arg("device"), py::arg("stream"));

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
      [](const MatrixView& x, int metric, std::uintptr_t fwd, std::uintptr_t fwd_dist, int m_in,
         int reverse_cap, int m_out, std::uintptr_t out, std::uintptr_t out_dist, std::uintptr_t ws,
         std::size_t ws_bytes, int device, std::uintptr_t stream) {
        const float* xf = dense_float32(x, "x");
        const std::int64_t n = x.rows, dim = x.cols;
#if PANNING_WITH_CUDA
        without_gil([&] {
          cuda::reverse_merge(xf, n, dim, metric, ptr<const std::uint32_t>(fwd),
                              ptr<const float>(fwd_dist), m_in, reverse_cap, m_out,
                              ptr<std::uint32_t>(out), ptr<float>(out_dist), ptr<void>(ws),
                              ws_bytes, device, ptr<void>(stream));
        });
#else
        (void)xf, (void)n, (void)dim, (void)metric, (void)fwd, (void)fwd_dist, (void)m_in,
            (void)reverse_cap, (void)m_out, (void)out, (void)out_dist, (void)ws, (void)ws_bytes,
            (void)device, (void)stream;
        no_cuda();
#endif
      },
      py::arg("x"), py::arg("metric"), py::arg("fwd"), py::arg("fwd_dist"), py::arg("m_in"),
      py::arg("reverse_cap"), py::arg("m"), py::arg("out"), py::arg("out_dist"),
      py::arg("workspace"), py::arg("workspace_bytes"), py::arg("device"), py::arg("stream"));
}

}  // namespace panning::bindings
