// CPU twin of csrc/cuda/processing.cu (AnDi processing, anomgrad/processing.py).
#include "anomgrad/kernels.h"
#include "anomgrad/processing.h"

namespace anomgrad::cpu {

namespace {

template <class T_, class F>
void rows(const ProcessArgs& p, F f) {
  const T_* x = static_cast<const T_*>(p.x);
  T_* out = static_cast<T_*>(p.out);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < p.n * p.dim; ++r) f(x + r * p.T, out + r * p.T, r / p.dim, int(r % p.dim));
}

template <class T_>
void normalize_t(const ProcessArgs& p) {
  rows<T_>(p, [&](const T_* s, T_* d, int64_t i, int) { normalize_row(s, d, p.T, p.off[i]); });
}

template <class T_>
void noise_t(const ProcessArgs& p, const double* sigma, uint64_t seed, uint64_t start) {
  rows<T_>(p, [&](const T_* s, T_* d, int64_t i, int a) {
    for (int64_t t = 0; t < p.T; ++t) d[t] = noisy(s, t, p.off[i], a, sigma[i], seed, start + uint64_t(i));
  });
}

template <class T_>
void scale_t(const ProcessArgs& p, const double* g) {
  rows<T_>(p, [&](const T_* s, T_* d, int64_t i, int) { scale_row(s, d, p.T, p.off[i], g[i]); });
}

template <class T_>
void cut_t(const ProcessArgs& p) {
  rows<T_>(p, [&](const T_* s, T_* d, int64_t i, int) { cut_row(s, d, p.T, p.off[i]); });
}

}  // namespace

void normalize(const ProcessArgs& p) { p.is_double ? normalize_t<double>(p) : normalize_t<float>(p); }
void add_noise(const ProcessArgs& p, const double* sigma, uint64_t seed, uint64_t start) {
  p.is_double ? noise_t<double>(p, sigma, seed, start) : noise_t<float>(p, sigma, seed, start);
}
void scale(const ProcessArgs& p, const double* g) { p.is_double ? scale_t<double>(p, g) : scale_t<float>(p, g); }
void cut(const ProcessArgs& p) { p.is_double ? cut_t<double>(p) : cut_t<float>(p); }

}  // namespace anomgrad::cpu
