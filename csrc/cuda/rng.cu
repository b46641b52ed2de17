// CUDA twin of csrc/cpu/rng.cpp: the same header.  Normals: one thread per value; words:
// one thread per Philox block, the block's 4 x 256 words written out through shared memory
// so that every warp store is whole sectors.
#include <cuda_runtime.h>

#include "anomgrad/device.h"
#include "anomgrad/kernels.h"
#include "anomgrad/rng.h"
#include "args.cuh"
#include "check.cuh"

namespace anomgrad::cuda {

namespace {

constexpr int kThreads = 256;

// Philox block g of the output (g = i * count/4 + b) is words 4g .. 4g+3: a block of
// threads owns the contiguous words [4 g0, 4 g0 + 1024).
__global__ void __launch_bounds__(kThreads) words_kernel(uint32_t* out, int64_t n_traj, int64_t count,
                                                         uint64_t seed, uint64_t traj0, uint32_t stream) {
  AG_SHARED(uint32_t, buf, 4 * kThreads);
  const int64_t nblk = count / 4, total = n_traj * nblk;
  const int64_t g0 = int64_t(blockIdx.x) * kThreads, g = g0 + threadIdx.x;
  if (g < total) {
    const Words w = philox_block(seed, traj0 + uint64_t(g / nblk), stream, uint32_t(g % nblk));
    for (int q = 0; q < 4; ++q) buf[4 * threadIdx.x + q] = w.w[q];
  }
  __syncthreads();
  const int64_t words = 4 * ((total - g0) < kThreads ? (total - g0) : kThreads);
  for (int64_t k = threadIdx.x; k < words; k += kThreads) AG_ST(out + 4 * g0 + k, buf[k]);
}

__global__ void normals_kernel(double* out, int64_t n_traj, int64_t count, uint64_t seed,
                               uint64_t traj0, uint32_t stream) {
  const int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= n_traj * count) return;
  const int64_t i = g / count, j = g % count;
  AG_ST(out + g, normal_at(seed, traj0 + uint64_t(i), stream, uint64_t(j)));
}

inline unsigned grid_for(int64_t work) { return unsigned((work + kThreads - 1) / kThreads); }

}  // namespace

bool device_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

void rng_words(uint32_t* out, int64_t n_traj, int64_t count, uint64_t seed, uint64_t traj0,
               uint32_t stream, std::uintptr_t cuda_stream) {
  check_rng(out, n_traj, count);
  if (count % 4) bad_argument("count must be a multiple of 4, got " + std::to_string(count));
  const int64_t work = n_traj * (count / 4);
  if (work == 0) return;
  AG_LAUNCH(words_kernel, grid_for(work), kThreads, 0, reinterpret_cast<cudaStream_t>(cuda_stream),
            out, n_traj, count, seed, traj0, stream);
  check_launch("rng_words");
}

void rng_normals(double* out, int64_t n_traj, int64_t count, uint64_t seed, uint64_t traj0,
                 uint32_t stream, std::uintptr_t cuda_stream) {
  check_rng(out, n_traj, count);
  const int64_t work = n_traj * count;
  if (work == 0) return;
  AG_LAUNCH(normals_kernel, grid_for(work), kThreads, 0, reinterpret_cast<cudaStream_t>(cuda_stream),
            out, n_traj, count, seed, traj0, stream);
  check_launch("rng_normals");
}

}  // namespace anomgrad::cuda
