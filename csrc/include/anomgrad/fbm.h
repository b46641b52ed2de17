// FBM by circulant embedding (docs/models.md), shared by host and device.
//
// The FFT is a radix-2 decimation-in-time transform written as independent pieces
// (one bit-reversal swap, one butterfly) so that the host runs them in loops and a CUDA
// block runs them across its threads (two stages per pass, four elements in registers,
// csrc/cuda/generate.cu fft_radix4_at); both do the same operations on the same operands,
// so host and device agree to the bit.  Twiddles come from the contract's sincos_word
// (exact angle 2 pi k / M for M a power of two).
#pragma once
#include <cstdint>

#include "models.h"

namespace anomgrad {

AG_HD int ilog2(int64_t M) {
  int l = 0;
  while ((int64_t(1) << l) < M) ++l;
  return l;
}

// M = 2 m, m the smallest power of two >= T - 1 (anomgrad/models/fbm.py).
AG_HD int64_t fbm_embedding_size(int64_t T) {
  const int64_t n = T - 1;
  int64_t m = 1;
  while (m < n) m <<= 1;
  return 2 * m;
}

// gamma(k), k = 0..m, of unit fGn with 2H = alpha (fgn_autocovariance in fbm.py).
AG_HD double fgn_gamma(double alpha, int64_t k) {
  if (k == 0) return 1.0;
  const double h2 = alpha;  // 2 * (alpha / 2)
  if (k == 1) return 0.5 * (expm1_det(h2 * log1p_recip(1)) - 1.0);
  const double lk = log_det(double(k));
  if (k < 4)
    return 0.5 * exp_det(h2 * lk) * (expm1_det(h2 * log1p_recip(k)) + expm1_det(-h2 * log1p_recip(k - 1)));
  return 0.5 * exp_det(h2 * lk) *
         (expm1_series(h2 * log1p_recip(k)) + expm1_series(-h2 * log1p_recip(k - 1)));
}

// tw[2k], tw[2k+1] = cos, -sin of 2 pi k / M, k < M/2 (forward transform).
AG_HD void fft_twiddle(double* tw, int log2M, int64_t k) {
  const CosSin cs = sincos_word(uint32_t(uint64_t(k) << (32 - log2M)));
  tw[2 * k] = cs.c;
  tw[2 * k + 1] = -cs.s;
}

AG_HD int64_t bit_reverse(int64_t i, int log2M) {
  int64_t r = 0;
  for (int b = 0; b < log2M; ++b) r |= ((i >> b) & 1) << (log2M - 1 - b);
  return r;
}

// Elements i and r = bit_reverse(i) exchanged, once per pair (i < r).
template <class I>
AG_HD void fft_swap_pair(double* re, double* im, I i, I r) {
  if (i < r) {
    const double a = re[i], b = im[i];
    re[i] = re[r];
    im[i] = im[r];
    re[r] = a;
    im[r] = b;
  }
}

AG_HD void fft_swap(double* re, double* im, int log2M, int64_t i) {
  fft_swap_pair(re, im, i, bit_reverse(i, log2M));
}

// The butterfly on (ar, ai) and (br, bi) with twiddle (wr, wi), in place: the one
// operation sequence of every FFT here, on arrays or on registers.
AG_HD void fft_butterfly_ref(double& ar, double& ai, double& br, double& bi, double wr, double wi) {
  const double tr = wr * br - wi * bi;
  const double ti = wr * bi + wi * br;
  br = ar - tr;
  bi = ai - ti;
  ar = ar + tr;
  ai = ai + ti;
}

// The butterfly on elements i0 and i1 = i0 + h with twiddle (wr, wi).
AG_HD void fft_butterfly_at(double* re, double* im, double wr, double wi, int64_t i0, int64_t i1) {
  fft_butterfly_ref(re[i0], im[i0], re[i1], im[i1], wr, wi);
}

// Butterfly b (< M/2) of the stage with half-size h: X_j = sum_k x_k exp(-2 pi i j k / M).
AG_HD void fft_butterfly(double* re, double* im, const double* tw, int64_t M, int64_t h,
                         int64_t b) {
  const int64_t pos = b % h;
  const int64_t i0 = (b / h) * 2 * h + pos, i1 = i0 + h;
  const int64_t k = pos * (M / (2 * h));
  fft_butterfly_at(re, im, tw[2 * k], tw[2 * k + 1], i0, i1);
}

// The CUDA kernel keeps a quarter of the twiddles: tq[2k], tq[2k+1] as fft_twiddle for
// k < fft_quarter(M).  For M/4 <= k < M/2 the angle is a quarter turn past k' = k - M/4;
// sincos_word takes the quadrant from the word's top bits and rotates the same polynomial
// values, so cos(k) = -sin(k') and sin(k) = cos(k') exactly (signed zeros included).
AG_HD int64_t fft_quarter(int64_t M) { return M >= 4 ? M / 4 : 1; }
// I: the caller's index type (the kernel uses 32 bits where M allows).
template <class I>
AG_HD void fft_twiddle_q(const double* tq, I M, I k, double* wr, double* wi) {
  const I q = M / 4;
  if (M < 4 || k < q) {
    *wr = tq[2 * k];
    *wi = tq[2 * k + 1];
  } else {
    const I k2 = k - q;
    *wr = tq[2 * k2 + 1];
    *wi = -tq[2 * k2];
  }
}

// Sequential FFT (host).
inline void fft_host(double* re, double* im, const double* tw, int64_t M) {
  const int l = ilog2(M);
  for (int64_t i = 0; i < M; ++i) fft_swap(re, im, l, i);
  for (int64_t h = 1; h < M; h <<= 1)
    for (int64_t b = 0; b < M / 2; ++b) fft_butterfly(re, im, tw, M, h, b);
}

// Circulant first row (real) for the eigenvalue transform: c_k = gamma(min(k, M - k)).
AG_HD double circulant_row(double alpha, int64_t M, int64_t k) {
  return fgn_gamma(alpha, k <= M / 2 ? k : M - k);
}

// Spectrum coefficient k of stream s: sqrt(lambda_k / M) (N_2k + i N_2k+1), with
// e[k'] = sqrt(lambda_k' / M) for k' = min(k, M - k).
AG_HD void fbm_spectrum(double* re, double* im, const double* e, int64_t M, NormalStream& ns,
                        int64_t k) {
  const double ek = e[k <= M / 2 ? k : M - k];
  re[k] = ns.at(uint64_t(2 * k)) * ek;
  im[k] = ns.at(uint64_t(2 * k + 1)) * ek;
}

}  // namespace anomgrad
