// Bindings of the generators and the processing kernels: numpy arrays for the CPU twins,
// device pointers (torch tensors' data_ptr) plus a CUDA stream for the CUDA twins.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "anomgrad/kernels.h"
#include "anomgrad/models.h"

namespace py = pybind11;
namespace ag = anomgrad;

namespace {

using f64c = py::array_t<double, py::array::c_style | py::array::forcecast>;
using i64c = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

// A writable C-contiguous float32/float64 array of shape (n, dim, T); returns is_double.
bool check_out(const py::array& a, const char* name) {
  if (a.ndim() != 3) throw py::value_error(std::string(name) + " must be (n, dim, T)");
  if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + " must be C-contiguous");
  if (!a.writeable()) throw py::value_error(std::string(name) + " must be writable");
  if (a.dtype().is(py::dtype::of<double>())) return true;
  if (a.dtype().is(py::dtype::of<float>())) return false;
  throw py::type_error(std::string(name) + " must be float32 or float64");
}

void generate_cpu(ag::Model model, py::array out, f64c alpha, uint64_t seed, uint64_t start) {
  const bool dbl = check_out(out, "out");
  const int64_t n = out.shape(0);
  if (alpha.size() != 1 && alpha.size() != n)
    throw py::value_error("alpha must have 1 or n values");
  ag::GenerateArgs g{model,         n,    int(out.shape(1)), out.shape(2), seed,
                     start,         alpha.data(), alpha.size() == n && n != 1, out.mutable_data(),
                     dbl};
  if (n > 0) ag::check_alpha_values(model, alpha.data(), g.alpha_per_traj ? n : 1);
  py::gil_scoped_release nogil;
  ag::cpu::generate(g);
}

ag::ProcessArgs process_args(const py::array& x, py::array& out, const i64c& off) {
  const bool dbl = check_out(out, "out");
  if (!x.dtype().is(out.dtype()) || x.ndim() != 3 || !(x.flags() & py::array::c_style))
    throw py::value_error("x must be C-contiguous with the dtype and shape of out");
  for (int d = 0; d < 3; ++d)
    if (x.shape(d) != out.shape(d)) throw py::value_error("x and out shapes differ");
  if (off.size() != x.shape(0)) throw py::value_error("off must have n values");
  if (x.shape(2) < 1) throw py::value_error("x must have at least one position (T >= 1), got T = 0");
  return ag::ProcessArgs{x.shape(0), int(x.shape(1)), x.shape(2), x.data(), out.mutable_data(),
                         dbl, off.data()};
}

}  // namespace

void bind_generate(py::module_& m, py::module_& host) {
  host.def("generate_cpu", &generate_cpu, py::arg("model"), py::arg("out"), py::arg("alpha"),
        py::arg("seed"), py::arg("start"),
        "C++ host build of the shared model code (the CPU twin of generate_cuda); fills out.");
  host.def(
      "normalize_cpu",
      [](py::array x, py::array out, i64c off) {
        const ag::ProcessArgs p = process_args(x, out, off);
        py::gil_scoped_release nogil;
        ag::cpu::normalize(p);
      },
      py::arg("x"), py::arg("out"), py::arg("off"));
  host.def(
      "add_noise_cpu",
      [](py::array x, py::array out, i64c off, f64c sigma, uint64_t seed, uint64_t start) {
        const ag::ProcessArgs p = process_args(x, out, off);
        if (sigma.size() != p.n) throw py::value_error("sigma must have n values");
        py::gil_scoped_release nogil;
        ag::cpu::add_noise(p, sigma.data(), seed, start);
      },
      py::arg("x"), py::arg("out"), py::arg("off"), py::arg("sigma"), py::arg("seed"),
      py::arg("start"));
  host.def(
      "scale_cpu",
      [](py::array x, py::array out, i64c off, f64c g) {
        const ag::ProcessArgs p = process_args(x, out, off);
        if (g.size() != p.n) throw py::value_error("factor must have n values");
        py::gil_scoped_release nogil;
        ag::cpu::scale(p, g.data());
      },
      py::arg("x"), py::arg("out"), py::arg("off"), py::arg("factor"));
  host.def(
      "cut_cpu",
      [](py::array x, py::array out, i64c off) {
        const ag::ProcessArgs p = process_args(x, out, off);
        py::gil_scoped_release nogil;
        ag::cpu::cut(p);
      },
      py::arg("x"), py::arg("out"), py::arg("off"));

#ifdef ANOMGRAD_WITH_CUDA
  // Device pointers are integers (tensor.data_ptr()); Python has checked devices, dtypes,
  // shapes and contiguity (anomgrad/_cuda.py).  The CUDA twins check the rest (model id,
  // dim, sizes, null pointers, the FBM scratch; csrc/cuda/args.cuh) and generate_cuda
  // every alpha against the model's range (read back from the device), raising
  // ValueError before any launch.
  m.def(
      "generate_cuda",
      [](ag::Model model, std::uintptr_t out, int64_t n, int dim, int64_t T, bool out_double,
         std::uintptr_t alpha, bool alpha_per_traj, uint64_t seed, uint64_t start,
         std::uintptr_t scratch, uint64_t scratch_bytes, std::uintptr_t stream) {
        ag::GenerateArgs g{model, n, dim, T, seed, start,
                           reinterpret_cast<const double*>(alpha), alpha_per_traj,
                           reinterpret_cast<void*>(out), out_double};
        g.scratch = reinterpret_cast<void*>(scratch);
        g.scratch_bytes = scratch_bytes;
        py::gil_scoped_release nogil;
        ag::cuda::check_alpha(g, stream);
        ag::cuda::generate(g, stream);
      },
      py::arg("model"), py::arg("out"), py::arg("n"), py::arg("dim"), py::arg("T"),
      py::arg("out_double"), py::arg("alpha"), py::arg("alpha_per_traj"), py::arg("seed"),
      py::arg("start"), py::arg("scratch"), py::arg("scratch_bytes"), py::arg("stream"),
      "Trajectories start..start+n-1 of `model` into the (n, dim, T) device buffer `out`; "
      "scratch: device memory of fbm_scratch_bytes(n, T) bytes for FBM (0 otherwise).");
  m.def(
      "fbm_scratch_bytes",
      [](int64_t n, int64_t T) {
        py::gil_scoped_release nogil;
        return ag::cuda::fbm_scratch_bytes(n, T);
      },
      py::arg("n"), py::arg("T"),
      "Bytes of device scratch generate_cuda needs for n FBM trajectories of length T on the "
      "current device (sized to the blocks that are resident at once).");
  auto pa = [](std::uintptr_t x, std::uintptr_t out, int64_t n, int dim, int64_t T, bool dbl,
               std::uintptr_t off) {
    return ag::ProcessArgs{n, dim, T, reinterpret_cast<const void*>(x), reinterpret_cast<void*>(out),
                           dbl, reinterpret_cast<const int64_t*>(off)};
  };
  m.def(
      "normalize_cuda",
      [pa](std::uintptr_t x, std::uintptr_t out, int64_t n, int dim, int64_t T, bool dbl,
           std::uintptr_t off, std::uintptr_t stream) {
        py::gil_scoped_release nogil;
        ag::cuda::normalize(pa(x, out, n, dim, T, dbl, off), stream);
      },
      py::arg("x"), py::arg("out"), py::arg("n"), py::arg("dim"), py::arg("T"), py::arg("is_double"), py::arg("off"), py::arg("stream"));
  m.def(
      "add_noise_cuda",
      [pa](std::uintptr_t x, std::uintptr_t out, int64_t n, int dim, int64_t T, bool dbl,
           std::uintptr_t off, std::uintptr_t sigma, uint64_t seed, uint64_t start,
           std::uintptr_t stream) {
        py::gil_scoped_release nogil;
        ag::cuda::add_noise(pa(x, out, n, dim, T, dbl, off), reinterpret_cast<const double*>(sigma),
                            seed, start, stream);
      },
      py::arg("x"), py::arg("out"), py::arg("n"), py::arg("dim"), py::arg("T"), py::arg("is_double"), py::arg("off"), py::arg("sigma"), py::arg("seed"), py::arg("start"), py::arg("stream"));
  m.def(
      "scale_cuda",
      [pa](std::uintptr_t x, std::uintptr_t out, int64_t n, int dim, int64_t T, bool dbl,
           std::uintptr_t off, std::uintptr_t factor, std::uintptr_t stream) {
        py::gil_scoped_release nogil;
        ag::cuda::scale(pa(x, out, n, dim, T, dbl, off), reinterpret_cast<const double*>(factor),
                        stream);
      },
      py::arg("x"), py::arg("out"), py::arg("n"), py::arg("dim"), py::arg("T"), py::arg("is_double"), py::arg("off"), py::arg("factor"), py::arg("stream"));
  m.def(
      "cut_cuda",
      [pa](std::uintptr_t x, std::uintptr_t out, int64_t n, int dim, int64_t T, bool dbl,
           std::uintptr_t off, std::uintptr_t stream) {
        py::gil_scoped_release nogil;
        ag::cuda::cut(pa(x, out, n, dim, T, dbl, off), stream);
      },
      py::arg("x"), py::arg("out"), py::arg("n"), py::arg("dim"), py::arg("T"), py::arg("is_double"), py::arg("off"), py::arg("stream"));
#endif
}
