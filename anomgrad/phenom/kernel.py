"""The Numba kernel of the state models: a Markov chain of diffusive states, each state
moving by fractional Gaussian noise that restarts when the state changes (docs/phenom.md).

Per trajectory ``i`` (Philox counter ``start + i``, docs/rng.md):

1. each state's alpha and D: a truncated normal (``mean + sd N`` redrawn until inside
   the bounds) from normals of stream 128 + 2 s (alpha) and 129 + 2 s (D); a constraint
   against the previous state (``epsilon_a``, ``gamma_d``) redraws the same stream;
2. the chain: state 0 from word 0 of stream 0 (``floor(S U)``, or the given
   ``init_state``), the state at frame t >= 1 from word t - 1 of stream 1 (the first
   ``j`` with ``U < cdf_j`` of the row of the state at t - 1);
3. the start: 0, or ``L U`` per axis from words 1..dim of stream 0 inside a box;
4. step t (frame t - 1 -> t) is governed by the state at frame t - 1; each maximal run
   of steps under one state is a fresh fGn of that state's alpha (Durbin-Levinson on
   the normals 0.. of stream 16 + a, normal t - 1 for step t) times sqrt(2 D);
5. inside a box, a coordinate that leaves [0, L] is reflected until it is inside.

Labels per frame: alpha and D of the state at that frame, its kind (free, or directed
from alpha 1.9), the state's number.  All arithmetic in float64.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..config import (PHENOM_ALPHA_DIRECTED, PHENOM_BOUND_ALPHA, PHENOM_BOUND_D,
                      PHENOM_KINDS, PHENOM_MAX_DRAWS, PHENOM_MAX_TRUNC, STREAM_AXIS,
                      STREAM_EVENTS, STREAM_PARAMS, STREAM_STATE_PARAMS)
from ..models._common import normal4
from ..rng import block, fill_normals, fill_words, uniform_of

_U64 = np.uint64
_U32 = np.uint32
FREE = PHENOM_KINDS.index("free")
DIRECTED = PHENOM_KINDS.index("directed")
A_LO, A_HI = PHENOM_BOUND_ALPHA
D_LO, D_HI = PHENOM_BOUND_D

# error codes a trajectory reports (the caller turns them into a ValueError)
ERR_TRUNC_ALPHA, ERR_TRUNC_D, ERR_EPSILON, ERR_GAMMA = 1, 2, 3, 4


@njit(inline="always", cache=True)
def _normal_at(k0, k1, traj, stream, j):
    """Normal j of a stream."""
    z0, z1, z2, z3 = normal4(k0, k1, traj, stream, j // 4)
    q = j % 4
    return z0 if q == 0 else (z1 if q == 1 else (z2 if q == 2 else z3))


@njit(inline="always", cache=True)
def _truncated(mean, sd, lo, hi, k0, k1, traj, stream, j):
    """(value, next j, ok): ``mean + sd N_j`` for the first j inside [lo, hi]."""
    if sd == 0.0:
        return mean, j, True
    for _ in range(PHENOM_MAX_TRUNC):
        v = mean + sd * _normal_at(k0, k1, traj, stream, j)
        j += 1
        if lo <= v <= hi:
            return v, j, True
    return mean, j, False


@njit(cache=True, error_model="numpy")
def state_parameters(a_mean, a_sd, d_mean, d_sd, eps, gam, k0, k1, traj, alpha, D):
    """Fill alpha[s], D[s]; 0 or an error code."""
    S = a_mean.shape[0]
    for s in range(S):
        sa = _U32(STREAM_STATE_PARAMS + 2 * s)
        sd = _U32(STREAM_STATE_PARAMS + 2 * s + 1)
        a, ja, ok = _truncated(a_mean[s], a_sd[s], A_LO, A_HI, k0, k1, traj, sa, 0)
        if not ok:
            return ERR_TRUNC_ALPHA
        d, jd, ok = _truncated(d_mean[s], d_sd[s], D_LO, D_HI, k0, k1, traj, sd, 0)
        if not ok:
            return ERR_TRUNC_D
        if s > 0 and eps[s - 1] != 0.0:  # andi: redraw while alpha_(s-1) - alpha_s < eps
            tries = 0
            while alpha[s - 1] - a < eps[s - 1]:
                a, ja, ok = _truncated(a_mean[s], a_sd[s], A_LO, A_HI, k0, k1, traj, sa, ja)
                tries += 1
                if not ok:
                    return ERR_TRUNC_ALPHA
                if tries > PHENOM_MAX_DRAWS:
                    return ERR_EPSILON
        if s > 0 and gam[s - 1] != 1.0:  # andi: D_s <= gamma D_(s-1) (gamma < 1), >= (> 1)
            tries = 0
            while (d > D[s - 1] * gam[s - 1]) if gam[s - 1] < 1.0 else (d < D[s - 1] * gam[s - 1]):
                d, jd, ok = _truncated(d_mean[s], d_sd[s], D_LO, D_HI, k0, k1, traj, sd, jd)
                tries += 1
                if not ok:
                    return ERR_TRUNC_D
                if tries > PHENOM_MAX_DRAWS:
                    return ERR_GAMMA
        alpha[s] = a
        D[s] = d
    return 0


@njit(inline="always", cache=True)
def fgn_autocovariance(g, H, n):
    """g[k] = (|k+1|^2H - 2 k^2H + |k-1|^2H) / 2, k < n (unit variance)."""
    h2 = 2.0 * H
    g[0] = 1.0
    for k in range(1, n):
        g[k] = 0.5 * ((k + 1.0) ** h2 - 2.0 * k ** h2 + (k - 1.0) ** h2)


@njit(inline="always", cache=True)
def reflect_box(p, box):
    """andi-datasets' reflecting walls for one coordinate: above ``box`` it becomes
    ``2 box - p``, below 0 ``-p``, repeated until it lies in [0, box]."""
    while p > box or p < 0.0:
        if p > box:
            p = 2.0 * box - p
        if p < 0.0:
            p = -p
    return p


@njit(inline="always", cache=True)
def kind_of(alpha):
    """The kind label of free motion: directed from alpha 1.9 on, else free."""
    return DIRECTED if alpha >= PHENOM_ALPHA_DIRECTED else FREE


@njit(inline="always", cache=True)
def step_normals(z, zw, T, k0, k1, traj):
    """z[a, t - 1]: the normal that drives step t on axis a (normal t - 1 of stream
    16 + a), for every axis of z."""
    for a in range(z.shape[0]):
        fill_normals(z[a], T - 1, zw, k0, k1, traj, _U32(STREAM_AXIS + a))


@njit(inline="always", cache=True)
def run_scratch(dim, T):
    """Per-thread scratch of the fGn runs: normals z (dim, cap), their words zw, run
    values y (dim, T), Durbin-Levinson's predictor phi (T,)."""
    cap = 4 * ((T - 1 + 3) // 4) + 4
    return (np.empty((dim, cap)), np.empty(cap, np.uint32), np.empty((dim, T)),
            np.empty(T))


@njit(inline="always", cache=True)
def fgn_next(y, z, t0, k, g, phi, v):
    """Step k of an fGn run that started at index t0: y[a, t0 + k] from the normals
    z[a, t0 + k] and the run's earlier values (Durbin-Levinson: ``phi`` holds the order
    k - 1 predictor, ``v`` its innovation variance, both updated); returns the new v.
    ``g``: the autocovariance (:func:`fgn_autocovariance`) up to k."""
    dim = y.shape[0]
    if k == 0:
        for a in range(dim):
            y[a, t0] = z[a, t0]
        return 1.0
    s = g[k]
    for j in range(1, k):
        s -= phi[j] * g[k - j]
    pkk = s / v
    for j in range(1, k // 2 + 1):  # phi_j - pkk phi_(k-j), in place, pairwise
        p, q = phi[j], phi[k - j]
        phi[j] = p - pkk * q
        if j != k - j:
            phi[k - j] = q - pkk * p
    phi[k] = pkk
    v *= 1.0 - pkk * pkk
    sv = math.sqrt(v)
    if dim == 2:  # both axes in one pass
        a0 = 0.0
        a1 = 0.0
        for j in range(1, k + 1):
            a0 += phi[j] * y[0, t0 + k - j]
            a1 += phi[j] * y[1, t0 + k - j]
        y[0, t0 + k] = a0 + sv * z[0, t0 + k]
        y[1, t0 + k] = a1 + sv * z[1, t0 + k]
        return v
    for a in range(dim):
        acc = 0.0
        for j in range(1, k + 1):
            acc += phi[j] * y[a, t0 + k - j]
        y[a, t0 + k] = acc + sv * z[a, t0 + k]
    return v


@njit(cache=True, error_model="numpy")
def _fgn_run(y, z, t0, n, H, g, phi):
    """y[a, t0 + k] for k < n: fGn of Hurst H from the normals z[a, t0 + k]
    (Durbin-Levinson: exact, O(n^2)); H = 1/2 is white noise."""
    dim = y.shape[0]
    if H == 0.5:
        for a in range(dim):
            for k in range(n):
                y[a, t0 + k] = z[a, t0 + k]
        return
    fgn_autocovariance(g, H, n)
    v = 1.0
    for k in range(n):
        v = fgn_next(y, z, t0, k, g, phi, v)


@njit(cache=True, nogil=True, error_model="numpy")
def _one(x, lab, i, cdf, a_mean, a_sd, d_mean, d_sd, eps, gam, box, init_state, k0, k1,
         traj, alpha, D, state, words, z, zw, y, g, phi, scale):
    """Trajectory ``i`` (counter ``traj``) into x[i], lab[i]; 0 or an error code."""
    _, dim, T = x.shape
    S = cdf.shape[0]
    e = state_parameters(a_mean, a_sd, d_mean, d_sd, eps, gam, k0, k1, traj, alpha, D)
    if e != 0:
        return e
    # the chain
    w0, w1, w2, w3 = block(k0, k1, traj, _U32(STREAM_PARAMS), 0)
    if init_state >= 0:
        state[0] = init_state
    else:
        state[0] = min(int(S * uniform_of(w0)), S - 1)
    if S == 1:
        state[:T] = 0
    else:
        fill_words(words, (T - 1 + 3) // 4, k0, k1, traj, _U32(STREAM_EVENTS), 0)
        for t in range(1, T):
            u = uniform_of(words[t - 1])
            row = state[t - 1]
            j = 0
            while j < S - 1 and u >= cdf[row, j]:
                j += 1
            state[t] = j
    # the steps: fGn runs, one per maximal run of steps under one state
    m = T - 1
    step_normals(z, zw, T, k0, k1, traj)
    white = True  # every state's fGn is white noise (H = 1/2): the normals themselves
    for k in range(S):
        white = white and alpha[k] == 1.0
    t0 = 0  # step index t - 1 of the run's first step
    while t0 < m and not white:
        s = state[t0]
        t1 = t0 + 1
        while t1 < m and state[t1] == s:
            t1 += 1
        _fgn_run(y, z, t0, t1 - t0, alpha[s] / 2.0, g, phi)
        t0 = t1
    if white:
        y = z
    for k in range(S):
        scale[k] = math.sqrt(2.0 * D[k])
    starts = (box * uniform_of(w1), box * uniform_of(w2), box * uniform_of(w3)) if box > 0.0 \
        else (0.0, 0.0, 0.0)
    _positions(x[i], y, state, scale, box, starts)
    _labels(lab[i], state, alpha, D, S)
    return 0


@njit(inline="always", cache=True)
def _positions(xi, y, state, scale, box, starts):
    """xi[a, 0] = starts[a], then each step's unit fGn y[a, t - 1] times sqrt(2 D) of its
    state (scale[state[t - 1]]; the product rounded, then added), reflected inside a box.
    All axes in one pass over t, so their chains of adds overlap (the tests of dim are
    loop-invariant: the compiler unswitches them)."""
    dim, T = xi.shape
    p0, p1, p2 = starts
    xi[0, 0] = p0
    if dim > 1:
        xi[1, 0] = p1
    if dim > 2:
        xi[2, 0] = p2
    for t in range(1, T):
        c = scale[state[t - 1]]
        p0 += y[0, t - 1] * c
        if box > 0.0:
            p0 = reflect_box(p0, box)
        xi[0, t] = p0
        if dim > 1:
            p1 += y[1, t - 1] * c
            if box > 0.0:
                p1 = reflect_box(p1, box)
            xi[1, t] = p1
        if dim > 2:
            p2 += y[2, t - 1] * c
            if box > 0.0:
                p2 = reflect_box(p2, box)
            xi[2, t] = p2


@njit(inline="always", cache=True)
def _labels(labi, state, alpha, D, S):
    """labi[:, t] = alpha, D, kind and number of state[t]; one state: constant rows."""
    if S == 1:
        labi[0, :] = alpha[0]
        labi[1, :] = D[0]
        labi[2, :] = kind_of(alpha[0])
        labi[3, :] = 0
        return
    for t in range(labi.shape[1]):
        s = state[t]
        labi[0, t] = alpha[s]
        labi[1, t] = D[s]
        labi[2, t] = kind_of(alpha[s])
        labi[3, t] = s


CHUNK = 64  # trajectories per scratch allocation


@njit(parallel=True, cache=True, nogil=True)
def states_kernel(x, lab, cdf, a_mean, a_sd, d_mean, d_sd, eps, gam, box, init_state,
                  k0, k1, start, err):
    """x (n, dim, T) positions, lab (n, 4, T) labels, err (n,) error codes."""
    n, dim, T = x.shape
    S = cdf.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        alpha = np.empty(S)
        D = np.empty(S)
        scale = np.empty(S)
        state = np.empty(T, np.int64)
        z, zw, y, phi = run_scratch(dim, T)
        words = np.empty(zw.shape[0], np.uint32)
        g = np.empty(T)
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            err[i] = _one(x, lab, i, cdf, a_mean, a_sd, d_mean, d_sd, eps, gam, box,
                          init_state, k0, k1, _U64(start) + _U64(i), alpha, D, state, words,
                          z, zw, y, g, phi, scale)


@njit(parallel=True, cache=True, nogil=True)
def params_kernel(a_mean, a_sd, d_mean, d_sd, eps, gam, k0, k1, start, alpha, D, err):
    """alpha, D (n, S) of every trajectory's states and err (n,) error codes."""
    for i in prange(alpha.shape[0]):
        err[i] = state_parameters(a_mean, a_sd, d_mean, d_sd, eps, gam, k0, k1,
                                   _U64(start) + _U64(i), alpha[i], D[i])


@njit(parallel=True, cache=True, nogil=True)
def single_finish(x, lab, f, alpha, D, box, k0, k1, start):
    """single_state from unit fBm ``f`` (n, dim, T) float64, positions from 0: steps
    times sqrt(2 D), the start (0, or L U from words 1..dim of stream 0), the box's
    reflections, the labels (one state)."""
    n, dim, T = x.shape
    for i in prange(n):
        traj = _U64(start) + _U64(i)
        w0, w1, w2, w3 = block(k0, k1, traj, _U32(STREAM_PARAMS), 0)
        ws = (w1, w2, w3)
        c = math.sqrt(2.0 * D[i])
        for a in range(dim):
            p = box * uniform_of(ws[a]) if box > 0.0 else 0.0
            x[i, a, 0] = p
            for t in range(1, T):
                p += c * (f[i, a, t] - f[i, a, t - 1])
                if box > 0.0:
                    p = reflect_box(p, box)
                x[i, a, t] = p
        kind = kind_of(alpha[i])
        for t in range(T):
            lab[i, 0, t] = alpha[i]
            lab[i, 1, t] = D[i]
            lab[i, 2, t] = kind
            lab[i, 3, t] = 0
