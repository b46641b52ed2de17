// The random-number contract of anomgrad (docs/rng.md), shared by host and device.
//
// Philox4x32-10 (Salmon et al., SC'11) turns a 128-bit counter and a 64-bit key into
// four 32-bit words.  anomgrad uses
//     key     = (seed & 0xffffffff, seed >> 32)
//     counter = (block, stream, traj & 0xffffffff, traj >> 32)
// so every random word of trajectory `traj` is a pure function of (seed, traj, stream,
// block).  Uniforms and normals are derived from words by the functions below; the
// arithmetic is written out operation by operation (no libm, no FMA contraction) so
// that Numba (anomgrad/rng.py), this header on the host and this header under nvcc
// with --fmad=false give bit-identical doubles.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "hd.h"

namespace anomgrad {

constexpr uint32_t PHILOX_M0 = 0xD2511F53u;
constexpr uint32_t PHILOX_M1 = 0xCD9E8D57u;
constexpr uint32_t PHILOX_W0 = 0x9E3779B9u;
constexpr uint32_t PHILOX_W1 = 0xBB67AE85u;

struct Words {
  uint32_t w[4];
};

AG_HD Words philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                          uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
    const uint64_t p0 = uint64_t(PHILOX_M0) * c0;
    const uint64_t p1 = uint64_t(PHILOX_M1) * c2;
    const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  return Words{{c0, c1, c2, c3}};
}

// Block `block` of stream `stream` of trajectory `traj` under `seed`.
AG_HD Words philox_block(uint64_t seed, uint64_t traj, uint32_t stream, uint32_t block) {
  return philox4x32_10(block, stream, uint32_t(traj), uint32_t(traj >> 32), uint32_t(seed),
                       uint32_t(seed >> 32));
}

// ---- bit casts ---------------------------------------------------------------------
AG_HD uint64_t bits_of(double x) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint64_t>(__double_as_longlong(x));
#else
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
#endif
}
AG_HD double double_of(uint64_t b) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(b));
#else
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
#endif
}

// ---- constants (identical doubles in anomgrad/rng.py) --------------------------------
constexpr double TWO_M32 = 2.3283064365386963e-10;    // 2^-32
constexpr double LN2_HI = 6.93147180369123816490e-01;  // fdlibm split of ln 2
constexpr double LN2_LO = 1.90821492927058770002e-10;
constexpr double INV_LN2 = 1.44269504088896338700e+00;
constexpr uint64_t SQRT2_BITS = 0x3FF6A09E667F3BCDull;  // bits of fl(sqrt 2)
constexpr double PIO2_2M30 = 1.5707963267948966 / 1073741824.0;  // fl(pi/2) * 2^-30

// U = (w + 0.5) 2^-32, in (0, 1), exact in double.
AG_HD double uniform_of(uint32_t w) { return (double(w) + 0.5) * TWO_M32; }

// 2 atanh(s) = ln((1 + s) / (1 - s)) for |s| <= 0.2 (odd series to s^23).
AG_HD double atanh2(double s) {
  const double z = s * s;
  double p = 1.0 / 23.0;
  p = p * z + 1.0 / 21.0;
  p = p * z + 1.0 / 19.0;
  p = p * z + 1.0 / 17.0;
  p = p * z + 1.0 / 15.0;
  p = p * z + 1.0 / 13.0;
  p = p * z + 1.0 / 11.0;
  p = p * z + 1.0 / 9.0;
  p = p * z + 1.0 / 7.0;
  p = p * z + 1.0 / 5.0;
  p = p * z + 1.0 / 3.0;
  p = p * z + 1.0;
  return 2.0 * s * p;
}

// ln(f) + k ln 2 for f in [sqrt(1/2), sqrt(2)): 2 atanh((f-1)/(f+1)), |s| < 0.172.
AG_HD double log_core(double f, double k) {
  const double lf = atanh2((f - 1.0) / (f + 1.0));
  return (lf + k * LN2_LO) + k * LN2_HI;
}

// ln of the double with bits b, minus (bias - 1023) ln 2: x = f 2^e, f in [1, 2) from the
// bits, halved when above sqrt(2).
AG_HD double log_bits(uint64_t b, int64_t bias) {
  int64_t e = int64_t(b >> 52) - bias;
  uint64_t m = (b & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;  // mantissa in [1, 2)
  if (m > SQRT2_BITS) {
    m -= 0x0010000000000000ull;  // halve: [sqrt2/2, 1)
    e += 1;
  }
  return log_core(double_of(m), double(e));
}

// Natural log of a positive, normal double.
AG_HD double log_det(double x) { return log_bits(bits_of(x), 1023); }

// ln U for U = (w + 0.5) 2^-32: ln(2w + 1) - 33 ln 2, all exact until log_core.
AG_HD double log_uniform(uint32_t w) {
  return log_bits(bits_of(double(2ull * uint64_t(w) + 1ull)), 1023 + 33);
}

// E = -ln(1 - U), an Exp(1) variate: 1 - U = (~w + 0.5) 2^-32.
AG_HD double exp1_of(uint32_t w) { return -log_uniform(~w); }

// e^x for |x| <= 700: x = k ln2 + r, Taylor to r^13, times 2^k built from bits.
AG_HD double exp_det(double x) {
  const double kd = floor(x * INV_LN2 + 0.5);
  const double r = (x - kd * LN2_HI) - kd * LN2_LO;
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const int64_t k = int64_t(kd);
  return p * double_of(uint64_t(k + 1023) << 52);
}

// (cos, sin) of the angle 2 pi w / 2^32.  The quadrant comes from the top bits of w
// (exact), the remainder x is in [-pi/4, pi/4) and goes through Taylor polynomials.
struct CosSin {
  double c, s;
};
AG_HD CosSin sincos_word(uint32_t w) {
  const uint32_t ww = w + (1u << 29);
  const uint32_t q = ww >> 30;
  const int32_t ri = int32_t(ww & 0x3FFFFFFFu) - int32_t(1 << 29);
  const double x = double(ri) * PIO2_2M30;
  const double z = x * x;
  // sin: x - x^3/3! + ... + x^17/17!;  cos: 1 - x^2/2! + ... - x^18/18!
  double ps = 1.0 / 355687428096000.0;
  ps = ps * z + -1.0 / 1307674368000.0;
  ps = ps * z + 1.0 / 6227020800.0;
  ps = ps * z + -1.0 / 39916800.0;
  ps = ps * z + 1.0 / 362880.0;
  ps = ps * z + -1.0 / 5040.0;
  ps = ps * z + 1.0 / 120.0;
  ps = ps * z + -1.0 / 6.0;
  const double s = x + x * z * ps;
  double pc = -1.0 / 6402373705728000.0;
  pc = pc * z + 1.0 / 20922789888000.0;
  pc = pc * z + -1.0 / 87178291200.0;
  pc = pc * z + 1.0 / 479001600.0;
  pc = pc * z + -1.0 / 3628800.0;
  pc = pc * z + 1.0 / 40320.0;
  pc = pc * z + -1.0 / 720.0;
  pc = pc * z + 1.0 / 24.0;
  pc = pc * z + -0.5;
  const double c = 1.0 + z * pc;
  const bool swap = (q & 1u) != 0;
  double bc = swap ? s : c;
  double bs = swap ? c : s;
  if (((q + 1u) >> 1) & 1u) bc = -bc;
  if ((q >> 1) & 1u) bs = -bs;
  return CosSin{bc, bs};
}

// Box-Muller on one word pair: r = sqrt(-2 ln U(wr)), angle 2 pi wa / 2^32.
struct Pair {
  double z0, z1;
};
AG_HD Pair normal_pair(uint32_t wr, uint32_t wa) {
  const double r = sqrt(-2.0 * log_uniform(wr));
  const CosSin cs = sincos_word(wa);
  return Pair{r * cs.c, r * cs.s};
}

// Normal number j of (seed, traj, stream): block j/4, pair (j%4)/2, cos for even j.
AG_HD double normal_at(uint64_t seed, uint64_t traj, uint32_t stream, uint64_t j) {
  const Words b = philox_block(seed, traj, stream, uint32_t(j >> 2));
  const int p = int(j & 3) >> 1;
  const Pair z = normal_pair(b.w[2 * p], b.w[2 * p + 1]);
  return (j & 1) ? z.z1 : z.z0;
}

// Word j of (seed, traj, stream): word j%4 of block j/4.
AG_HD uint32_t word_at(uint64_t seed, uint64_t traj, uint32_t stream, uint64_t j) {
  return philox_block(seed, traj, stream, uint32_t(j >> 2)).w[j & 3];
}

}  // namespace anomgrad
