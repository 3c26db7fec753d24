// Bindings of the device-memory views every CUDA launcher takes as one argument each:
// DeviceMatrix (a 2-D float matrix: MatrixView), DeviceSamples (BALD's [samples, rows, classes]:
// SamplesView) and DeviceGraph (int64 neighbour ids: GraphView). The Python layer builds them
// from arrays it has checked (panning._arrays.Matrix.view, panning._device.Device.matrix and
// .graph); a launcher reads their fields instead of six loose integers.
#include <cstdint>
#include <string>

#include "bindings.hpp"
#include "panning/scoring.hpp"

namespace panning::bindings {

void bind_device(py::module_& m) {
  py::class_<MatrixView>(m, "DeviceMatrix",
                         "A matrix in device memory: address of element (0, 0), shape, strides "
                         "(in elements) and dtype code.")
      .def(py::init(&device_matrix), py::arg("data"), py::arg("rows"), py::arg("cols"),
           py::arg("row_stride"), py::arg("col_stride"), py::arg("dtype"))
      .def_property_readonly(
          "data", [](const MatrixView& v) { return reinterpret_cast<std::uintptr_t>(v.data); })
      .def_readonly("rows", &MatrixView::rows)
      .def_readonly("cols", &MatrixView::cols)
      .def_readonly("row_stride", &MatrixView::row_stride)
      .def_readonly("col_stride", &MatrixView::col_stride)
      .def_property_readonly("dtype", [](const MatrixView& v) { return static_cast<int>(v.dtype); })
      .def("__repr__", [](const MatrixView& v) {
        return "DeviceMatrix(rows=" + std::to_string(v.rows) + ", cols=" + std::to_string(v.cols) +
               ", strides=(" + std::to_string(v.row_stride) + ", " + std::to_string(v.col_stride) +
               "), dtype=" + std::to_string(static_cast<int>(v.dtype)) + ")";
      });

  py::class_<SamplesView>(m, "DeviceSamples",
                          "Monte-Carlo samples in device memory: sample 0 as a DeviceMatrix, the "
                          "sample count and the stride between samples (in elements).")
      .def(py::init([](const MatrixView& first, std::int64_t samples, std::int64_t sample_stride) {
             if (samples < 1) throw py::value_error("BALD needs at least one sample");
             SamplesView v;
             v.first = first;
             v.samples = samples;
             v.sample_stride = sample_stride;
             return v;
           }),
           py::arg("first"), py::arg("samples"), py::arg("sample_stride"))
      .def_readonly("first", &SamplesView::first)
      .def_readonly("samples", &SamplesView::samples)
      .def_readonly("sample_stride", &SamplesView::sample_stride);

  py::class_<GraphView>(m, "DeviceGraph",
                        "int64 neighbour ids in device memory: address of (0, 0), rows, columns "
                        "and strides (in elements).")
      .def(py::init(&graph_view), py::arg("data"), py::arg("rows"), py::arg("k"),
           py::arg("row_stride"), py::arg("col_stride"))
      .def_property_readonly(
          "data", [](const GraphView& g) { return reinterpret_cast<std::uintptr_t>(g.ids); })
      .def_readonly("rows", &GraphView::rows)
      .def_readonly("k", &GraphView::k)
      .def_readonly("row_stride", &GraphView::row_stride)
      .def_readonly("col_stride", &GraphView::col_stride);
}

}  // namespace panning::bindings
