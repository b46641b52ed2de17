// CPU twin of csrc/cuda/generate.cu: the shared model headers, one trajectory per
// iteration of an OpenMP loop.  CI compares it with the Numba generators (bit for bit
// except FBM, whose FFT differs from pocketfft's by rounding).
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "anomgrad/fbm.h"
#include "anomgrad/kernels.h"
#include "anomgrad/models.h"

namespace anomgrad {

namespace {

std::string number_text(double v) {  // as Python's f"{v:g}"
  if (std::isnan(v)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

void check_alpha_values(int model, const double* alpha, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    if (alpha_valid(model, alpha[i])) continue;
    const AlphaRange r = alpha_range(model);
    std::string range;
    if (r.lo == r.hi) {
      range = "alpha = " + number_text(r.lo);
    } else {
      char lo[32];
      std::snprintf(lo, sizeof lo, "%.6g", r.lo);
      range = std::string(r.lo_in ? "[" : "(") + lo + ", " + number_text(r.hi) + (r.hi_in ? "]" : ")");
    }
    throw std::invalid_argument("alpha[" + std::to_string(i) + "] = " + number_text(alpha[i]) +
                                " is outside the valid range for " +
                                (model >= 0 && model <= 5 ? MODEL_NAMES[model] : "this model") + ": " +
                                range + " (or not finite)");
  }
}

}  // namespace anomgrad

namespace anomgrad::cpu {

namespace {

// e[k] = sqrt(lambda_k / M), k <= M/2, for one alpha.  Returns 0, or the most negative
// eigenvalue when one is negative beyond rounding (impossible for fGn;
// anomgrad/models/fbm.py refuses it too), e then unset.
double fbm_eigen(double alpha, int64_t M, const std::vector<double>& tw, std::vector<double>& re,
                 std::vector<double>& im, std::vector<double>& e) {
  for (int64_t k = 0; k < M; ++k) {
    re[k] = circulant_row(alpha, M, k);
    im[k] = 0.0;
  }
  fft_host(re.data(), im.data(), tw.data(), M);
  double hi = 0.0, lo = 0.0;
  for (int64_t k = 0; k <= M / 2; ++k) {
    hi = re[k] > hi ? re[k] : hi;
    lo = re[k] < lo ? re[k] : lo;
  }
  if (lo < -1e-9 * hi) return lo;
  for (int64_t k = 0; k <= M / 2; ++k) e[k] = std::sqrt((re[k] > 0.0 ? re[k] : 0.0) / double(M));
  return 0.0;
}

template <class Out>
void fbm_all(const GenerateArgs& g) {
  const int64_t M = fbm_embedding_size(g.T);
  const int l = ilog2(M);
  std::vector<double> tw(M);
  for (int64_t k = 0; k < M / 2; ++k) fft_twiddle(tw.data(), l, k);
  Out* out = static_cast<Out*>(g.out);
  bool failed = false;
  double worst = 0.0;  // the most negative eigenvalue met (the same whatever the threads)
#pragma omp parallel
  {
    std::vector<double> re(M), im(M), e(M / 2 + 1);
    double cached = std::nan("");
#pragma omp for schedule(dynamic, 16)
    for (int64_t i = 0; i < g.n; ++i) {
      const double alpha = g.alpha[g.alpha_per_traj ? i : 0];
      if (!(alpha == cached)) {
        const double bad = fbm_eigen(alpha, M, tw, re, im, e);
        if (bad < 0.0) {
#pragma omp critical
          {
            failed = true;
            worst = bad < worst ? bad : worst;
          }
          continue;
        }
        cached = alpha;
      }
      Out* x = out + i * g.dim * g.T;
      for (int s = 0; 2 * s < g.dim; ++s) {
        NormalStream ns(g.seed, g.start + uint64_t(i), STREAM_AXIS + s);
        for (int64_t k = 0; k < M; ++k) fbm_spectrum(re.data(), im.data(), e.data(), M, ns, k);
        fft_host(re.data(), im.data(), tw.data(), M);
        for (int part = 0; part < 2 && 2 * s + part < g.dim; ++part) {
          const double* src = part == 0 ? re.data() : im.data();
          Out* row = x + (2 * s + part) * g.T;
          row[0] = Out(0);
          double acc = 0.0;
          for (int64_t t = 1; t < g.T; ++t) {
            acc += src[t - 1];
            row[t] = Out(acc);
          }
        }
      }
    }
  }
  if (failed) throw std::runtime_error(negative_eigenvalue_message(worst));
}

template <class Out>
void generate_typed(const GenerateArgs& g) {
  if (g.model == FBM) return fbm_all<Out>(g);
  Out* out = static_cast<Out*>(g.out);
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t i = 0; i < g.n; ++i)
    generate_traj(g.model, out + i * g.dim * g.T, g.dim, g.T, g.alpha[g.alpha_per_traj ? i : 0],
                  g.seed, g.start + uint64_t(i));
}

}  // namespace

void generate(const GenerateArgs& g) {
  if (g.out_double)
    generate_typed<double>(g);
  else
    generate_typed<float>(g);
}

}  // namespace anomgrad::cpu
