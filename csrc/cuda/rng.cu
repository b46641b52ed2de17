// CUDA twin of csrc/cpu/rng.cpp: the same header, one thread per output value.
#include <cuda_runtime.h>

#include "anomgrad/device.h"
#include "anomgrad/kernels.h"
#include "anomgrad/rng.h"
#include "check.cuh"

namespace anomgrad::cuda {

namespace {

__global__ void words_kernel(uint32_t* out, int64_t n_traj, int64_t count, uint64_t seed,
                             uint64_t traj0, uint32_t stream) {
  const int64_t nblk = count / 4;
  const int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= n_traj * nblk) return;
  const int64_t i = g / nblk, b = g % nblk;
  const Words w = philox_block(seed, traj0 + uint64_t(i), stream, uint32_t(b));
  uint32_t* row = out + i * count + 4 * b;
  for (int q = 0; q < 4; ++q) AG_ST(row + q, w.w[q]);
}

__global__ void normals_kernel(double* out, int64_t n_traj, int64_t count, uint64_t seed,
                               uint64_t traj0, uint32_t stream) {
  const int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= n_traj * count) return;
  const int64_t i = g / count, j = g % count;
  AG_ST(out + g, normal_at(seed, traj0 + uint64_t(i), stream, uint64_t(j)));
}

constexpr int kThreads = 256;
inline unsigned grid_for(int64_t work) { return unsigned((work + kThreads - 1) / kThreads); }

}  // namespace

bool device_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

void rng_words(uint32_t* out, int64_t n_traj, int64_t count, uint64_t seed, uint64_t traj0,
               uint32_t stream, std::uintptr_t cuda_stream) {
  const int64_t work = n_traj * (count / 4);
  if (work == 0) return;
  AG_LAUNCH(words_kernel, grid_for(work), kThreads, 0, reinterpret_cast<cudaStream_t>(cuda_stream),
            out, n_traj, count, seed, traj0, stream);
  check_launch("rng_words");
}

void rng_normals(double* out, int64_t n_traj, int64_t count, uint64_t seed, uint64_t traj0,
                 uint32_t stream, std::uintptr_t cuda_stream) {
  const int64_t work = n_traj * count;
  if (work == 0) return;
  AG_LAUNCH(normals_kernel, grid_for(work), kThreads, 0, reinterpret_cast<cudaStream_t>(cuda_stream),
            out, n_traj, count, seed, traj0, stream);
  check_launch("rng_normals");
}

}  // namespace anomgrad::cuda
