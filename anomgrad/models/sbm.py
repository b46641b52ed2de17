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
from ._common import seed_words, store_cumsums

_U64 = np.uint64


@njit(cache=True, error_model="numpy")
def _tables(T):
    """ln t and log1p(1/t) for t = 1 .. T-1."""
    lnt = np.empty(T - 1)
    l1p = np.empty(T - 1)
    for t in range(1, T):
        lnt[t - 1] = log_det(np.float64(t))
        l1p[t - 1] = log1p_recip(t)
    return lnt, l1p


@njit(cache=True, error_model="numpy")
def _scale(sc, al, lnt, l1p):
    """sqrt((t+1)^al - t^al) for t = 1 .. T-1 into ``sc``."""
    for t in range(len(sc)):
        sc[t] = math.sqrt(exp_det(al * lnt[t]) * expm1_det(al * l1p[t]))


@njit(parallel=True, cache=True, nogil=True)
def _scale_table(alphas, lnt, l1p):
    tab = np.empty((len(alphas), len(lnt)))
    for k in prange(len(alphas)):
        _scale(tab[k], alphas[k], lnt, l1p)
    return tab


@njit(parallel=True, cache=True, nogil=True)
def _kernel(out, alpha, k0, k1, start, lnt, l1p, tab, row):
    """Trajectory i scales its normals by ``tab[row[i]]`` (an alpha shared by many
    trajectories: its table computed once), or, where ``row[i] < 0``, by a table of its
    own alpha computed here."""
    n, dim, T = out.shape
    cap = 4 * ((T - 1 + 3) // 4)
    for i in prange(n):
        traj = _U64(start) + _U64(i)
        words = np.empty(cap, np.uint32)
        z = np.empty((dim, cap), np.float64)
        if row[i] >= 0:
            sc = tab[row[i]]
        else:
            sc = np.empty(T - 1, np.float64)
            _scale(sc, alpha[i], lnt, l1p)
        for a in range(dim):
            fill_normals(z[a], T - 1, words, k0, k1, traj, STREAM_AXIS + a)
            for t in range(T - 1):
                z[a, t] *= sc[t]
        store_cumsums(out[i], z, T)


TABLE_BYTES = 64 << 20  # at most this much memory for the scale tables of shared alphas


def generate_cpu(out: np.ndarray, alpha: np.ndarray, seed: int, start: int) -> None:
    """Trajectories that share an alpha (one alpha for all, a few classes' alphas) share
    its scale table, computed once (the same bits: the same function of alpha); a batch
    of distinct alphas computes one table per trajectory."""
    k0, k1 = seed_words(seed)
    n, _, T = out.shape
    lnt, l1p = _tables(T)
    uniq, row = np.unique(alpha, return_inverse=True)
    if 2 * len(uniq) > n or len(uniq) * (T - 1) * 8 > TABLE_BYTES:
        uniq, row = uniq[:0], np.full(n, -1, np.int64)
    tab = _scale_table(uniq, lnt, l1p)
    _kernel(out, alpha, k0, k1, _U64(start), lnt, l1p, tab, row.astype(np.int64).ravel())
