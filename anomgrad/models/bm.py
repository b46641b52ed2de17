"""Brownian motion: x_0 = 0, x_{k+1} = x_k + N(0, 1) on every axis.

Draws: increment k of axis a is normal k of stream 16 + a.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..config import STREAM_AXIS
from ..rng import fill_normals
from ._common import seed_words, store_cumsums

_U64 = np.uint64


@njit(parallel=True, cache=True, nogil=True)
def _kernel(out, alpha, k0, k1, start):
    n, dim, T = out.shape
    cap = 4 * ((T - 1 + 3) // 4)
    for i in prange(n):
        traj = _U64(start) + _U64(i)
        words = np.empty(cap, np.uint32)
        z = np.empty((dim, cap), np.float64)
        for a in range(dim):
            fill_normals(z[a], T - 1, words, k0, k1, traj, STREAM_AXIS + a)
        store_cumsums(out[i], z, T)


def generate_cpu(out: np.ndarray, alpha: np.ndarray, seed: int, start: int) -> None:
    k0, k1 = seed_words(seed)
    _kernel(out, alpha, k0, k1, _U64(start))
