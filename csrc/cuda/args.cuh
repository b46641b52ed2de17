// Argument checks of the CUDA twins, before any CUDA call: bad input raises
// std::invalid_argument (ValueError in Python) naming the argument as the _core entry
// points name it and its valid range, instead of reaching a kernel (an illegal address
// kills the whole CUDA context).
#pragma once
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#include "anomgrad/kernels.h"

namespace anomgrad::cuda {

[[noreturn]] inline void bad_argument(const std::string& what) { throw std::invalid_argument(what); }

inline std::string hex_ptr(const void* p) {
  std::ostringstream o;
  o << p;
  return o.str();
}

inline void need_pointer(const void* p, const char* name, bool needed) {
  if (needed && p == nullptr) bad_argument(std::string(name) + " is a null device pointer");
}

// n * a * b elements fit a signed 64-bit index.
inline void need_size(int64_t n, int64_t a, int64_t b, const char* what) {
  const int64_t lim = std::numeric_limits<int64_t>::max() / 8;
  if (a > 0 && b > 0 && n > lim / a / b)
    bad_argument(std::string(what) + " has more than 2**60 elements");
}

inline void check_generate(const GenerateArgs& g) {
  if (g.model < 0 || g.model > 5)
    bad_argument("model must be a Model id in [0, 5] (fbm, ctrw, lw, attm, sbm, bm), got " +
                 std::to_string(g.model));
  if (g.dim < 1 || g.dim > 3) bad_argument("dim must be 1, 2 or 3, got " + std::to_string(g.dim));
  if (g.n < 0) bad_argument("n must be >= 0, got " + std::to_string(g.n));
  if (g.T < 2 || g.T > (int64_t(1) << 32))
    bad_argument("T must be in [2, 2**32], got " + std::to_string(g.T));
  need_size(g.n, g.dim, g.T, "out (n, dim, T)");
  need_pointer(g.out, "out", g.n > 0);
  need_pointer(g.alpha, "alpha", g.n > 0);
}

inline void check_process(const ProcessArgs& p) {
  if (p.n < 0) bad_argument("n must be >= 0, got " + std::to_string(p.n));
  if (p.dim < 1) bad_argument("dim must be >= 1, got " + std::to_string(p.dim));
  if (p.T < 1) bad_argument("T must be >= 1 (a trajectory has at least one position), got " + std::to_string(p.T));
  need_size(p.n, p.dim, p.T, "x (n, dim, T)");
  const bool any = p.n > 0;
  need_pointer(p.x, "x", any);
  need_pointer(p.out, "out", any);
  need_pointer(p.off, "off", any);
}

inline void check_cam(const CamArgs& a) {
  if (a.n < 0) bad_argument("n must be >= 0, got " + std::to_string(a.n));
  if (a.K < 0) bad_argument("K must be >= 0, got " + std::to_string(a.K));
  if (a.L < 1) bad_argument("L must be >= 1 (activations need at least one cell), got " + std::to_string(a.L));
  if (a.T < 1) bad_argument("T must be >= 1, got " + std::to_string(a.T));
  if (a.nbands < 0) bad_argument("nbands must be >= 0, got " + std::to_string(a.nbands));
  need_size(a.n, a.K, a.L, "activations (n, K, L)");
  need_size(a.n, a.T, 1, "cam (n, T)");
  need_size(a.n, int64_t(a.nbands) + 1, a.L, "bands (n, nbands, L)");
  need_pointer(a.A, "activations", a.n > 0 && a.K > 0);
  need_pointer(a.w, "weights", a.n > 0 && a.K > 0);
}

inline void check_rng(const void* out, int64_t n_traj, int64_t count) {
  if (n_traj < 0 || count < 0)
    bad_argument("n_traj and count must be >= 0, got " + std::to_string(n_traj) + ", " + std::to_string(count));
  need_size(n_traj, count, 1, "out (n_traj, count)");
  need_pointer(out, "out", n_traj > 0 && count > 0);
}

}  // namespace anomgrad::cuda
