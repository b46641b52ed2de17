// AnDi processing of one (trajectory, axis) row, shared by host and device; mirrors
// anomgrad/processing.py operation for operation.  The CUDA kernels stream rows through
// shared memory in other loop shapes (csrc/cuda/processing.cu) but do these operations
// in this order, with the helpers below.
#pragma once
#include <cstdint>

#include "device.h"
#include "rng.h"

namespace anomgrad {

constexpr uint32_t STREAM_NOISE = 32;
constexpr uint32_t STREAM_DIFFUSION = 48;

// Mean and standard deviation of the m increments of a row from their sums.
AG_HD double normalize_mean(double sum, int64_t m) { return m > 0 ? sum / double(m) : 0.0; }
AG_HD double normalize_sd(double sumsq, int64_t m) {
  const double sd = m > 0 ? sqrt(sumsq / double(m)) : 0.0;
  return sd == 0.0 ? 1.0 : sd;
}

// A valid element after scale_diffusion: g (x - x0).
template <class T_>
AG_HD T_ scale_value(T_ x, double x0, double g) {
  return T_(g * (double(x) - x0));
}

template <class T_>
AG_HD void normalize_row(const T_* src, T_* dst, int64_t T, int64_t o) {
  const int64_t m = T - 1 - o;
  for (int64_t t = 0; t < o; ++t) dst[t] = T_(0);
  double mean = 0.0;
  for (int64_t t = o + 1; t < T; ++t) mean += double(src[t]) - double(src[t - 1]);
  mean = normalize_mean(mean, m);
  double var = 0.0;
  for (int64_t t = o + 1; t < T; ++t) {
    const double d = double(src[t]) - double(src[t - 1]) - mean;
    var += d * d;
  }
  const double sd = normalize_sd(var, m);
  double acc = 0.0;
  dst[o] = T_(0);
  for (int64_t t = o + 1; t < T; ++t) {
    acc += (double(src[t]) - double(src[t - 1])) / sd;
    dst[t] = T_(acc);
  }
}

// Element t of the noisy row (axis a of trajectory traj).
template <class T_>
AG_HD T_ noisy(const T_* src, int64_t t, int64_t o, int a, double sigma, uint64_t seed,
               uint64_t traj) {
  if (t < o) return AG_LD(src + t);
  return T_(double(AG_LD(src + t)) + sigma * normal_at(seed, traj, STREAM_NOISE + a, uint64_t(t - o)));
}

template <class T_>
AG_HD void scale_row(const T_* src, T_* dst, int64_t T, int64_t o, double g) {
  const double x0 = double(src[o]);
  for (int64_t t = 0; t < o; ++t) dst[t] = src[t];
  for (int64_t t = o; t < T; ++t) dst[t] = scale_value(src[t], x0, g);
}

template <class T_>
AG_HD void cut_row(const T_* src, T_* dst, int64_t T, int64_t o) {
  for (int64_t t = 0; t < o; ++t) dst[t] = T_(0);
  for (int64_t t = 0; t < T - o; ++t) dst[o + t] = src[t];
}

}  // namespace anomgrad
