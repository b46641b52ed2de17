"""``immobile_traps`` (andi-datasets 2.1.13 ``models_phenom.immobile_traps``): particles
diffusing by fGn in a reflecting box of side L with Nt immobile traps of radius r; a
free particle within r of a trap binds with probability Pb per frame and then does not
move; a bound one unbinds with probability Pu per frame (docs/phenom.md).

Per trajectory (counter ``start + i``): alpha and D from streams 128 and 129 (as the
state kernel's state 0), the start ``L U`` from words 1, 2 of stream 0; at frame t the
unbinding and binding uniforms are words 2 (t - 1) and 2 (t - 1) + 1 of stream 1; each
run of free steps is a fresh fGn (normal t - 1 of stream 16 + a drives step t).  The
traps, unless given, are ``L U`` from stream 96 at counter 0: they depend on the seed
alone, so every trajectory of a seed moves among the same traps (andi's N particles of
one call share theirs).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..config import PHENOM_KINDS, STREAM_EVENTS, STREAM_PARAMS
from ..rng import block, fill_words, uniform_of
from .kernel import (fgn_autocovariance, fgn_next, kind_of, reflect_box, run_scratch,
                     state_parameters, step_normals)

_U64 = np.uint64
_U32 = np.uint32
IMMOBILE = PHENOM_KINDS.index("immobile")
CHUNK = 64


@njit(cache=True, nogil=True, error_model="numpy")
def _near(px, py, traps, r):
    for j in range(traps.shape[0]):
        dx = px - traps[j, 0]
        dy = py - traps[j, 1]
        if math.sqrt(dx * dx + dy * dy) < r:
            return True
    return False


@njit(cache=True, nogil=True, error_model="numpy")
def _one(x, lab, i, traps, a_mean, a_sd, d_mean, d_sd, box, r, Pu, Pb, k0, k1, traj,
         alpha, D, z, zw, words, y, g, phi):
    _, dim, T = x.shape
    nil = np.zeros(1)
    e = state_parameters(a_mean, a_sd, d_mean, d_sd, nil, nil + 1.0, k0, k1, traj, alpha, D)
    if e != 0:
        return e
    a, d = alpha[0], D[0]
    white = a == 1.0
    if not white:
        fgn_autocovariance(g, a / 2.0, T)
    c = math.sqrt(2.0 * d)
    kind = kind_of(a)
    w0, w1, w2, w3 = block(k0, k1, traj, _U32(STREAM_PARAMS), 0)
    px, py = box * uniform_of(w1), box * uniform_of(w2)
    step_normals(z, zw, T, k0, k1, traj)
    fill_words(words, (2 * (T - 1) + 3) // 4, k0, k1, traj, _U32(STREAM_EVENTS), 0)
    x[i, 0, 0], x[i, 1, 0] = px, py
    lab[i, 0, 0], lab[i, 1, 0], lab[i, 2, 0], lab[i, 3, 0] = a, d, kind, 0
    bound = False
    k, t0, v = 0, 0, 1.0  # the free run: its length so far, its first step, DL's variance
    for t in range(1, T):
        free_again = not (uniform_of(words[2 * (t - 1)]) < Pu and bound)
        binds = uniform_of(words[2 * (t - 1) + 1]) < Pb
        bound = (bound and free_again) or (free_again and binds and _near(px, py, traps, r))
        if bound:
            k = 0
            lab[i, 0, t], lab[i, 1, t], lab[i, 2, t], lab[i, 3, t] = 0.0, 0.0, IMMOBILE, 1
        else:
            if k == 0:
                t0 = t - 1
            if white:
                sx, sy = z[0, t - 1], z[1, t - 1]
            else:
                v = fgn_next(y, z, t0, k, g, phi, v)
                sx, sy = y[0, t - 1], y[1, t - 1]
            k += 1
            px, py = px + c * sx, py + c * sy
            px, py = reflect_box(px, box), reflect_box(py, box)
            lab[i, 0, t], lab[i, 1, t], lab[i, 2, t], lab[i, 3, t] = a, d, kind, 0
        x[i, 0, t], x[i, 1, t] = px, py
    return 0


@njit(parallel=True, cache=True, nogil=True)
def traps_kernel(x, lab, traps, a_mean, a_sd, d_mean, d_sd, box, r, Pu, Pb, k0, k1, start,
                 err):
    """x (n, 2, T), lab (n, 4, T), err (n,) error codes."""
    n, dim, T = x.shape
    for ch in prange((n + CHUNK - 1) // CHUNK):
        alpha = np.empty(1)
        D = np.empty(1)
        z, zw, y, phi = run_scratch(dim, T)
        words = np.empty(2 * zw.shape[0], np.uint32)  # two coins per frame
        g = np.empty(T)
        for i in range(ch * CHUNK, min(n, (ch + 1) * CHUNK)):
            err[i] = _one(x, lab, i, traps, a_mean, a_sd, d_mean, d_sd, box, r, Pu, Pb,
                          k0, k1, _U64(start) + _U64(i), alpha, D, z, zw, words, y, g, phi)


def field(seed_words, Nt: int, box: float, stream: int) -> np.ndarray:
    """Nt points uniform in [0, box)^2 from ``stream`` at counter 0 (the seed alone)."""
    k0, k1 = seed_words
    out = np.empty((Nt, 2))
    for j in range(Nt):
        w = block(k0, k1, _U64(0), _U32(stream), j // 2)
        out[j, 0] = box * uniform_of(w[2 * (j % 2)])
        out[j, 1] = box * uniform_of(w[2 * (j % 2) + 1])
    return out
