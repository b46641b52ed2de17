"""The random-number contract (docs/rng.md), in Numba.

Every random number anomgrad draws for trajectory ``i`` under ``seed`` is a pure
function of ``(seed, i, stream, index)``:

* Philox4x32-10 with key ``(seed & 0xffffffff, seed >> 32)`` and counter
  ``(block, stream, i & 0xffffffff, i >> 32)`` gives four 32-bit words per block;
  word ``j`` of a stream is word ``j % 4`` of block ``j // 4``.
* A uniform is ``U = (w + 0.5) / 2**32`` (open interval (0, 1), exact in double).
* Normal ``j`` of a stream is Box-Muller on the word pair ``(2p, 2p+1)`` of block
  ``j // 4`` with ``p = (j % 4) // 2``: ``r = sqrt(-2 ln U(w_2p))``, angle
  ``2 pi w_(2p+1) / 2**32``, cos for even ``j`` and sin for odd ``j``.

The transcendental functions are written out as polynomials, operation for operation
the same as ``csrc/include/anomgrad/rng.h``, so Numba, the C++ host build and the CUDA
build (``--fmad=false``) produce bit-identical doubles.  No ``fastmath``: IEEE
semantics make the vectorised loops give the same bits as scalar code.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from . import _numba  # noqa: F401  (the vector width, set before the first compilation)
from ._validate import check_seed

_U32 = np.uint32
_U64 = np.uint64

M0 = _U64(0xD2511F53)
M1 = _U64(0xCD9E8D57)
W0 = _U32(0x9E3779B9)
W1 = _U32(0xBB67AE85)
_MASK32 = _U64(0xFFFFFFFF)
_SH32 = _U64(32)
_SH52 = _U64(52)
_MANT = _U64(0x000FFFFFFFFFFFFF)
_ONE_EXP = _U64(0x3FF0000000000000)
_HALF_EXP = _U64(0x0010000000000000)
SQRT2_BITS = _U64(0x3FF6A09E667F3BCD)

TWO_M32 = 2.0**-32
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e00
PIO2_2M30 = 1.5707963267948966 / 1073741824.0

# log: 2 atanh(s) = 2 s (1 + z/3 + z^2/5 + ... + z^11/23)
_L23, _L21, _L19, _L17, _L15, _L13 = 1.0 / 23, 1.0 / 21, 1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13
_L11, _L9, _L7, _L5, _L3 = 1.0 / 11, 1.0 / 9, 1.0 / 7, 1.0 / 5, 1.0 / 3
# exp: Taylor to r^13
_E = [1.0 / math.factorial(k) for k in range(14)]
_E13, _E12, _E11, _E10, _E9, _E8, _E7, _E6, _E5, _E4, _E3 = (_E[k] for k in range(13, 2, -1))
# expm1: Taylor to y^18
(_X3, _X4, _X5, _X6, _X7, _X8, _X9, _X10, _X11, _X12, _X13, _X14, _X15, _X16, _X17,
 _X18) = (1.0 / math.factorial(k) for k in range(3, 19))
# sin to x^17, cos to x^18 on [-pi/4, pi/4)
_S17, _S15, _S13, _S11 = 1.0 / 355687428096000.0, -1.0 / 1307674368000.0, 1.0 / 6227020800.0, -1.0 / 39916800.0
_S9, _S7, _S5, _S3 = 1.0 / 362880.0, -1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0
_C18, _C16, _C14, _C12 = -1.0 / 6402373705728000.0, 1.0 / 20922789888000.0, -1.0 / 87178291200.0, 1.0 / 479001600.0
_C10, _C8, _C6, _C4 = -1.0 / 3628800.0, 1.0 / 40320.0, -1.0 / 720.0, 1.0 / 24.0


@njit(inline="always", cache=True)
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 block function on uint32 scalars."""
    c0 = _U32(c0)
    c1 = _U32(c1)
    c2 = _U32(c2)
    c3 = _U32(c3)
    k0 = _U32(k0)
    k1 = _U32(k1)
    for r in range(10):
        if r > 0:
            k0 = _U32(k0 + W0)
            k1 = _U32(k1 + W1)
        p0 = M0 * _U64(c0)
        p1 = M1 * _U64(c2)
        hi0 = _U32(p0 >> _SH32)
        lo0 = _U32(p0 & _MASK32)
        hi1 = _U32(p1 >> _SH32)
        lo1 = _U32(p1 & _MASK32)
        c0 = _U32(hi1 ^ c1 ^ k0)
        c1 = lo1
        c2 = _U32(hi0 ^ c3 ^ k1)
        c3 = lo0
    return c0, c1, c2, c3


@njit(inline="always", cache=True)
def block(k0, k1, traj, stream, b):
    """Block ``b`` of ``stream`` of trajectory ``traj`` (uint64)."""
    t = _U64(traj)
    return philox4x32_10(_U32(b), _U32(stream), _U32(t & _MASK32), _U32(t >> _SH32), k0, k1)


@njit(inline="always", cache=True)
def uniform_of(w):
    """U = (w + 0.5) 2^-32 in (0, 1)."""
    return (np.float64(w) + 0.5) * TWO_M32


@njit(inline="always", cache=True)
def atanh2(s):
    """2 atanh(s) = ln((1 + s) / (1 - s)) for |s| <= 0.2 (series to s^23)."""
    z = s * s
    p = _L23
    p = p * z + _L21
    p = p * z + _L19
    p = p * z + _L17
    p = p * z + _L15
    p = p * z + _L13
    p = p * z + _L11
    p = p * z + _L9
    p = p * z + _L7
    p = p * z + _L5
    p = p * z + _L3
    p = p * z + 1.0
    return 2.0 * s * p


@njit(inline="always", cache=True)
def _log_core(f, k):
    """ln f + k ln 2 for f in [sqrt(1/2), sqrt(2))."""
    lf = atanh2((f - 1.0) / (f + 1.0))
    return (lf + k * LN2_LO) + k * LN2_HI


@njit(inline="always", cache=True)
def _log_bits(b, bias):
    e = np.int64(b >> _SH52) - bias
    m = (b & _MANT) | _ONE_EXP
    if m > SQRT2_BITS:
        m = m - _HALF_EXP
        e = e + 1
    return _log_core(_U64(m).view(np.float64), np.float64(e))


@njit(inline="always", cache=True)
def log_det(x):
    """Natural log of a positive normal double (bit-identical to rng.h)."""
    return _log_bits(np.float64(x).view(np.uint64), 1023)


@njit(inline="always", cache=True)
def log_uniform(w):
    """ln U(w) = ln(2w + 1) - 33 ln 2."""
    v = np.float64(_U64(2) * _U64(w) + _U64(1))
    return _log_bits(v.view(np.uint64), 1023 + 33)


@njit(inline="always", cache=True)
def exp1_of(w):
    """-ln(1 - U(w)), an Exp(1) variate (1 - U(w) = U(~w))."""
    return -log_uniform(_U32(~_U32(w)))


@njit(inline="always", cache=True)
def exp_det(x):
    """e^x for |x| <= 700 (bit-identical to rng.h)."""
    kd = math.floor(x * INV_LN2 + 0.5)
    r = (x - kd * LN2_HI) - kd * LN2_LO
    p = _E13
    p = p * r + _E12
    p = p * r + _E11
    p = p * r + _E10
    p = p * r + _E9
    p = p * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = np.int64(kd)
    return p * _U64(_U64(k + 1023) << _SH52).view(np.float64)


@njit(inline="always", cache=True)
def expm1_series(y):
    """e^y - 1 for |y| <= 0.5: Taylor series to y^18."""
    p = _X18
    p = p * y + _X17
    p = p * y + _X16
    p = p * y + _X15
    p = p * y + _X14
    p = p * y + _X13
    p = p * y + _X12
    p = p * y + _X11
    p = p * y + _X10
    p = p * y + _X9
    p = p * y + _X8
    p = p * y + _X7
    p = p * y + _X6
    p = p * y + _X5
    p = p * y + _X4
    p = p * y + _X3
    p = p * y + 0.5
    p = p * y + 1.0
    return p * y


@njit(inline="always", cache=True)
def expm1_det(y):
    """e^y - 1 for |y| <= 1.4: expm1_series for |y| <= 0.5, else exp_det(y) - 1."""
    small = expm1_series(y)
    big = exp_det(y) - 1.0
    return small if abs(y) <= 0.5 else big


@njit(inline="always", cache=True)
def log1p_recip(t):
    """ln(1 + 1/t) for an integer t >= 1: 2 atanh(1 / (2t + 1)), exact input for t <= 2."""
    if t <= 2:
        return log_det(1.0 + 1.0 / t)
    return atanh2(1.0 / (2.0 * t + 1.0))


@njit(inline="always", cache=True)
def sincos_word(w):
    """(cos, sin) of 2 pi w / 2^32."""
    ww = _U32(_U32(w) + _U32(1 << 29))
    q = ww >> _U32(30)
    ri = np.int32(ww & _U32(0x3FFFFFFF)) - np.int32(1 << 29)
    x = np.float64(ri) * PIO2_2M30
    z = x * x
    ps = _S17
    ps = ps * z + _S15
    ps = ps * z + _S13
    ps = ps * z + _S11
    ps = ps * z + _S9
    ps = ps * z + _S7
    ps = ps * z + _S5
    ps = ps * z + _S3
    s = x + x * z * ps
    pc = _C18
    pc = pc * z + _C16
    pc = pc * z + _C14
    pc = pc * z + _C12
    pc = pc * z + _C10
    pc = pc * z + _C8
    pc = pc * z + _C6
    pc = pc * z + _C4
    pc = pc * z + -0.5
    c = 1.0 + z * pc
    swap = (q & _U32(1)) != 0
    bc = s if swap else c
    bs = c if swap else s
    if ((q + _U32(1)) >> _U32(1)) & _U32(1):
        bc = -bc
    if (q >> _U32(1)) & _U32(1):
        bs = -bs
    return bc, bs


@njit(inline="always", cache=True)
def normal_pair(wr, wa):
    """Box-Muller: (r cos, r sin) with r = sqrt(-2 ln U(wr)), angle 2 pi wa / 2^32."""
    r = math.sqrt(-2.0 * log_uniform(wr))
    c, s = sincos_word(wa)
    return r * c, r * s


@njit(inline="always", cache=True)
def fill_words(words, nblk, k0, k1, traj, stream, first_block):
    """words[4b + q] = word q of block first_block + b, for b < nblk."""
    t = _U64(traj)
    tl = _U32(t & _MASK32)
    th = _U32(t >> _SH32)
    st = _U32(stream)
    for b in range(nblk):
        w0, w1, w2, w3 = philox4x32_10(_U32(first_block + b), st, tl, th, k0, k1)
        words[4 * b] = w0
        words[4 * b + 1] = w1
        words[4 * b + 2] = w2
        words[4 * b + 3] = w3


@njit(inline="always", cache=True)
def fill_normals(z, n, words, k0, k1, traj, stream, first_block=0):
    """z[j] = normal 4 first_block + j of (traj, stream) for j < n.

    ``z`` and ``words`` need room for ``4 * ceil(n / 4)`` entries.
    """
    nblk = (n + 3) // 4
    fill_words(words, nblk, k0, k1, traj, stream, first_block)
    for p in range(2 * nblk):
        z0, z1 = normal_pair(words[2 * p], words[2 * p + 1])
        z[2 * p] = z0
        z[2 * p + 1] = z1


# ---------------------------------------------------------------------------------
# Python-level views of the contract (used by tests, docs and by anyone who wants to
# reproduce a draw by hand).


@njit(parallel=True, cache=True)
def _words_kernel(out, k0, k1, traj0, stream, first):
    n = out.shape[0]
    for i in prange(n):
        fill_words(out[i], out.shape[1] // 4, k0, k1, traj0 + _U64(i), stream, first)


@njit(parallel=True, cache=True)
def _normals_kernel(out, k0, k1, traj0, stream):
    n = out.shape[0]
    m = out.shape[1]
    for i in prange(n):
        words = np.empty(4 * ((m + 3) // 4), np.uint32)
        z = np.empty(4 * ((m + 3) // 4), np.float64)
        fill_normals(z, m, words, k0, k1, traj0 + _U64(i), stream)
        out[i, :] = z[:m]


def words(seed: int, traj: int, stream: int, count: int, n_traj: int = 1) -> np.ndarray:
    """The first ``count`` words (a multiple of 4) of ``stream`` for trajectories
    ``traj .. traj + n_traj - 1``; shape ``(n_traj, count)``, uint32."""
    seed = check_seed(seed)
    if count % 4:
        raise ValueError(f"count must be a multiple of 4, got {count}")
    out = np.empty((n_traj, count), np.uint32)
    _words_kernel(out, _U32(seed & 0xFFFFFFFF), _U32(seed >> 32), _U64(traj), _U32(stream), 0)
    return out


def normals(seed: int, traj: int, stream: int, count: int, n_traj: int = 1) -> np.ndarray:
    """Normals ``0 .. count-1`` of ``stream`` for trajectories ``traj ..``; (n_traj, count)."""
    seed = check_seed(seed)
    out = np.empty((n_traj, count), np.float64)
    _normals_kernel(out, _U32(seed & 0xFFFFFFFF), _U32(seed >> 32), _U64(traj), _U32(stream))
    return out


def uniforms(seed: int, traj: int, stream: int, count: int, n_traj: int = 1) -> np.ndarray:
    """Uniforms ``(w + 0.5) / 2**32`` of ``stream``; (n_traj, count) float64."""
    c4 = 4 * ((count + 3) // 4)
    return (words(seed, traj, stream, c4, n_traj)[:, :count].astype(np.float64) + 0.5) * TWO_M32

