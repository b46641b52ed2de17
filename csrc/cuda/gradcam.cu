// CUDA twin of csrc/cpu/gradcam.cpp: one block per sample.  The cell partial sums, the
// upsampling, min-max and percentiles are the shared header's, so results equal the
// CPU kernel's bits; the sort for the percentiles is a shared-memory bitonic sort.
#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "anomgrad/device.h"
#include "anomgrad/gradcam.h"
#include "anomgrad/kernels.h"
#include "args.cuh"
#include "check.cuh"

namespace anomgrad::cuda {

namespace {

constexpr int kThreads = 256;

__host__ __device__ inline int64_t pow2_at_least(int64_t n) {
  int64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

struct Layout {  // offsets (bytes) of the dynamic shared memory
  size_t part, c, v, sorted, edges, run, red, ws, total;
};

__host__ __device__ inline Layout layout(const CamArgs& a) {
  Layout l{};
  size_t o = 0;
  l.part = o;
  o += sizeof(double) * CAM_GROUPS * size_t(a.L);
  l.edges = o;
  o += sizeof(double) * size_t(a.nbands + 1);
  l.run = o;  // first and last step of each cell (bands)
  o += a.bands ? 2 * sizeof(int64_t) * size_t(a.L) : 0;
  l.red = o;
  o += 2 * sizeof(float) * kThreads;
  l.c = o;
  o += sizeof(float) * size_t(a.L);
  l.v = o;
  o += (a.cam || a.bands) ? sizeof(float) * size_t(a.T) : 0;
  l.sorted = o;
  o += a.bands ? sizeof(float) * size_t(pow2_at_least(a.T)) : 0;
  l.ws = o;  // the sample's channel weights, loaded once (not once per cell)
  o += sizeof(float) * size_t(a.K);
  l.total = o;
  return l;
}

__global__ void gradcam_kernel(CamArgs a) {
  AG_DYN_SHARED(unsigned char, smem);
  const Layout l = layout(a);
  double* part = reinterpret_cast<double*>(smem + l.part);
  double* edges = reinterpret_cast<double*>(smem + l.edges);
  int64_t* first = reinterpret_cast<int64_t*>(smem + l.run);
  int64_t* last = first + a.L;
  float* red = reinterpret_cast<float*>(smem + l.red);
  float* c = reinterpret_cast<float*>(smem + l.c);
  float* v = reinterpret_cast<float*>(smem + l.v);
  float* sorted = reinterpret_cast<float*>(smem + l.sorted);
  float* ws = reinterpret_cast<float*>(smem + l.ws);
  const int tid = threadIdx.x, nt = blockDim.x;

  for (int64_t i = blockIdx.x; i < a.n; i += gridDim.x) {
    const float* A = a.A + i * a.K * a.L;
    const float* w = a.w + i * a.K;
    for (int64_t k = tid; k < a.K; k += nt) ws[k] = AG_LD(w + k);
    __syncthreads();
    // cam_partial with the weights from shared memory: the same terms in the same order
    for (int64_t e = tid; e < CAM_GROUPS * a.L; e += nt) {
      const int64_t j = e % a.L;
      double s = 0.0;
      for (int64_t k = e / a.L; k < a.K; k += CAM_GROUPS) s = cam_term(s, ws[k], AG_LD(A + k * a.L + j));
      part[e] = s;
    }
    __syncthreads();
    for (int64_t j = tid; j < a.L; j += nt) {
      double p[CAM_GROUPS];
      for (int g = 0; g < CAM_GROUPS; ++g) p[g] = part[g * a.L + j];
      c[j] = cam_combine(p, a.relu);
      if (a.cells) AG_ST(a.cells + i * a.L + j, c[j]);
    }
    __syncthreads();
    if (a.cam || a.bands) {
      float lo = INFINITY, hi = -INFINITY;
      for (int64_t t = tid; t < a.T; t += nt) {
        const float x = cam_upsample(c, a.L, a.T, t, a.linear);
        v[t] = x;
        lo = fminf(lo, x);
        hi = fmaxf(hi, x);
      }
      red[tid] = lo;
      red[nt + tid] = hi;
      __syncthreads();
      for (int s = nt / 2; s > 0; s >>= 1) {
        if (tid < s) {
          red[tid] = fminf(red[tid], red[tid + s]);
          red[nt + tid] = fmaxf(red[nt + tid], red[nt + tid + s]);
        }
        __syncthreads();
      }
      lo = red[0];
      hi = red[nt];
      if (a.cam)
        for (int64_t t = tid; t < a.T; t += nt)
          AG_ST(a.cam + i * a.T + t, a.minmax ? cam_minmax(v[t], lo, hi) : v[t]);
    }
    if (a.bands) {
      const int64_t P = pow2_at_least(a.T);
      for (int64_t t = tid; t < P; t += nt) sorted[t] = t < a.T ? v[t] : INFINITY;
      __syncthreads();
      for (int64_t k = 2; k <= P; k <<= 1)
        for (int64_t j = k >> 1; j > 0; j >>= 1) {
          for (int64_t t = tid; t < P; t += nt) {
            const int64_t u = t ^ j;
            if (u > t) {
              const bool up = (t & k) == 0;
              const float x = sorted[t], y = sorted[u];
              if ((x > y) == up) {
                sorted[t] = y;
                sorted[u] = x;
              }
            }
          }
          __syncthreads();
        }
      for (int b = tid; b <= a.nbands; b += nt)
        edges[b] = cam_percentile(sorted, a.T, double(100 * b) / double(a.nbands) / 100.0);
      // nearest upsampling maps the steps to the cells in order (floor of t times a
      // positive scale), so each cell's steps are one run: find its ends across the block
      // and scan only them (the same steps in the same order as a scan of all T)
      for (int64_t j = tid; j < a.L; j += nt) {
        first[j] = 0;
        last[j] = -1;
      }
      __syncthreads();
      for (int64_t t = tid; t < a.T; t += nt) {
        const int64_t j = cam_nearest(t, a.L, a.T);
        if (t == 0 || cam_nearest(t - 1, a.L, a.T) != j) first[j] = t;
        if (t == a.T - 1 || cam_nearest(t + 1, a.L, a.T) != j) last[j] = t;
      }
      __syncthreads();
      for (int64_t j = tid; j < a.L; j += nt) {
        float mn = 0.0f, mx = 0.0f;
        int64_t count = 0;
        for (int64_t t = first[j]; t <= last[j]; ++t) {
          mn = count == 0 || v[t] < mn ? v[t] : mn;
          mx = count == 0 || v[t] > mx ? v[t] : mx;
          ++count;
        }
        for (int b = 0; b < a.nbands; ++b)
          AG_ST(a.bands + (i * a.nbands + b) * a.L + j,
                uint8_t(count > 0 && double(mn) > edges[b] && double(mx) < edges[b + 1]));
      }
    }
    __syncthreads();
  }
}

}  // namespace

void gradcam(const CamArgs& a, std::uintptr_t stream) {
  check_cam(a);
  if (a.n == 0) return;
  const Layout l = layout(a);
  int dev = 0, sms = 0, optin = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "SM count");
  check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
        "shared memory limit");
  if (l.total > size_t(optin))
    throw std::invalid_argument("gradcam: L=" + std::to_string(a.L) + ", T=" + std::to_string(a.T) +
                                " needs " + std::to_string(l.total) + " bytes of shared memory, " +
                                "this GPU has " + std::to_string(optin) + " per block");
  check(cudaFuncSetAttribute(gradcam_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(l.total)),
        "gradcam shared memory");
  const int64_t grid = a.n < int64_t(16) * sms ? a.n : int64_t(16) * sms;
  AG_LAUNCH(gradcam_kernel, unsigned(grid), kThreads, l.total, reinterpret_cast<cudaStream_t>(stream), a);
  check_launch("gradcam");
}

}  // namespace anomgrad::cuda
