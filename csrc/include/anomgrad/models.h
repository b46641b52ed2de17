// The six models, one trajectory at a time, shared by the C++ host build
// (csrc/cpu/generate.cpp, tested against Numba in CI) and the CUDA kernels
// (csrc/cuda/generate.cu).  Each function mirrors the Numba kernel in
// anomgrad/models/<model>.py operation for operation, so the host build is bit-identical
// to Numba and the device build (--fmad=false) too; docs/models.md has the maths and
// docs/rng.md the draws.
//
// Output: x points at the trajectory's (dim, T) block, x[a * T + t].
//
// The CUDA kernels do not run the *_traj loops below: they draw the events of 32
// trajectories cooperatively in groups of four (the *_group and per-event helpers, one
// Philox block per stream and group) and replay the loops' sums in the same order
// (docs/emulation.md), so the numbers are these functions' to the bit.
#pragma once
#include <cstdint>

#include "rng.h"

namespace anomgrad {

// Stream ids (anomgrad/config.py).
constexpr uint32_t STREAM_PARAMS = 0;
constexpr uint32_t STREAM_EVENTS = 1;
constexpr uint32_t STREAM_DIRECTIONS = 2;
constexpr uint32_t STREAM_AXIS = 16;
constexpr uint32_t STREAM_LENGTH = 19;
constexpr double LOG_BEYOND = 40.0;  // exp(40) > 2^32 >= T
constexpr double ATTM_SIGMA_LOW = 0.03;
constexpr double ATTM_SIGMA_HIGH = 3.3;

enum Model : int { FBM = 0, CTRW = 1, LW = 2, ATTM = 3, SBM = 4, BM = 5 };
// Their names, by id (as anomgrad/config.py spells them; _core.Model's values).
inline constexpr const char* MODEL_NAMES[] = {"fbm", "ctrw", "lw", "attm", "sbm", "bm"};

// Valid alpha per model: anomgrad/config.py ALPHA_RANGES (tests/trajectories/test_twins.py
// test_native_alpha_ranges_are_the_configs holds the two equal at every bound).
struct AlphaRange {
  double lo;
  bool lo_in;
  double hi;
  bool hi_in;
};

AG_HD AlphaRange alpha_range(int model) {
  switch (model) {
    case FBM: return {0.0, false, 2.0, false};
    case CTRW: return {0.0, false, 1.0, true};
    case LW: return {1.0, true, 2.0, true};
    case ATTM: return {ATTM_SIGMA_LOW / (1.0 + ATTM_SIGMA_LOW), false, 1.0, true};
    case SBM: return {0.0, false, 2.0, true};
    default: return {1.0, true, 1.0, true};  // BM
  }
}

// alpha finite and inside the model's range (NaN fails every comparison).
AG_HD bool alpha_valid(int model, double a) {
  const AlphaRange r = alpha_range(model);
  return (r.lo_in ? a >= r.lo : a > r.lo) && (r.hi_in ? a <= r.hi : a < r.hi);
}

AG_HD double expm1_series(double y) {
  double p = 1.0 / 6402373705728000.0;  // 1/18!
  p = p * y + 1.0 / 355687428096000.0;
  p = p * y + 1.0 / 20922789888000.0;
  p = p * y + 1.0 / 1307674368000.0;
  p = p * y + 1.0 / 87178291200.0;
  p = p * y + 1.0 / 6227020800.0;
  p = p * y + 1.0 / 479001600.0;
  p = p * y + 1.0 / 39916800.0;
  p = p * y + 1.0 / 3628800.0;
  p = p * y + 1.0 / 362880.0;
  p = p * y + 1.0 / 40320.0;
  p = p * y + 1.0 / 5040.0;
  p = p * y + 1.0 / 720.0;
  p = p * y + 1.0 / 120.0;
  p = p * y + 1.0 / 24.0;
  p = p * y + 1.0 / 6.0;
  p = p * y + 0.5;
  p = p * y + 1.0;
  return p * y;
}

AG_HD double expm1_det(double y) {
  const double small = expm1_series(y);
  const double big = exp_det(y) - 1.0;
  return fabs(y) <= 0.5 ? small : big;
}

AG_HD double log1p_recip(int64_t t) {
  if (t <= 2) return log_det(1.0 + 1.0 / double(t));
  return atanh2(1.0 / (2.0 * double(t) + 1.0));
}

// Normals 4q .. 4q+3 of a stream: one Philox block, two Box-Muller pairs.  The one way
// normals are drawn (NormalStream reads them in order).
AG_HD void normals_group(uint64_t seed, uint64_t traj, uint32_t stream, uint32_t q, double* g) {
  const Words w = philox_block(seed, traj, stream, q);
  const Pair p0 = normal_pair(w.w[0], w.w[1]);
  const Pair p1 = normal_pair(w.w[2], w.w[3]);
  g[0] = p0.z0;
  g[1] = p0.z1;
  g[2] = p1.z0;
  g[3] = p1.z1;
}

// Normals j = 0, 1, 2, ... of one stream, read in order (normals_group, one per 4).
struct NormalStream {
  uint64_t seed, traj;
  uint32_t stream;
  uint32_t block = 0xFFFFFFFFu;
  double z[4];
  AG_HD NormalStream(uint64_t s, uint64_t t, uint32_t st) : seed(s), traj(t), stream(st) {}
  AG_HD double at(uint64_t j) {
    const uint32_t b = uint32_t(j >> 2);
    if (b != block) {
      normals_group(seed, traj, stream, b, z);
      block = b;
    }
    // Selects, not z[j & 3]: a dynamic index keeps z in local memory on the GPU (a stack
    // frame in ptxas -v), and the 2-D BM and SBM kernels that nvcc 13.0 made of it for
    // sm_90 drew wrong normals on an H200 (issue 22; their PTX computed one Box-Muller
    // pair per block and axis instead of two).
    const unsigned k = unsigned(j & 3);
    return k < 2 ? (k == 0 ? z[0] : z[1]) : (k == 2 ? z[2] : z[3]);
  }
};

// Words j of one stream, read in order.
struct WordStream {
  uint64_t seed, traj;
  uint32_t stream;
  uint32_t block = 0xFFFFFFFFu;
  Words w;
  AG_HD WordStream(uint64_t s, uint64_t t, uint32_t st) : seed(s), traj(t), stream(st) {}
  AG_HD uint32_t at(uint64_t j) {
    const uint32_t b = uint32_t(j >> 2);
    if (b != block) {
      w = philox_block(seed, traj, stream, b);
      block = b;
    }
    return w.w[j & 3];
  }
};

AG_HD void unit3(double gx, double gy, double gz, double* u) {
  const double r = sqrt(gx * gx + gy * gy + gz * gz);
  if (r == 0.0) {
    u[0] = 1.0;
    u[1] = 0.0;
    u[2] = 0.0;
    return;
  }
  u[0] = gx / r;
  u[1] = gy / r;
  u[2] = gz / r;
}

// Jump (or step) j of the walk times `scale`: an N(0, 1) per axis in 1-D and 2-D (normals
// j of streams 16 + a); in 3-D an N(0, 1) length (stream 19) along a uniform direction
// (streams 16..18 normalised), as andi-datasets' sample_sphere.
struct Jumps {
  NormalStream g0, g1, g2, gl;
  int dim;
  AG_HD Jumps(uint64_t seed, uint64_t traj, int d)
      : g0(seed, traj, STREAM_AXIS), g1(seed, traj, STREAM_AXIS + 1),
        g2(seed, traj, STREAM_AXIS + 2), gl(seed, traj, STREAM_LENGTH), dim(d) {}
  AG_HD void at(uint64_t j, double scale, double* z) {
    if (dim < 3) {
      z[0] = g0.at(j) * scale;
      if (dim > 1) z[1] = g1.at(j) * scale;
      return;
    }
    double u[3];
    unit3(g0.at(j), g1.at(j), g2.at(j), u);
    const double L = gl.at(j) * scale;
    z[0] = L * u[0];
    z[1] = L * u[1];
    z[2] = L * u[2];
  }
};

// Jumps::at(4q + j, scale) for j = 0..3: one Philox block per stream for four jumps,
// the same normals and the same operations.
AG_HD void jumps_group(uint64_t seed, uint64_t traj, int dim, uint32_t q, double scale,
                       double z[4][3]) {
  double g[4][4];  // normals 4q .. 4q+3 of streams 16, 17, 18 and 19 (3-D length)
  const int nstreams = dim < 3 ? dim : 4;
  for (int s = 0; s < nstreams; ++s)
    normals_group(seed, traj, s < 3 ? STREAM_AXIS + uint32_t(s) : STREAM_LENGTH, q, g[s]);
  for (int j = 0; j < 4; ++j) {
    if (dim < 3) {
      z[j][0] = g[0][j] * scale;
      if (dim > 1) z[j][1] = g[1][j] * scale;
    } else {
      double u[3];
      unit3(g[0][j], g[1][j], g[2][j], u);
      const double L = g[3][j] * scale;
      z[j][0] = L * u[0];
      z[j][1] = L * u[1];
      z[j][2] = L * u[2];
    }
  }
}

// (1 - U)^(-inv) as the batched Numba helper computes it: exp(min(E * inv, 40)).
AG_HD double power_law(uint32_t w, double inv_exponent) {
  const double x = exp1_of(w) * inv_exponent;
  return exp_det(x < LOG_BEYOND ? x : LOG_BEYOND);
}

// ---- BM and SBM ----------------------------------------------------------------------

template <class Out>
AG_HD void bm_traj(Out* x, int dim, int64_t T, uint64_t seed, uint64_t traj) {
  for (int a = 0; a < dim; ++a) {
    NormalStream ns(seed, traj, STREAM_AXIS + a);
    Out* row = x + a * T;
    row[0] = Out(0);
    double acc = 0.0;
    for (int64_t t = 1; t < T; ++t) {
      acc += ns.at(uint64_t(t - 1));
      row[t] = Out(acc);
    }
  }
}

// sqrt((t+1)^alpha - t^alpha) for t >= 1, as anomgrad/models/sbm.py evaluates it.
AG_HD double sbm_scale(double alpha, int64_t t) {
  const double lnt = log_det(double(t));
  const double l1p = log1p_recip(t);
  return sqrt(exp_det(alpha * lnt) * expm1_det(alpha * l1p));
}

template <class Out>
AG_HD void sbm_traj(Out* x, int dim, int64_t T, double alpha, uint64_t seed, uint64_t traj) {
  for (int a = 0; a < dim; ++a) {
    NormalStream ns(seed, traj, STREAM_AXIS + a);
    Out* row = x + a * T;
    row[0] = Out(0);
    double acc = 0.0;
    for (int64_t t = 1; t < T; ++t) {
      double z = ns.at(uint64_t(t - 1));
      z *= sbm_scale(alpha, t);
      acc += z;
      row[t] = Out(acc);
    }
  }
}

// ---- CTRW -----------------------------------------------------------------------------

// Events in order: grid index floor(t_j) of each event with t_j < T.
struct CtrwEvents {
  WordStream waits;
  double inv_alpha, t = 0.0, T;
  uint64_t j = 0;  // index of the next event
  bool done = false;
  AG_HD CtrwEvents(uint64_t seed, uint64_t traj, double alpha, int64_t T_)
      : waits(seed, traj, STREAM_EVENTS), inv_alpha(1.0 / alpha), T(double(T_)) {}
  // Grid index of the next event, or -1 once an event falls at or beyond T.
  AG_HD int64_t next() {
    if (done) return -1;
    t += power_law(waits.at(j), inv_alpha);
    if (t >= T) {
      done = true;
      return -1;
    }
    ++j;
    return int64_t(floor(t));
  }
};

template <class Out>
AG_HD void ctrw_traj(Out* x, int dim, int64_t T, double alpha, uint64_t seed, uint64_t traj) {
  CtrwEvents ev(seed, traj, alpha, T);
  Jumps jumps(seed, traj, dim);
  double acc[3] = {0.0, 0.0, 0.0};
  for (int a = 0; a < dim; ++a) x[a * T] = Out(0);
  int64_t k = ev.next();  // grid index of the pending event
  uint64_t j = 0;         // its index
  for (int64_t t = 1; t < T; ++t) {
    double s[3] = {0.0, 0.0, 0.0};  // jumps of the events at grid index t, in order
    while (k == t) {
      double z[3];
      jumps.at(j, 1.0, z);
      for (int a = 0; a < dim; ++a) s[a] += z[a];
      ++j;
      k = ev.next();
    }
    for (int a = 0; a < dim; ++a) {
      acc[a] += s[a];
      x[a * T + t] = Out(acc[a]);
    }
  }
}

// ---- LW -------------------------------------------------------------------------------

// Grid steps of a flight of duration tau (T + 1 when it outlasts the trajectory).
AG_HD int64_t lw_steps(double tau, int64_t T) { return tau > double(T) ? T + 1 : int64_t(floor(tau)); }

// Velocity of a flight in 1-D (sign from the top bit of wd) or 2-D (angle of wd).
AG_HD void lw_direction_12(int dim, double v, uint32_t wd, double* d) {
  if (dim == 1) {
    d[0] = (wd >> 31) ? -v : v;
  } else {
    const CosSin cs = sincos_word(wd);
    d[0] = v * cs.c;
    d[1] = v * cs.s;
  }
}

// Velocity of a flight in 3-D from three normals (a uniform direction).
AG_HD void lw_direction_3(double v, double g0, double g1, double g2, double* d) {
  double u[3];
  unit3(g0, g1, g2, u);
  d[0] = v * u[0];
  d[1] = v * u[1];
  d[2] = v * u[2];
}

// Speed and 1/sigma of a trajectory (stream 0, block 0).
AG_HD void lw_params(uint64_t seed, uint64_t traj, double alpha, double* v, double* inv_sigma) {
  const Words p = philox_block(seed, traj, STREAM_PARAMS, 0);
  *v = 10.0 * uniform_of(p.w[0]);
  const double sigma = alpha == 2.0 ? uniform_of(p.w[1]) : 3.0 - alpha;
  *inv_sigma = 1.0 / sigma;
}

template <class Out>
AG_HD void lw_traj(Out* x, int dim, int64_t T, double alpha, uint64_t seed, uint64_t traj) {
  double v, inv_sigma;
  lw_params(seed, traj, alpha, &v, &inv_sigma);
  WordStream durations(seed, traj, STREAM_EVENTS), directions(seed, traj, STREAM_DIRECTIONS);
  NormalStream g0(seed, traj, STREAM_AXIS), g1(seed, traj, STREAM_AXIS + 1),
      g2(seed, traj, STREAM_AXIS + 2);
  double acc[3] = {0.0, 0.0, 0.0};
  for (int a = 0; a < dim; ++a) x[a * T] = Out(0);
  int64_t s = 0;
  for (uint64_t f = 0; s < T; ++f) {
    const double tau = power_law(durations.at(f), inv_sigma);
    const int64_t nf = lw_steps(tau, T);
    double d[3] = {0.0, 0.0, 0.0};
    if (dim == 3) {
      const double a0 = g0.at(f), a1 = g1.at(f), a2 = g2.at(f);
      lw_direction_3(v, a0, a1, a2, d);
    } else {
      lw_direction_12(dim, v, directions.at(f), d);
    }
    const int64_t end = s + nf < T ? s + nf : T;
    for (int a = 0; a < dim; ++a) {
      double xa = acc[a];
      for (int64_t k = s > 1 ? s : 1; k < end; ++k) {
        xa += d[a];
        x[a * T + k] = Out(xa);
      }
      acc[a] = xa;
    }
    s += nf;
  }
}

// ---- ATTM -----------------------------------------------------------------------------

AG_HD double attm_sigma(double alpha, double u) {
  double hi = ATTM_SIGMA_HIGH;
  if (alpha < 1.0) {
    const double r = alpha / (1.0 - alpha);
    if (r < hi) hi = r;
  }
  return ATTM_SIGMA_LOW + (hi - ATTM_SIGMA_LOW) * u;
}

// Segment from its word w: sqrt(2 D) and the number of steps.
AG_HD void attm_segment(uint32_t w, double inv_sigma, double inv_alpha, double T, int64_t Ti,
                        double* r, int64_t* steps) {
  const double V = 0.9 - 0.89 * uniform_of(w);
  const double lv = log_det(V);
  *r = sqrt(2.0 * exp_det(lv * inv_sigma));
  const double dur = exp_det(-lv * inv_alpha);
  *steps = dur > T ? Ti : int64_t(floor(dur));
}

// 1/sigma of a trajectory (stream 0, word 0).
AG_HD double attm_inv_sigma(uint64_t seed, uint64_t traj, double alpha) {
  const Words p = philox_block(seed, traj, STREAM_PARAMS, 0);
  return 1.0 / attm_sigma(alpha, uniform_of(p.w[0]));
}

// Segments in order: sqrt(2 D) and the number of steps of each.
struct AttmSegments {
  WordStream draws;
  double inv_sigma, inv_alpha, T;
  int64_t Ti;
  uint64_t j = 0;
  AG_HD AttmSegments(uint64_t seed, uint64_t traj, double alpha, int64_t T_)
      : draws(seed, traj, STREAM_EVENTS), inv_alpha(1.0 / alpha), T(double(T_)), Ti(T_) {
    inv_sigma = attm_inv_sigma(seed, traj, alpha);
  }
  AG_HD void next(double* r, int64_t* steps) {
    attm_segment(draws.at(j++), inv_sigma, inv_alpha, T, Ti, r, steps);
  }
};

template <class Out>
AG_HD void attm_traj(Out* x, int dim, int64_t T, double alpha, uint64_t seed, uint64_t traj) {
  AttmSegments seg(seed, traj, alpha, T);
  Jumps steps(seed, traj, dim);
  double acc[3] = {0.0, 0.0, 0.0};
  for (int a = 0; a < dim; ++a) x[a * T] = Out(0);
  double r = 0.0;
  int64_t left = 0;  // steps left in the current segment
  for (int64_t s = 0; s < T - 1; ++s) {
    while (left == 0) seg.next(&r, &left);
    --left;
    double z[3];
    steps.at(uint64_t(s), r, z);
    for (int a = 0; a < dim; ++a) {
      acc[a] += z[a];
      x[a * T + s + 1] = Out(acc[a]);
    }
  }
}

// ---- dispatch for the event-driven and continuous models (FBM: fbm.h) -----------------

template <class Out>
AG_HD void generate_traj(int model, Out* x, int dim, int64_t T, double alpha, uint64_t seed,
                         uint64_t traj) {
  switch (model) {
    case CTRW: ctrw_traj(x, dim, T, alpha, seed, traj); break;
    case LW: lw_traj(x, dim, T, alpha, seed, traj); break;
    case ATTM: attm_traj(x, dim, T, alpha, seed, traj); break;
    case SBM: sbm_traj(x, dim, T, alpha, seed, traj); break;
    case BM: bm_traj(x, dim, T, seed, traj); break;
    default: break;
  }
}

}  // namespace anomgrad
