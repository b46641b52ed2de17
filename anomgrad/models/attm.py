"""Annealed transient time motion (regime 1), as andi-datasets 2.1.13 draws it.

sigma ~ U(0.03, 3.3) and gamma = sigma / alpha, redrawn until sigma <= gamma <= sigma + 1;
that is sigma uniform on [0.03, min(3.3, alpha / (1 - alpha))], drawn here in one go.
Then segments: V = 1 - U(0.1, 0.99), D = V^(1/sigma), duration t = D^(-gamma) =
V^(-1/alpha) (t > T becomes T), floor(t) >= 1 Brownian steps sqrt(2D) N(0, 1) on
every axis (all axes share D and t; in 3-D each step is an N(0, 1) length along a
uniform direction, times sqrt(2D)), until T positions exist.  x_0 = 0.

Draws: sigma from word 0 of stream 0; segment j from word j of stream 1; step s
(x_(s+1) - x_s) of axis a from normal s of stream 16 + a; in 3-D the direction from
normals s of streams 16, 17, 18 and the length from normal s of stream 19.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..config import (ATTM_SIGMA_HIGH, ATTM_SIGMA_LOW, STREAM_AXIS, STREAM_EVENTS,
                      STREAM_LENGTH, STREAM_PARAMS)
from ..rng import block, exp_det, fill_normals, fill_words, log_det, uniform_of
from ._common import BATCH, seed_words, store_cumsums, unit3

_U64 = np.uint64


@njit(inline="always", cache=True)
def sigma_of(alpha, u):
    """sigma uniform on [0.03, min(3.3, alpha / (1 - alpha))]."""
    hi = ATTM_SIGMA_HIGH
    if alpha < 1.0:
        r = alpha / (1.0 - alpha)
        if r < hi:
            hi = r
    return ATTM_SIGMA_LOW + (hi - ATTM_SIGMA_LOW) * u


@njit(inline="always", cache=True)
def segments(r, first, k0, k1, traj, alpha, T):
    """r[j] = sqrt(2 D) of segment j and first[s] = 1 where a segment starts at step s
    (s < T - 1; first[0] = 1): the segment of step s is first[0] + ... + first[s] - 1.
    Scales and lengths a batch at a time; a segment's length costs no loop exit."""
    p0, _, _, _ = block(k0, k1, traj, STREAM_PARAMS, 0)
    inv_sigma = 1.0 / sigma_of(alpha, uniform_of(p0))
    inv_alpha = 1.0 / alpha
    words = np.empty(BATCH, np.uint32)
    dur = np.empty(BATCH, np.float64)
    ns = np.empty(BATCH, np.int64)
    for k in range(T - 1):
        first[k] = 0
    s = 0
    j = 0
    while s < T - 1:
        fill_words(words, BATCH // 4, k0, k1, traj, STREAM_EVENTS, j // 4)
        for q in range(BATCH):
            V = 0.9 - 0.89 * uniform_of(words[q])
            lv = log_det(V)
            r[j + q] = math.sqrt(2.0 * exp_det(lv * inv_sigma))
            dur[q] = exp_det(-lv * inv_alpha)
        for q in range(BATCH):
            ns[q] = T if dur[q] > T else np.int64(math.floor(dur[q]))
        for q in range(BATCH):
            if s >= T - 1:
                break
            first[s] = 1
            s += ns[q]
        j += BATCH


@njit(inline="always", cache=True)
def store_scaled(rows, z, r, first, T):
    """rows[a, t] = sum over s < t of z[a, s] * r[segment of s], in float64 (each product
    rounded, then added in order: the bits of scaling the normals and then summing
    them), all axes and the segments' gather in one pass over t."""
    c = -1
    r0 = rows[0]
    r0[0] = 0.0
    a0 = 0.0
    if rows.shape[0] == 1:
        for t in range(1, T):
            c += first[t - 1]
            a0 += z[0, t - 1] * r[c]
            r0[t] = a0
    else:
        r1 = rows[1]
        r1[0] = 0.0
        a1 = 0.0
        for t in range(1, T):
            c += first[t - 1]
            sc = r[c]
            a0 += z[0, t - 1] * sc
            a1 += z[1, t - 1] * sc
            r0[t] = a0
            r1[t] = a1


@njit(parallel=True, cache=True, nogil=True)
def _kernel(out, alpha, k0, k1, start):
    n, dim, T = out.shape
    cap = 4 * ((T - 1 + 3) // 4)
    for i in prange(n):
        traj = _U64(start) + _U64(i)
        r = np.empty(T - 1 + BATCH, np.float64)  # every segment covers >= 1 step
        first = np.empty(T - 1, np.uint8)
        segments(r, first, k0, k1, traj, alpha[i], T)
        words = np.empty(cap, np.uint32)
        if dim < 3:
            z = np.empty((dim, cap), np.float64)
            for a in range(dim):
                fill_normals(z[a], T - 1, words, k0, k1, traj, STREAM_AXIS + a)
            store_scaled(out[i], z, r, first, T)
        else:
            g = np.empty((4, cap), np.float64)
            for a in range(4):
                stream = STREAM_AXIS + a if a < 3 else STREAM_LENGTH
                fill_normals(g[a], T - 1, words, k0, k1, traj, stream)
            c = -1
            for s in range(T - 1):
                c += first[s]
                ux, uy, uz = unit3(g[0, s], g[1, s], g[2, s])
                L = g[3, s] * r[c]
                g[0, s] = L * ux
                g[1, s] = L * uy
                g[2, s] = L * uz
            store_cumsums(out[i], g, T)


def generate_cpu(out: np.ndarray, alpha: np.ndarray, seed: int, start: int) -> None:
    k0, k1 = seed_words(seed)
    _kernel(out, alpha, k0, k1, _U64(start))
