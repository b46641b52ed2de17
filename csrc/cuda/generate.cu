// CUDA twin of csrc/cpu/generate.cpp.  The per-trajectory model code is the shared
// header (one thread per trajectory for CTRW, LW, ATTM, SBM, BM); FBM runs one block per
// trajectory with the embedding, spectrum, FFT and cumulative sum in shared memory
// (global scratch when the embedding does not fit).
#include <cuda_runtime.h>

#include <cmath>

#include "anomgrad/device.h"
#include "anomgrad/fbm.h"
#include "anomgrad/kernels.h"
#include "anomgrad/models.h"
#include "check.cuh"

namespace anomgrad::cuda {

namespace {

constexpr int kTrajThreads = 128;
constexpr int kFbmThreads = 256;

template <class Out>
__global__ void traj_kernel(GenerateArgs g) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= g.n) return;
  generate_traj(g.model, static_cast<Out*>(g.out) + i * g.dim * g.T, g.dim, g.T,
                AG_LD(g.alpha + (g.alpha_per_traj ? i : 0)), g.seed, g.start + uint64_t(i));
}

__device__ void block_fft(double* re, double* im, const double* tw, int64_t M, int l) {
  for (int64_t i = threadIdx.x; i < M; i += blockDim.x) fft_swap(re, im, l, i);
  __syncthreads();
  for (int64_t h = 1; h < M; h <<= 1) {
    for (int64_t b = threadIdx.x; b < M / 2; b += blockDim.x) fft_butterfly(re, im, tw, M, h, b);
    __syncthreads();
  }
}

// row[0] = 0, row[t] = src[0] + ... + src[t-1] (t < T): per-thread chunks, then the
// chunk totals are scanned by thread 0.  Summation order differs from the sequential
// host sum, so device and host FBM agree to rounding.
template <class Out>
__device__ void block_cumsum(const double* src, Out* row, int64_t T, double* part) {
  const int64_t n = T - 1, nt = blockDim.x, t = threadIdx.x;
  const int64_t chunk = (n + nt - 1) / nt, lo = t * chunk, hi = lo + chunk < n ? lo + chunk : n;
  double s = 0.0;
  for (int64_t k = lo; k < hi; ++k) s += src[k];
  part[t] = s;
  __syncthreads();
  if (t == 0) {
    double acc = 0.0;
    for (int64_t k = 0; k < nt; ++k) {
      const double v = part[k];
      part[k] = acc;
      acc += v;
    }
    AG_ST(row, Out(0));
  }
  __syncthreads();
  double acc = part[t];
  for (int64_t k = lo; k < hi; ++k) {
    acc += src[k];
    AG_ST(row + k + 1, Out(acc));
  }
  __syncthreads();
}

// Per-block work area: tw[M], re[M], im[M], e[M/2 + 1], part[blockDim].
__host__ __device__ inline size_t fbm_doubles(int64_t M) { return size_t(3 * M + M / 2 + 1 + kFbmThreads); }

template <class Out>
__global__ void fbm_kernel(GenerateArgs g, int64_t M, double* scratch) {
  AG_DYN_SHARED(double, smem);
  double* base = scratch ? scratch + size_t(blockIdx.x) * fbm_doubles(M) : smem;
  double *tw = base, *re = tw + M, *im = re + M, *e = im + M, *part = e + M / 2 + 1;
  const int l = ilog2(M);
  for (int64_t k = threadIdx.x; k < M / 2; k += blockDim.x) fft_twiddle(tw, l, k);
  double cached = nan("");
  __syncthreads();
  for (int64_t i = blockIdx.x; i < g.n; i += gridDim.x) {
    const double alpha = AG_LD(g.alpha + (g.alpha_per_traj ? i : 0));
    if (!(alpha == cached)) {
      for (int64_t k = threadIdx.x; k < M; k += blockDim.x) {
        re[k] = circulant_row(alpha, M, k);
        im[k] = 0.0;
      }
      __syncthreads();
      block_fft(re, im, tw, M, l);
      for (int64_t k = threadIdx.x; k <= M / 2; k += blockDim.x)
        e[k] = sqrt((re[k] > 0.0 ? re[k] : 0.0) / double(M));
      __syncthreads();
      cached = alpha;
    }
    Out* x = static_cast<Out*>(g.out) + i * g.dim * g.T;
    for (int s = 0; 2 * s < g.dim; ++s) {
      NormalStream ns(g.seed, g.start + uint64_t(i), STREAM_AXIS + s);
      for (int64_t k = threadIdx.x; k < M; k += blockDim.x) fbm_spectrum(re, im, e, M, ns, k);
      __syncthreads();
      block_fft(re, im, tw, M, l);
      block_cumsum(re, x + (2 * s) * g.T, g.T, part);
      if (2 * s + 1 < g.dim) block_cumsum(im, x + (2 * s + 1) * g.T, g.T, part);
    }
  }
}

template <class Out>
void fbm_launch(const GenerateArgs& g, cudaStream_t stream) {
  const int64_t M = fbm_embedding_size(g.T);
  int dev = 0, sms = 0, optin = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "SM count");
  check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
        "shared memory limit");
  const size_t bytes = fbm_doubles(M) * sizeof(double);
  const int64_t grid = g.n < int64_t(8) * sms ? g.n : int64_t(8) * sms;
  if (bytes <= size_t(optin)) {
    check(cudaFuncSetAttribute(fbm_kernel<Out>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               int(bytes)),
          "fbm shared memory");
    AG_LAUNCH(fbm_kernel<Out>, unsigned(grid), kFbmThreads, bytes, stream, g, M, nullptr);
    check_launch("fbm_kernel");
  } else {
    void* scratch = nullptr;
    check(cudaMallocAsync(&scratch, bytes * size_t(grid), stream), "fbm scratch allocation");
    AG_LAUNCH(fbm_kernel<Out>, unsigned(grid), kFbmThreads, 0, stream, g, M, static_cast<double*>(scratch));
    const cudaError_t launch = cudaGetLastError();
    check(cudaFreeAsync(scratch, stream), "fbm scratch release");
    check(launch, "fbm_kernel (global scratch)");
  }
}

template <class Out>
void generate_typed(const GenerateArgs& g, cudaStream_t stream) {
  if (g.n == 0) return;
  if (g.model == FBM) return fbm_launch<Out>(g, stream);
  const int64_t blocks = (g.n + kTrajThreads - 1) / kTrajThreads;
  AG_LAUNCH(traj_kernel<Out>, unsigned(blocks), kTrajThreads, 0, stream, g);
  check_launch("generate");
}

}  // namespace

void generate(const GenerateArgs& g, std::uintptr_t cuda_stream) {
  const cudaStream_t s = reinterpret_cast<cudaStream_t>(cuda_stream);
  if (g.out_double)
    generate_typed<double>(g, s);
  else
    generate_typed<float>(g, s);
}

}  // namespace anomgrad::cuda
