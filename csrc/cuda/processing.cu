// CUDA twin of csrc/cpu/processing.cpp: the same numbers (the row helpers of
// anomgrad/processing.h, their operations in their order), laid out so that every global
// load and store is a whole, aligned 32-byte sector (docs/emulation.md).
//
// normalize   one lane per row: its three passes over the row are sequential sums, so
//             each lane keeps the host's order, and the warp streams its 32 rows through
//             shared memory in sector-aligned segments (warp.cuh) for loads and stores.
// add_noise,  one warp per row, lanes over positions from the row's first sector
// scale,      boundary; cut reads the source through a 64-element ring so that its
// cut         shifted reads are aligned loads too.
#include <cuda_runtime.h>

#include <climits>
#include <string>

#include "anomgrad/device.h"
#include "anomgrad/kernels.h"
#include "anomgrad/processing.h"
#include "args.cuh"
#include "check.cuh"
#include "warp.cuh"

namespace anomgrad::cuda {

namespace {

constexpr int kRowWarps = 4;  // warps per block of normalize (32 rows each)
constexpr int kThreads = 256;  // threads per block of the warp-per-row kernels

inline unsigned blocks_for(int64_t work, int per_block) {
  const int64_t b = (work + per_block - 1) / per_block;
  return unsigned(b < INT_MAX ? b : INT_MAX);
}

// ---- normalize: one lane per row -------------------------------------------------------------

template <class T_>
__global__ void __launch_bounds__(32 * kRowWarps) normalize_kernel(ProcessArgs p) {
  constexpr int C = RowRing<T_>::C;
  AG_DYN_SHARED(unsigned char, norm_smem);
  const int warp = int(threadIdx.x >> 5), lane = lane_id();
  RowRing<T_> in{reinterpret_cast<T_*>(norm_smem) + size_t(warp) * 2 * 32 * RowRing<T_>::S};
  RowRing<T_> out{in.v + 32 * RowRing<T_>::S};
  const int64_t rows = p.n * p.dim, T = p.T;
  const T_* x = static_cast<const T_*>(p.x);
  T_* y = static_cast<T_*>(p.out);
  for (int64_t r0 = (int64_t(blockIdx.x) * kRowWarps + warp) * 32; r0 < rows;
       r0 += int64_t(gridDim.x) * kRowWarps * 32) {
    const int nrows = rows - r0 < 32 ? int(rows - r0) : 32;
    const bool on = lane < nrows;
    const int64_t r = r0 + lane;
    const int64_t o = on ? AG_LD(p.off + r / p.dim) : 0;
    const int64_t m = T - 1 - o;
    const int ph = on ? row_phase(x + r * T) : 0;  // this lane's row is consumed from t0 - ph
    // pass 1 and 2: the sums of the increments and of their squared deviations
    double mean = 0.0, var = 0.0;
    for (int pass = 0; pass < 2; ++pass) {
      double prev = 0.0;
      for (int64_t t0 = 0; t0 < T + C; t0 += C) {
        AG_CONVERGE();
        gather_rows(in, x + r0 * T, T, nrows, t0, T);
        __syncwarp();
        if (on) {
          for (int c = 0; c < C; ++c) {
            const int64_t t = t0 - ph + c;
            if (t < 0 || t >= T) continue;
            const double v = double(in.get(lane, t));
            if (t >= o + 1) {
              if (pass == 0) {
                mean += v - prev;
              } else {
                const double d = v - prev - mean;
                var += d * d;
              }
            }
            prev = v;
          }
        }
      }
      if (pass == 0) mean = normalize_mean(mean, m);
      __syncwarp();
    }
    const double sd = normalize_sd(var, m);
    // pass 3: the output, staged for aligned stores one round behind
    double prev = 0.0, acc = 0.0;
    for (int64_t t0 = 0; t0 < T + 2 * C; t0 += C) {
      AG_CONVERGE();
      gather_rows(in, x + r0 * T, T, nrows, t0, T);
      __syncwarp();
      if (on) {
        for (int c = 0; c < C; ++c) {
          const int64_t t = t0 - ph + c;
          if (t < 0 || t >= T) continue;
          const double v = double(in.get(lane, t));
          T_ w = T_(0);
          if (t > o) {
            acc += (v - prev) / sd;
            w = T_(acc);
          }
          out.put(lane, t, w);
          prev = v;
        }
      }
      __syncwarp();
      if (t0 >= C) flush_rows(out, y + r0 * T, T, nrows, t0 - C, T);
    }
    __syncwarp();
  }
}

// ---- one warp per row ------------------------------------------------------------------------

// Row r of the warp, its trajectory and axis; lanes start at the row's sector boundary.
struct RowOfWarp {
  int64_t r, i;
  int a;
};

template <class T_>
__global__ void __launch_bounds__(kThreads) noise_kernel(ProcessArgs p, const double* sigma, uint64_t seed,
                                                         uint64_t start) {
  const int64_t rows = p.n * p.dim, T = p.T;
  const int lane = lane_id();
  for (int64_t r = (int64_t(blockIdx.x) * kThreads + threadIdx.x) / 32; r < rows;
       r += int64_t(gridDim.x) * (kThreads / 32)) {
    const int64_t i = r / p.dim;
    const int a = int(r % p.dim);
    const T_* src = static_cast<const T_*>(p.x) + r * T;
    T_* dst = static_cast<T_*>(p.out) + r * T;
    const int64_t o = AG_LD(p.off + i);
    const double s = AG_LD(sigma + i);
    for (int64_t t = lane - row_phase(dst); t < T; t += 32) {
      AG_CONVERGE();
      if (t >= 0) AG_ST(dst + t, noisy(src, t, o, a, s, seed, start + uint64_t(i)));
    }
  }
}

template <class T_>
__global__ void __launch_bounds__(kThreads) scale_kernel(ProcessArgs p, const double* factor) {
  const int64_t rows = p.n * p.dim, T = p.T;
  const int lane = lane_id();
  for (int64_t r = (int64_t(blockIdx.x) * kThreads + threadIdx.x) / 32; r < rows;
       r += int64_t(gridDim.x) * (kThreads / 32)) {
    const int64_t i = r / p.dim;
    const T_* src = static_cast<const T_*>(p.x) + r * T;
    T_* dst = static_cast<T_*>(p.out) + r * T;
    const int64_t o = AG_LD(p.off + i);
    const double g = AG_LD(factor + i);
    const double x0 = double(AG_LD(src + o));
    for (int64_t t = lane - row_phase(dst); t < T; t += 32) {
      AG_CONVERGE();
      if (t < 0) continue;
      const T_ v = AG_LD(src + t);
      AG_ST(dst + t, t < o ? v : scale_value(v, x0, g));
    }
  }
}

template <class T_>
__global__ void __launch_bounds__(kThreads) cut_kernel(ProcessArgs p) {
  AG_SHARED(T_, ring, 64 * (kThreads / 32));  // per warp: source positions mod 64
  const int64_t rows = p.n * p.dim, T = p.T;
  const int lane = lane_id();
  T_* mine = ring + 64 * (threadIdx.x / 32);
  for (int64_t r = (int64_t(blockIdx.x) * kThreads + threadIdx.x) / 32; r < rows;
       r += int64_t(gridDim.x) * (kThreads / 32)) {
    const T_* src = static_cast<const T_*>(p.x) + r * T;
    T_* dst = static_cast<T_*>(p.out) + r * T;
    const int64_t o = AG_LD(p.off + r / p.dim), L = T - o;
    const int64_t u0 = -int64_t(row_phase(src));  // the source's sector-aligned chunks start at u0 + 32k
    int64_t loaded = -1;                           // source chunks 0 .. loaded are in the ring
    for (int64_t d0 = -int64_t(row_phase(dst)); d0 < T; d0 += 32) {
      AG_CONVERGE();
      // out[d0 .. d0 + 31] = x[d0 - o .. d0 + 31 - o] where that is in [0, L)
      const int64_t lo = d0 - o > 0 ? d0 - o : 0, hi = d0 + 31 - o < L - 1 ? d0 + 31 - o : L - 1;
      if (lo <= hi) {
        const int64_t last = (hi - u0) >> 5;
        for (int64_t k = ((lo - u0) >> 5) > loaded + 1 ? ((lo - u0) >> 5) : loaded + 1; k <= last; ++k) {
          const int64_t u = u0 + 32 * k + lane;
          if (u >= 0 && u < L) mine[u & 63] = AG_LD(src + u);
          loaded = k;
        }
      }
      __syncwarp();
      const int64_t t = d0 + lane;
      if (t >= 0 && t < T) AG_ST(dst + t, t < o ? T_(0) : mine[(t - o) & 63]);
      __syncwarp();
    }
  }
}

inline cudaStream_t as_stream(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

template <class T_>
void normalize_launch(const ProcessArgs& p, cudaStream_t s) {
  const size_t smem = size_t(kRowWarps) * 2 * RowRing<T_>::bytes;
  AG_LAUNCH(normalize_kernel<T_>, blocks_for(p.n * p.dim, 32 * kRowWarps), 32 * kRowWarps, smem, s, p);
}

}  // namespace

void normalize(const ProcessArgs& p, std::uintptr_t s) {
  check_process(p);
  if (p.n * p.dim == 0) return;
  if (p.is_double)
    normalize_launch<double>(p, as_stream(s));
  else
    normalize_launch<float>(p, as_stream(s));
  check_launch("normalize");
}

void add_noise(const ProcessArgs& p, const double* sigma, uint64_t seed, uint64_t start,
               std::uintptr_t s) {
  check_process(p);
  need_pointer(sigma, "sigma", p.n > 0);
  if (p.n * p.dim == 0) return;
  const unsigned blocks = blocks_for(p.n * p.dim, kThreads / 32);
  if (p.is_double)
    AG_LAUNCH(noise_kernel<double>, blocks, kThreads, 0, as_stream(s), p, sigma, seed, start);
  else
    AG_LAUNCH(noise_kernel<float>, blocks, kThreads, 0, as_stream(s), p, sigma, seed, start);
  check_launch("add_noise");
}

void scale(const ProcessArgs& p, const double* g, std::uintptr_t s) {
  check_process(p);
  need_pointer(g, "factor", p.n > 0);
  if (p.n * p.dim == 0) return;
  const unsigned blocks = blocks_for(p.n * p.dim, kThreads / 32);
  if (p.is_double)
    AG_LAUNCH(scale_kernel<double>, blocks, kThreads, 0, as_stream(s), p, g);
  else
    AG_LAUNCH(scale_kernel<float>, blocks, kThreads, 0, as_stream(s), p, g);
  check_launch("scale_diffusion");
}

void cut(const ProcessArgs& p, std::uintptr_t s) {
  check_process(p);
  if (p.n * p.dim == 0) return;
  const unsigned blocks = blocks_for(p.n * p.dim, kThreads / 32);
  if (p.is_double)
    AG_LAUNCH(cut_kernel<double>, blocks, kThreads, 0, as_stream(s), p);
  else
    AG_LAUNCH(cut_kernel<float>, blocks, kThreads, 0, as_stream(s), p);
  check_launch("cut");
}

}  // namespace anomgrad::cuda
