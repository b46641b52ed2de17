// Bindings of the fused Grad-CAM kernel.  CPU: float32 numpy arrays (torch CPU tensors
// pass through .numpy() without a copy); CUDA: device pointers (0 = output not wanted).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include "anomgrad/kernels.h"

namespace py = pybind11;
namespace ag = anomgrad;

namespace {

using f32c = py::array_t<float, py::array::c_style>;

py::tuple gradcam_cpu(f32c A, f32c w, int64_t T, bool relu, bool linear, bool minmax,
                      bool want_cam, bool want_cells, int nbands) {
  if (A.ndim() != 3) throw py::value_error("activations must be (n, K, L)");
  const int64_t n = A.shape(0), K = A.shape(1), L = A.shape(2);
  if (w.ndim() != 2 || w.shape(0) != n || w.shape(1) != K)
    throw py::value_error("weights must be (n, K) matching the activations");
  if (T < 1 || L < 1) throw py::value_error("T and L must be >= 1");
  if (nbands < 0) throw py::value_error("nbands must be >= 0");
  py::object cam = py::none(), cells = py::none(), bands = py::none();
  ag::CamArgs a{n, K, L, T, A.data(), w.data(), relu, linear, minmax, nullptr, nullptr, nullptr,
                nbands};
  if (want_cam) {
    auto arr = py::array_t<float>({n, T});
    a.cam = arr.mutable_data();
    cam = arr;
  }
  if (want_cells) {
    auto arr = py::array_t<float>({n, L});
    a.cells = arr.mutable_data();
    cells = arr;
  }
  if (nbands > 0) {
    auto arr = py::array_t<uint8_t>({n, int64_t(nbands), L});
    a.bands = arr.mutable_data();
    bands = arr;
  }
  {
    py::gil_scoped_release nogil;
    ag::cpu::gradcam(a);
  }
  return py::make_tuple(cam, cells, bands);
}

}  // namespace

void bind_gradcam(py::module_& m) {
  m.def("gradcam_cpu", &gradcam_cpu, py::arg("activations"), py::arg("weights"), py::arg("T"),
        py::arg("relu"), py::arg("linear"), py::arg("minmax"), py::arg("want_cam"),
        py::arg("want_cells"), py::arg("nbands"),
        "Fused Grad-CAM from activations (n, K, L) and weights (n, K): (cam (n, T) or None, "
        "cells (n, L) or None, bands (n, nbands, L) uint8 or None).");
#ifdef ANOMGRAD_WITH_CUDA
  m.def(
      "gradcam_cuda",
      [](std::uintptr_t A, std::uintptr_t w, int64_t n, int64_t K, int64_t L, int64_t T, bool relu,
         bool linear, bool minmax, std::uintptr_t cam, std::uintptr_t cells, std::uintptr_t bands,
         int nbands, std::uintptr_t stream) {
        const ag::CamArgs a{n, K, L, T, reinterpret_cast<const float*>(A),
                            reinterpret_cast<const float*>(w), relu, linear, minmax,
                            reinterpret_cast<float*>(cam), reinterpret_cast<float*>(cells),
                            reinterpret_cast<uint8_t*>(bands), nbands};
        py::gil_scoped_release nogil;
        ag::cuda::gradcam(a, stream);
      },
      py::arg("activations"), py::arg("weights"), py::arg("n"), py::arg("K"), py::arg("L"),
      py::arg("T"), py::arg("relu"), py::arg("linear"), py::arg("minmax"), py::arg("cam"),
      py::arg("cells"), py::arg("bands"), py::arg("nbands"), py::arg("stream"));
#endif
}
