// AnDi processing of one (trajectory, axis) row, shared by host and device; mirrors
// anomgrad/processing.py operation for operation.
#pragma once
#include <cstdint>

#include "device.h"
#include "rng.h"

namespace anomgrad {

constexpr uint32_t STREAM_NOISE = 32;
constexpr uint32_t STREAM_DIFFUSION = 48;

template <class T_>
AG_HD void normalize_row(const T_* src, T_* dst, int64_t T, int64_t o) {
  const int64_t m = T - 1 - o;
  for (int64_t t = 0; t < o; ++t) {
    AG_COUNT("light:normalize zeros");
    AG_ST(dst + t, T_(0));
  }
  double mean = 0.0;
  for (int64_t t = o + 1; t < T; ++t) {
    AG_COUNT("light:normalize mean");
    mean += double(AG_LD(src + t)) - double(AG_LD(src + t - 1));
  }
  mean = m > 0 ? mean / double(m) : 0.0;
  double var = 0.0;
  for (int64_t t = o + 1; t < T; ++t) {
    AG_COUNT("light:normalize var");
    const double d = double(AG_LD(src + t)) - double(AG_LD(src + t - 1)) - mean;
    var += d * d;
  }
  double sd = m > 0 ? sqrt(var / double(m)) : 0.0;
  if (sd == 0.0) sd = 1.0;
  double acc = 0.0;
  AG_ST(dst + o, T_(0));
  for (int64_t t = o + 1; t < T; ++t) {
    AG_COUNT("light:normalize out");
    acc += (double(AG_LD(src + t)) - double(AG_LD(src + t - 1))) / sd;
    AG_ST(dst + t, T_(acc));
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
  const double x0 = double(AG_LD(src + o));
  for (int64_t t = 0; t < o; ++t) {
    AG_COUNT("light:scale padding");
    AG_ST(dst + t, AG_LD(src + t));
  }
  for (int64_t t = o; t < T; ++t) {
    AG_COUNT("light:scale valid");
    AG_ST(dst + t, T_(g * (double(AG_LD(src + t)) - x0)));
  }
}

template <class T_>
AG_HD void cut_row(const T_* src, T_* dst, int64_t T, int64_t o) {
  for (int64_t t = 0; t < o; ++t) {
    AG_COUNT("light:cut zeros");
    AG_ST(dst + t, T_(0));
  }
  for (int64_t t = 0; t < T - o; ++t) {
    AG_COUNT("light:cut copy");
    AG_ST(dst + o + t, AG_LD(src + t));
  }
}

}  // namespace anomgrad
