"""Continuous-time random walk, as andi-datasets 2.1.13 draws it.

Waiting times tau_j = (1 - U_j)^(-1/alpha) (>= 1), event times t_j = tau_1 + ... + tau_j.
Event j happens on the grid at floor(t_j) and moves every axis by an N(0, 1) jump
(3-D: an N(0, 1) length along a uniform direction).  x at integer time t is the sum
of the jumps of all events with floor(t_j) <= t: 0 until floor(t_1), held between
events.  Events with t_j >= T fall outside the trajectory.

Draws (event j = 0, 1, ...): tau_j from word j of stream 1 (as exp(E_j / alpha),
E_j = -ln(1 - U_j)); jump of axis a is normal j of stream 16 + a; in 3-D the
direction is normals j of streams 16, 17, 18 normalised and the length normal j of
stream 19.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..config import STREAM_AXIS, STREAM_EVENTS, STREAM_LENGTH
from ..rng import fill_normals
from ._common import BATCH, power_law_batch, seed_words, store_cumsum, unit3

_U64 = np.uint64


@njit(inline="always", cache=True)
def event_grid(idx, k0, k1, traj, inv_alpha, T):
    """Fill idx[j] = floor(t_j) for the events with t_j < T; return their count."""
    tau = np.empty(BATCH, np.float64)
    words = np.empty(BATCH, np.uint32)
    t = 0.0
    j = 0
    while True:
        power_law_batch(tau, words, k0, k1, traj, STREAM_EVENTS, j // 4, inv_alpha)
        for q in range(BATCH):
            t += tau[q]
            if t >= T:
                return j
            idx[j] = np.int64(math.floor(t))
            j += 1


@njit(parallel=True, cache=True, nogil=True)
def _kernel(out, alpha, k0, k1, start):
    n, dim, T = out.shape
    cap = 4 * ((T + 3) // 4)
    for i in prange(n):
        traj = _U64(start) + _U64(i)
        idx = np.empty(T, np.int64)
        J = event_grid(idx, k0, k1, traj, 1.0 / alpha[i], T)
        words = np.empty(cap, np.uint32)
        inc = np.zeros((dim, T), np.float64)
        if dim < 3:
            z = np.empty(cap, np.float64)
            for a in range(dim):
                fill_normals(z, J, words, k0, k1, traj, STREAM_AXIS + a)
                for j in range(J):
                    inc[a, idx[j] - 1] += z[j]
        else:
            g = np.empty((4, cap), np.float64)
            for a in range(4):
                stream = STREAM_AXIS + a if a < 3 else STREAM_LENGTH
                fill_normals(g[a], J, words, k0, k1, traj, stream)
            for j in range(J):
                ux, uy, uz = unit3(g[0, j], g[1, j], g[2, j])
                L = g[3, j]
                inc[0, idx[j] - 1] += L * ux
                inc[1, idx[j] - 1] += L * uy
                inc[2, idx[j] - 1] += L * uz
        for a in range(dim):
            store_cumsum(out[i, a], inc[a], T)


def generate_cpu(out: np.ndarray, alpha: np.ndarray, seed: int, start: int) -> None:
    k0, k1 = seed_words(seed)
    _kernel(out, alpha, k0, k1, _U64(start))
