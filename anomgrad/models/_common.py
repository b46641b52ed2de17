"""Numba helpers shared by the CPU generators."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..rng import block, exp1_of, exp_det, fill_words, normal_pair

_U32 = np.uint32


@njit(inline="always", cache=True)
def store_cumsums(rows, inc, T, runs=None):
    """rows[a, 0] = 0, rows[a, t] = inc[a, 0] + ... + inc[a, t - 1], accumulated in
    float64, every axis in one pass over t: the axes' running sums are independent
    chains of adds, so they overlap instead of running one after the other.  With
    ``runs`` (one byte per step, 1 where a new run of equal increments starts,
    runs[0] = 0), step t adds inc[a, r], r = runs[1] + ... + runs[t], instead of
    inc[a, t - 1]: a branch-free gather, so a run's length costs no loop exit."""
    d = rows.shape[0]
    r0, r1, r2 = rows[0], rows[min(1, d - 1)], rows[min(2, d - 1)]
    i0, i1, i2 = inc[0], inc[min(1, d - 1)], inc[min(2, d - 1)]
    for r in rows:
        r[0] = 0.0
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    c = 0
    for t in range(1, T):  # the tests of d are loop-invariant: the compiler unswitches them
        if runs is None:
            c = t - 1
        else:
            c += runs[t]
        a0 += i0[c]
        r0[t] = a0
        if d > 1:
            a1 += i1[c]
            r1[t] = a1
        if d > 2:
            a2 += i2[c]
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
