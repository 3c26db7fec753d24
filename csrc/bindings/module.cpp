// The private extension module panning._core. Each kernel family binds itself in
// bind_<family>.cpp; the typed public API lives in python/panning/.
#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "panning's native kernels (private; use the panning package)";
  panning::bindings::bind_build_info(m);
  panning::bindings::bind_device(m);
  panning::bindings::bind_scoring(m);
  panning::bindings::bind_frontier(m);
  panning::bindings::bind_knn(m);
  panning::bindings::bind_hnsw(m);
  panning::bindings::bind_hnsw_build(m);
}
