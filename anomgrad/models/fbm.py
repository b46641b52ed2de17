"""Fractional Brownian motion by exact circulant embedding (Davies-Harte / Wood-Chan).

Increments are unit-variance fractional Gaussian noise with Hurst H = alpha / 2,
autocovariance gamma(k) = (|k+1|^2H - 2|k|^2H + |k-1|^2H) / 2; x_0 = 0 and x is their
cumulative sum.

Embedding: n = T - 1 increments, m = the smallest power of two >= n, M = 2m.  The
first row of the circulant is c = (gamma(0), ..., gamma(m), gamma(m-1), ..., gamma(1))
and its eigenvalues lambda_k (k < M) are the DFT of c, real and non-negative for fGn
at every H in (0, 1).  With Z_k = N_2k + i N_(2k+1) (normals of one stream),

    X_j = sum_k sqrt(lambda_k / M) Z_k exp(-2 pi i j k / M),   j < n,

Re X and Im X are two independent exact fGn samples.  Axis 0 is Re X and axis 1 is
Im X of stream 16; axis 2 (3-D) is Re X of stream 17.

CPU path: Numba fills the spectrum, scipy.fft (pocketfft) transforms a batch, Numba
takes the cumulative sums.  Eigenvalues are computed once per distinct alpha.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from ..config import FBM_CHUNK_BYTES, STREAM_AXIS
from ..rng import exp_det, expm1_det, expm1_series, fill_normals, log1p_recip, log_det
from ._common import seed_words

_U64 = np.uint64


def embedding_size(T: int) -> int:
    """M = 2 m, m the smallest power of two >= T - 1."""
    n = T - 1
    return 2 * (1 << max(0, (n - 1).bit_length()))


@njit(parallel=True, cache=True, nogil=True)
def fgn_autocovariance(H, m):
    """gamma(k) for k = 0..m, shape (len(H), m + 1), free of cancellation in k^2H.

    For k >= 2: gamma(k) = k^2H / 2 [expm1(2H ln(1 + 1/k)) + expm1(2H ln(1 - 1/k))],
    with ln(1 - 1/k) = -ln(1 + 1/(k - 1)).
    """
    lk = np.empty(m + 1)
    l1p = np.empty(m + 1)
    for k in range(1, m + 1):
        lk[k] = log_det(np.float64(k))
        l1p[k] = log1p_recip(k)
    g = np.empty((H.shape[0], m + 1))
    for r in prange(H.shape[0]):
        h2 = 2.0 * H[r]
        g[r, 0] = 1.0
        if m >= 1:
            g[r, 1] = 0.5 * (expm1_det(h2 * l1p[1]) - 1.0)
        for k in range(2, min(m + 1, 4)):
            g[r, k] = 0.5 * exp_det(h2 * lk[k]) * (expm1_det(h2 * l1p[k]) + expm1_det(-h2 * l1p[k - 1]))
        for k in range(4, m + 1):  # |2H ln(1 +- 1/k)| < 0.5: the series branch of expm1
            g[r, k] = 0.5 * exp_det(h2 * lk[k]) * (expm1_series(h2 * l1p[k]) + expm1_series(-h2 * l1p[k - 1]))
    return g


def eigenvalues(alpha: np.ndarray, T: int, workers: int = 1) -> np.ndarray:
    """lambda_k for k = 0..m (lambda_(M-k) = lambda_k), shape (len(alpha), m + 1)."""
    import scipy.fft  # lazy: scipy (FBM alone needs it; keeps classify's start-up light)

    m = embedding_size(T) // 2
    gam = fgn_autocovariance(np.asarray(alpha, np.float64) / 2.0, m)
    lam = scipy.fft.dct(gam, type=1, axis=-1, overwrite_x=True, workers=workers)
    lo = lam.min()
    if lo < 0.0:
        if lo < -1e-9 * lam.max():
            raise RuntimeError(f"circulant embedding has a negative eigenvalue {lo:g} "
                               f"(T={T}); please report this")
        np.maximum(lam, 0.0, out=lam)  # rounding-level negatives only
    return lam


@njit(parallel=True, cache=True, nogil=True)
def _spectrum(A, lam, which, k0, k1, start, stream0):
    """A[b, s] (float view of complex, length 2M) = sqrt(lam_k / M) (N_2k, N_2k+1) of
    stream stream0 + s, lam = lam[which[b]] mirrored (lambda_(M-k) = lambda_k)."""
    n, ns, M2 = A.shape
    M = M2 // 2
    m = M // 2
    for b in prange(n):
        traj = _U64(start) + _U64(b)
        words = np.empty(M2, np.uint32)
        e = np.empty(M, np.float64)
        lb = lam[which[b]]
        for k in range(m + 1):
            e[k] = math.sqrt(lb[k] / M)
        for k in range(m + 1, M):
            e[k] = e[M - k]
        for s in range(ns):
            row = A[b, s]
            fill_normals(row, M2, words, k0, k1, traj, stream0 + s)
            for k in range(M):
                row[2 * k] *= e[k]
                row[2 * k + 1] *= e[k]


@njit(parallel=True, cache=True, nogil=True)
def _store(out, A):
    """Cumulative sums of Re/Im of the transformed spectra into out (n, dim, T)."""
    n, dim, T = out.shape
    for b in prange(n):
        for a in range(dim):
            s = a // 2
            off = a % 2  # 0: real part, 1: imaginary part
            src = A[b, s]
            row = out[b, a]
            row[0] = 0.0
            acc = 0.0
            for t in range(1, T):
                acc += src[2 * (t - 1) + off]
                row[t] = acc


def generate_cpu(out: np.ndarray, alpha: np.ndarray, seed: int, start: int) -> None:
    n, dim, T = out.shape
    import scipy.fft  # lazy: scipy (FBM alone needs it; keeps classify's start-up light)

    k0, k1 = seed_words(seed)
    M = embedding_size(T)
    workers = numba.get_num_threads()  # the FFTs use as many threads as the generators
    ns = 1 if dim <= 2 else 2
    batch = max(1, min(n, FBM_CHUNK_BYTES // (16 * M * ns)))
    A = np.empty((batch, ns, M), np.complex128)
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        a = A[: hi - lo]
        uniq, which = np.unique(alpha[lo:hi], return_inverse=True)
        lam = eigenvalues(uniq, T, workers)
        _spectrum(a.view(np.float64), lam, which.astype(np.int64), k0, k1,
                  _U64(start + lo), STREAM_AXIS)
        f = scipy.fft.fft(a, axis=-1, overwrite_x=True, workers=workers)
        _store(out[lo:hi], f.view(np.float64))
