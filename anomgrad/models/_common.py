"""Numba helpers shared by the CPU generators."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..rng import block, exp1_of, exp_det, fill_words, normal_pair

_U32 = np.uint32


@njit(inline="always", cache=True)
def store_cumsum(row, inc, T):
    """row[0] = 0, row[t] = inc[0] + ... + inc[t-1]; accumulated in float64."""
    row[0] = 0.0
    acc = 0.0
    for t in range(1, T):
        acc += inc[t - 1]
        row[t] = acc


@njit(inline="always", cache=True)
def store_cumsums(rows, inc, T):
    """store_cumsum of every axis (rows[a] from inc[a]) in one pass over t: the axes'
    running sums are independent chains of adds, so they overlap instead of running one
    after the other; the same adds in the same order per axis."""
    if rows.shape[0] == 1:
        store_cumsum(rows[0], inc[0], T)
    elif rows.shape[0] == 2:
        r0, r1, i0, i1 = rows[0], rows[1], inc[0], inc[1]
        r0[0] = 0.0
        r1[0] = 0.0
        a0 = 0.0
        a1 = 0.0
        for t in range(1, T):
            a0 += i0[t - 1]
            a1 += i1[t - 1]
            r0[t] = a0
            r1[t] = a1
    else:
        r0, r1, r2, i0, i1, i2 = rows[0], rows[1], rows[2], inc[0], inc[1], inc[2]
        r0[0] = 0.0
        r1[0] = 0.0
        r2[0] = 0.0
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        for t in range(1, T):
            a0 += i0[t - 1]
            a1 += i1[t - 1]
            a2 += i2[t - 1]
            r0[t] = a0
            r1[t] = a1
            r2[t] = a2


@njit(inline="always", cache=True)
def normal4(k0, k1, traj, stream, b):
    """Normals 4b .. 4b+3 of a stream."""
    w0, w1, w2, w3 = block(k0, k1, traj, stream, b)
    z0, z1 = normal_pair(w0, w1)
    z2, z3 = normal_pair(w2, w3)
    return z0, z1, z2, z3


@njit(inline="always", cache=True)
def unit3(gx, gy, gz):
    """g / |g| (a uniform direction when g is three iid normals)."""
    r = math.sqrt(gx * gx + gy * gy + gz * gz)
    if r == 0.0:  # probability 2^-96; keep a valid direction
        return 1.0, 0.0, 0.0
    return gx / r, gy / r, gz / r


# Event-driven models draw their durations in batches of BATCH (4 Philox blocks) so
# that the transcendental math runs in vectorised loops; the sequential part only adds.
BATCH = 16
# exp(E / alpha) is evaluated as exp(min(E / alpha, 40)): e^40 > 2^32 >= T, so a
# clamped duration still lands past the end of any trajectory.  Changes no outcome.
LOG_BEYOND = 40.0


@njit(inline="always", cache=True)
def power_law_batch(tau, words, k0, k1, traj, stream, first_block, inv_exponent):
    """tau[q] = (1 - U_j)^(-inv_exponent) = exp(E_j inv_exponent) for the BATCH draws
    j = 4 first_block + q of a stream, clamped at e^40."""
    fill_words(words, BATCH // 4, k0, k1, traj, stream, first_block)
    for q in range(BATCH):
        x = exp1_of(words[q]) * inv_exponent
        tau[q] = exp_det(min(x, LOG_BEYOND))


def seed_words(seed: int):
    return _U32(seed & 0xFFFFFFFF), _U32(seed >> 32)
