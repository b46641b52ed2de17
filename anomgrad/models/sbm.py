"""Scaled Brownian motion, as andi-datasets 2.1.13 draws it.

x_0 = 0 and x_k = sum_{t=1..k} sqrt((t+1)^alpha - t^alpha) N_t: the MSD grid is
(t+1)^alpha and andi drops the first increment (t = 0 -> 1, variance 1).

Draws: N_t of axis a is normal t - 1 of stream 16 + a (the same normals as BM, so
SBM at alpha = 1 equals BM with the same seed).

The variance (t+1)^alpha - t^alpha is evaluated as t^alpha expm1(alpha log1p(1/t)),
which keeps full relative precision at large t and small alpha where the plain
difference cancels.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..config import STREAM_AXIS
from ..rng import exp_det, expm1_det, fill_normals, log1p_recip, log_det
from ._common import seed_words, store_cumsum

_U64 = np.uint64


@njit(cache=True)
def _tables(T):
    """ln t and log1p(1/t) for t = 1 .. T-1."""
    lnt = np.empty(T - 1)
    l1p = np.empty(T - 1)
    for t in range(1, T):
        lnt[t - 1] = log_det(np.float64(t))
        l1p[t - 1] = log1p_recip(t)
    return lnt, l1p


@njit(parallel=True, cache=True)
def _kernel(out, alpha, k0, k1, start, lnt, l1p):
    n, dim, T = out.shape
    cap = 4 * ((T - 1 + 3) // 4)
    for i in prange(n):
        traj = _U64(start) + _U64(i)
        al = alpha[i]
        words = np.empty(cap, np.uint32)
        z = np.empty(cap, np.float64)
        sc = np.empty(T - 1, np.float64)
        for t in range(T - 1):
            sc[t] = math.sqrt(exp_det(al * lnt[t]) * expm1_det(al * l1p[t]))
        for a in range(dim):
            fill_normals(z, T - 1, words, k0, k1, traj, STREAM_AXIS + a)
            for t in range(T - 1):
                z[t] *= sc[t]
            store_cumsum(out[i, a], z, T)


def generate_cpu(out: np.ndarray, alpha: np.ndarray, seed: int, start: int) -> None:
    k0, k1 = seed_words(seed)
    lnt, l1p = _tables(out.shape[2])
    _kernel(out, alpha, k0, k1, _U64(start), lnt, l1p)
