// Grad-CAM over time from activations and channel weights, shared by the CPU kernel
// (csrc/cpu/gradcam.cpp) and the CUDA kernel (csrc/cuda/gradcam.cu).
//
// For one sample with activations A (K, L) and weights w (K):
//   cell j      c_j = sum_k w_k A_kj   (K split into CAM_GROUPS interleaved partial sums,
//                                       each in double, added in group order: the CUDA
//                                       block computes the partials in parallel and gets
//                                       the same bits)
//   ReLU        optional
//   upsampling  to T steps, torch's F.interpolate conventions in float: "nearest"
//               (src = min(floor(t * L/T), L-1), with torch's special cases T == L and
//               T == 2L) or "linear" with align_corners=False
//   min-max     optional, per sample: (v - min) / (max - min), 0 when max == min
//   bands       optional: for the deciles (P_10b, P_10(b+1)) of the sample's upsampled
//               values (numpy's default linear percentile), cell j is in band b when every
//               step mapped to it (by the nearest rule) has a value strictly inside.
#pragma once
#include <cmath>
#include <cstdint>

#include "hd.h"

namespace anomgrad {

constexpr int CAM_GROUPS = 8;

// One term of a partial sum: s + w_k A_kj in double.
AG_HD double cam_term(double s, float w, float a) { return s + double(w) * double(a); }

AG_HD double cam_partial(const float* A, const float* w, int64_t K, int64_t L, int64_t j, int g) {
  double s = 0.0;
  for (int64_t k = g; k < K; k += CAM_GROUPS) s = cam_term(s, w[k], A[k * L + j]);
  return s;
}

AG_HD float cam_combine(const double* part, bool relu) {
  double s = part[0];
  for (int g = 1; g < CAM_GROUPS; ++g) s += part[g];
  const float c = float(s);
  return relu && c < 0.0f ? 0.0f : c;
}

// torch's nearest source index (aten/src/ATen/native/UpSample.h, nearest_idx).
AG_HD int64_t cam_nearest(int64_t t, int64_t L, int64_t T) {
  if (T == L) return t;
  if (T == 2 * L) return t >> 1;
  const float scale = float(L) / float(T);
  const int64_t s = int64_t(floorf(float(t) * scale));
  return s < L - 1 ? s : L - 1;
}

// Upsampled value at step t from the cell scores c (L).
AG_HD float cam_upsample(const float* c, int64_t L, int64_t T, int64_t t, bool linear) {
  if (!linear) return c[cam_nearest(t, L, T)];
  const float scale = float(L) / float(T);
  float src = scale * (float(t) + 0.5f) - 0.5f;
  if (src < 0.0f) src = 0.0f;
  int64_t i0 = int64_t(floorf(src));
  if (i0 > L - 1) i0 = L - 1;
  float lam1 = src - float(i0);
  lam1 = lam1 < 0.0f ? 0.0f : (lam1 > 1.0f ? 1.0f : lam1);
  const float lam0 = 1.0f - lam1;
  if (i0 == L - 1) return c[i0];  // no right neighbour: exactly the last cell
  return lam0 * c[i0] + lam1 * c[i0 + 1];
}

AG_HD float cam_minmax(float v, float lo, float hi) { return hi > lo ? (v - lo) / (hi - lo) : 0.0f; }

// numpy.percentile(float64(sorted), 100 q), default 'linear' method, q in [0, 1],
// operation for operation (numpy/lib/_function_base_impl.py: (n-1) q, _lerp).
AG_HD double cam_percentile(const float* sorted, int64_t n, double q) {
  const double vi = double(n - 1) * q;
  int64_t prev = int64_t(floor(vi));
  if (vi >= double(n - 1)) prev = n - 1;
  const double gamma = vi - double(prev);
  const int64_t next = prev + 1 < n ? prev + 1 : n - 1;
  const double a = double(sorted[prev]), b = double(sorted[next]);
  const double d = b - a;
  return gamma >= 0.5 ? b - d * (1.0 - gamma) : a + d * gamma;
}

}  // namespace anomgrad
