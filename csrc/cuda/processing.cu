// CUDA twin of csrc/cpu/processing.cpp: one thread per row (normalize, scale, cut) or
// per element (noise), same header code.
#include <cuda_runtime.h>

#include "anomgrad/device.h"
#include "anomgrad/kernels.h"
#include "anomgrad/processing.h"
#include "check.cuh"

namespace anomgrad::cuda {

namespace {

constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t work) { return unsigned((work + kThreads - 1) / kThreads); }

template <class T_>
__global__ void normalize_kernel(ProcessArgs p) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= p.n * p.dim) return;
  normalize_row(static_cast<const T_*>(p.x) + r * p.T, static_cast<T_*>(p.out) + r * p.T, p.T,
                AG_LD(p.off + r / p.dim));
}

template <class T_>
__global__ void noise_kernel(ProcessArgs p, const double* sigma, uint64_t seed, uint64_t start) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= p.n * p.dim * p.T) return;
  const int64_t r = e / p.T, t = e % p.T, i = r / p.dim;
  const int a = int(r % p.dim);
  AG_ST(static_cast<T_*>(p.out) + e, noisy(static_cast<const T_*>(p.x) + r * p.T, t, AG_LD(p.off + i), a,
                                            AG_LD(sigma + i), seed, start + uint64_t(i)));
}

template <class T_>
__global__ void scale_kernel(ProcessArgs p, const double* g) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= p.n * p.dim) return;
  scale_row(static_cast<const T_*>(p.x) + r * p.T, static_cast<T_*>(p.out) + r * p.T, p.T,
            AG_LD(p.off + r / p.dim), AG_LD(g + r / p.dim));
}

template <class T_>
__global__ void cut_kernel(ProcessArgs p) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= p.n * p.dim) return;
  cut_row(static_cast<const T_*>(p.x) + r * p.T, static_cast<T_*>(p.out) + r * p.T, p.T,
          AG_LD(p.off + r / p.dim));
}

inline cudaStream_t as_stream(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

}  // namespace

void normalize(const ProcessArgs& p, std::uintptr_t s) {
  if (p.n * p.dim == 0) return;
  if (p.is_double)
    AG_LAUNCH(normalize_kernel<double>, blocks_for(p.n * p.dim), kThreads, 0, as_stream(s), p);
  else
    AG_LAUNCH(normalize_kernel<float>, blocks_for(p.n * p.dim), kThreads, 0, as_stream(s), p);
  check_launch("normalize");
}

void add_noise(const ProcessArgs& p, const double* sigma, uint64_t seed, uint64_t start,
               std::uintptr_t s) {
  const int64_t work = p.n * p.dim * p.T;
  if (work == 0) return;
  if (p.is_double)
    AG_LAUNCH(noise_kernel<double>, blocks_for(work), kThreads, 0, as_stream(s), p, sigma, seed, start);
  else
    AG_LAUNCH(noise_kernel<float>, blocks_for(work), kThreads, 0, as_stream(s), p, sigma, seed, start);
  check_launch("add_noise");
}

void scale(const ProcessArgs& p, const double* g, std::uintptr_t s) {
  if (p.n * p.dim == 0) return;
  if (p.is_double)
    AG_LAUNCH(scale_kernel<double>, blocks_for(p.n * p.dim), kThreads, 0, as_stream(s), p, g);
  else
    AG_LAUNCH(scale_kernel<float>, blocks_for(p.n * p.dim), kThreads, 0, as_stream(s), p, g);
  check_launch("scale_diffusion");
}

void cut(const ProcessArgs& p, std::uintptr_t s) {
  if (p.n * p.dim == 0) return;
  if (p.is_double)
    AG_LAUNCH(cut_kernel<double>, blocks_for(p.n * p.dim), kThreads, 0, as_stream(s), p);
  else
    AG_LAUNCH(cut_kernel<float>, blocks_for(p.n * p.dim), kThreads, 0, as_stream(s), p);
  check_launch("cut");
}

}  // namespace anomgrad::cuda
