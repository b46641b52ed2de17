// anomgrad._core: the compiled layer.  This file only registers the topics; each
// bind_<topic>.cpp binds its kernels (csrc/include/anomgrad/kernels.h), whose math lives
// in csrc/include/anomgrad/*.h and whose loops live in csrc/cpu and csrc/cuda.
//
//   _core        what the package runs: build facts, the Model ids, the fused Grad-CAM
//                CPU kernel and every CUDA entry point (device pointers + a stream)
//   _core.host   the C++ host twins of the Numba code (generators, processing, the
//                random-number contract), which the tests compare bit for bit
#include <pybind11/pybind11.h>

#include "anomgrad/kernels.h"
#include "anomgrad/models.h"

namespace py = pybind11;
namespace ag = anomgrad;

void bind_rng(py::module_& m, py::module_& host);       // csrc/bind_rng.cpp
void bind_generate(py::module_& m, py::module_& host);  // csrc/bind_generate.cpp
void bind_gradcam(py::module_& m);                      // csrc/bind_gradcam.cpp

PYBIND11_MODULE(_core, m) {
  m.doc() = "anomgrad native kernels (C++17, optional CUDA)";
#ifdef ANOMGRAD_WITH_CUDA
  m.attr("built_with_cuda") = true;
  m.def("cuda_device_available", &ag::cuda::device_available,
        "True when a CUDA driver and at least one device are present.");
#else
  m.attr("built_with_cuda") = false;
  m.def("cuda_device_available", []() { return false; },
        "Always False: this build has no CUDA kernels.");
#endif
  // The one definition of the model ids (csrc/include/anomgrad/models.h); Python maps
  // model names through it (anomgrad._cuda).
  py::enum_<ag::Model>(m, "Model", "Generator ids shared by the C++/CUDA kernels and Python.")
      .value(ag::MODEL_NAMES[ag::FBM], ag::FBM)
      .value(ag::MODEL_NAMES[ag::CTRW], ag::CTRW)
      .value(ag::MODEL_NAMES[ag::LW], ag::LW)
      .value(ag::MODEL_NAMES[ag::ATTM], ag::ATTM)
      .value(ag::MODEL_NAMES[ag::SBM], ag::SBM)
      .value(ag::MODEL_NAMES[ag::BM], ag::BM);

  py::module_ host = m.def_submodule(
      "host", "C++ host twins of the Numba kernels, for tests: same arguments, same bits.");
  // importable as `import anomgrad._core.host` (and so checkable by mypy.stubtest)
  py::module_::import("sys").attr("modules")["anomgrad._core.host"] = host;
  bind_rng(m, host);
  bind_generate(m, host);
  bind_gradcam(m);
}
