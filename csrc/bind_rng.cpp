// Bindings of the random-number contract (docs/rng.md): the Philox block function,
// words and normals of a stream, and the contract's polynomial ln / exp / sincos.
// Host versions go to _core.host (tests compare them with the Numba twins); the CUDA
// ones, writing into device buffers, to _core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>

#include "anomgrad/kernels.h"
#include "anomgrad/models.h"
#include "anomgrad/processing.h"
#include "anomgrad/rng.h"

namespace py = pybind11;
namespace ag = anomgrad;

namespace {

void check_shape(int64_t n_traj, int64_t count) {
  if (n_traj < 0 || count < 0) throw py::value_error("n_traj and count must be >= 0");
}

py::array_t<uint32_t> words(uint64_t seed, uint64_t traj, uint32_t stream, int64_t count,
                            int64_t n_traj) {
  check_shape(n_traj, count);
  if (count % 4) throw py::value_error("count must be a multiple of 4");
  py::array_t<uint32_t> out({n_traj, count});
  uint32_t* p = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    ag::cpu::rng_words(p, n_traj, count, seed, traj, stream);
  }
  return out;
}

py::array_t<double> normals(uint64_t seed, uint64_t traj, uint32_t stream, int64_t count,
                            int64_t n_traj) {
  check_shape(n_traj, count);
  py::array_t<double> out({n_traj, count});
  double* p = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    ag::cpu::rng_normals(p, n_traj, count, seed, traj, stream);
  }
  return out;
}

}  // namespace

void bind_rng(py::module_& m, py::module_& host) {
  // The Philox stream ids the kernels use (anomgrad/config.py holds the same numbers;
  // the tests check that they agree).
  py::dict streams;
  streams["params"] = ag::STREAM_PARAMS;
  streams["events"] = ag::STREAM_EVENTS;
  streams["directions"] = ag::STREAM_DIRECTIONS;
  streams["axis"] = ag::STREAM_AXIS;
  streams["length"] = ag::STREAM_LENGTH;
  streams["noise"] = ag::STREAM_NOISE;
  streams["diffusion"] = ag::STREAM_DIFFUSION;
  host.attr("STREAMS") = streams;
  host.def(
      "philox4x32_10",
      [](std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
        const ag::Words w = ag::philox4x32_10(c[0], c[1], c[2], c[3], k[0], k[1]);
        return std::array<uint32_t, 4>{w.w[0], w.w[1], w.w[2], w.w[3]};
      },
      py::arg("counter"), py::arg("key"), "Philox4x32-10 block function.");
  host.def("words", &words, py::arg("seed"), py::arg("traj"), py::arg("stream"),
           py::arg("count"), py::arg("n_traj") = 1,
           "Words 0..count-1 of a stream for trajectories traj..traj+n_traj-1, (n_traj, count).");
  host.def("normals", &normals, py::arg("seed"), py::arg("traj"), py::arg("stream"),
           py::arg("count"), py::arg("n_traj") = 1,
           "Normals 0..count-1 of a stream for trajectories traj..traj+n_traj-1, (n_traj, count).");
  host.def("log_uniform", &ag::log_uniform, py::arg("w"), "ln((w + 0.5) / 2**32).");
  host.def("exp_det", &ag::exp_det, py::arg("x"), "The contract's e^x (|x| <= 700).");
  host.def(
      "sincos_word",
      [](uint32_t w) {
        const ag::CosSin r = ag::sincos_word(w);
        return py::make_tuple(r.c, r.s);
      },
      py::arg("w"), "(cos, sin) of 2 pi w / 2**32.");

#ifdef ANOMGRAD_WITH_CUDA
  m.def(
      "rng_normals_cuda",
      [](std::uintptr_t out, int64_t n_traj, int64_t count, uint64_t seed, uint64_t traj,
         uint32_t stream, std::uintptr_t cuda_stream) {
        check_shape(n_traj, count);
        py::gil_scoped_release nogil;
        ag::cuda::rng_normals(reinterpret_cast<double*>(out), n_traj, count, seed, traj, stream,
                              cuda_stream);
      },
      py::arg("out"), py::arg("n_traj"), py::arg("count"), py::arg("seed"), py::arg("traj"),
      py::arg("stream"), py::arg("cuda_stream"),
      "Write normals into a float64 device buffer (n_traj, count) on a CUDA stream.");
  m.def(
      "rng_words_cuda",
      [](std::uintptr_t out, int64_t n_traj, int64_t count, uint64_t seed, uint64_t traj,
         uint32_t stream, std::uintptr_t cuda_stream) {
        check_shape(n_traj, count);
        if (count % 4) throw py::value_error("count must be a multiple of 4");
        py::gil_scoped_release nogil;
        ag::cuda::rng_words(reinterpret_cast<uint32_t*>(out), n_traj, count, seed, traj, stream,
                            cuda_stream);
      },
      py::arg("out"), py::arg("n_traj"), py::arg("count"), py::arg("seed"), py::arg("traj"),
      py::arg("stream"), py::arg("cuda_stream"),
      "Write words into a uint32 device buffer (n_traj, count) on a CUDA stream.");
#endif
}
