"""Levy walk, as andi-datasets 2.1.13 draws it.

One speed v = 10 U per trajectory.  Flight f lasts tau_f = (1 - U_f)^(-1/sigma) with
sigma = 3 - alpha (alpha = 2: sigma ~ U(0, 1) per trajectory); tau_f > T becomes
T + 1; the flight covers floor(tau_f) unit steps (>= 1), each moving by v along the
flight's direction (1-D: a random sign; 2-D: angle U(0, 2 pi); 3-D: uniform on the
sphere).  Steps are numbered s = 0, 1, ... over the whole walk and
x_k = step_1 + ... + step_k: andi drops the very first unit step.

Draws: v from word 0 and sigma (alpha = 2 only) from word 1 of stream 0; tau_f from
word f of stream 1 (as exp(E_f / sigma)); the 1-D sign (top bit) and the 2-D angle
(2 pi w / 2^32) from word f of stream 2; the 3-D direction from normals f of streams
16, 17, 18, normalised.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..config import STREAM_AXIS, STREAM_DIRECTIONS, STREAM_EVENTS, STREAM_PARAMS
from ..rng import block, fill_normals, fill_words, sincos_word, uniform_of
from ._common import BATCH, power_law_batch, seed_words, store_cumsums, unit3

_U32 = np.uint32
_U64 = np.uint64
@njit(parallel=True, cache=True, nogil=True)
def _kernel(out, alpha, k0, k1, start):
    n, dim, T = out.shape
    cap = T + BATCH  # every flight covers >= 1 step; the last batch may overshoot
    for i in prange(n):
        traj = _U64(start) + _U64(i)
        al = alpha[i]
        p0, p1, _, _ = block(k0, k1, traj, STREAM_PARAMS, 0)
        v = 10.0 * uniform_of(p0)
        sigma = uniform_of(p1) if al == 2.0 else 3.0 - al
        tau = np.empty(BATCH, np.float64)
        words = np.empty(BATCH, np.uint32)
        d = np.empty((3, BATCH), np.float64)
        # the flights first: their unit-step vectors and where each after the first starts
        nf = np.empty(BATCH, np.int64)
        vel = np.empty((dim, cap), np.float64)
        starts = np.zeros(T, np.uint8)
        s = 0  # first step of the current flight
        f = 0  # first flight of the batch
        while s < T:
            b0 = f // 4
            power_law_batch(tau, words, k0, k1, traj, STREAM_EVENTS, b0, 1.0 / sigma)
            _directions(d, words, k0, k1, traj, b0, dim, v)
            for q in range(BATCH):
                nf[q] = T + 1 if tau[q] > T else np.int64(math.floor(tau[q]))
            for a in range(dim):  # the whole batch: flights past the end are never read
                for q in range(BATCH):
                    vel[a, f + q] = d[a, q]
            for q in range(BATCH):
                if s >= T:
                    break
                starts[s] = 1
                s += nf[q]
            f += BATCH
        starts[0] = 0  # flight 0 starts at step 0, before the first counted step
        store_cumsums(out[i], vel, T, starts)  # step k moves by its flight's vector


@njit(inline="always", cache=True)
def _directions(d, words, k0, k1, traj, b0, dim, v):
    """d[:, q] = v * direction of flight 4 b0 + q."""
    if dim == 3:
        g = np.empty(BATCH, np.float64)
        for a in range(3):
            fill_normals(g, BATCH, words, k0, k1, traj, STREAM_AXIS + a, b0)
            for q in range(BATCH):
                d[a, q] = g[q]
        for q in range(BATCH):
            ux, uy, uz = unit3(d[0, q], d[1, q], d[2, q])
            d[0, q] = v * ux
            d[1, q] = v * uy
            d[2, q] = v * uz
        return
    fill_words(words, BATCH // 4, k0, k1, traj, STREAM_DIRECTIONS, b0)
    for q in range(BATCH):
        if dim == 1:
            d[0, q] = -v if (words[q] >> _U32(31)) else v
        else:
            c, sn = sincos_word(words[q])
            d[0, q] = v * c
            d[1, q] = v * sn


def generate_cpu(out: np.ndarray, alpha: np.ndarray, seed: int, start: int) -> None:
    k0, k1 = seed_words(seed)
    _kernel(out, alpha, k0, k1, _U64(start))
