"""``dimerization`` (andi-datasets 2.1.13 ``models_phenom.dimerization``): N particles
in a reflecting box of side L; two free particles closer than 2r bind with probability
Pb per frame and then move together, as one dimer (its own alpha and D); a dimer
breaks with probability Pu per frame (docs/phenom.md).

The particles interact, so they are made a **field** of N at a time: trajectories
``f N .. f N + N - 1`` form field f (calls must cover whole fields).  Per particle i
(counter i): the free and dimer alpha and D from streams 128-131 (as the state kernel's
two states), the start ``L U`` from words 1, 2 of stream 0, the normals of streams 16,
17.  Per field (counter f, stream 97, words in order of use): the breaking coin of every
dimer at every frame (dimers by label), then the binding coins in andi's order (each
free particle by index, its candidates closer than 2r by index, until one binds).
With ``epsilon_a`` (andi: a dimer's alpha at least epsilon_a below the smaller free
alpha of its particles) every new dimer draws its alpha instead, from normals of the
field's stream 98 in order of use (new dimers of a frame by their first particle).  Each
run of steps is a fresh fGn driven by the particle's own normals (normal t - 1 for step
t); a dimer moves with a run of its first (lowest-index) particle's normals, alpha and D,
and both particles take the same steps, as andi-datasets does.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..config import PHENOM_MAX_DRAWS, STREAM_DIMER_ALPHA, STREAM_DIMERS, STREAM_PARAMS
from ..rng import block, uniform_of
from .kernel import (A_HI, A_LO, ERR_EPSILON, ERR_TRUNC_ALPHA, _truncated, fgn_autocovariance,
                     fgn_next, kind_of, reflect_box, state_parameters, step_normals)

_U64 = np.uint64
_U32 = np.uint32


@njit(inline="always", cache=True)
def _coin(k0, k1, f, w):
    """Word w of the field's stream as a uniform."""
    b = block(k0, k1, _U64(f), _U32(STREAM_DIMERS), w // 4)
    return uniform_of(b[w % 4])


@njit(cache=True, nogil=True, error_model="numpy")
def _break(state, label, owner, changed, bl, top, Pu, k0, k1, f, w):
    """Dimers break (andi: each bound label, in increasing order, one coin); a broken
    pair takes labels above every label so far.  Returns (top label, next coin)."""
    N = state.shape[0]
    nb = 0
    for j in range(N):
        if state[j] == 1 and owner[j] == j:  # a dimer, by its first particle
            bl[nb] = label[j]
            nb += 1
    bl[:nb].sort()
    for jj in range(nb):
        u = _coin(k0, k1, f, w)
        w += 1
        if u < Pu:
            for q in range(N):
                if label[q] == bl[jj] and state[q] == 1:
                    state[q] = 0
                    changed[q] = True
                    top += 1
                    label[q] = top
    return top, w


@njit(cache=True, nogil=True, error_model="numpy")
def _bind(pos, state, label, changed, taken, head, nxt, cand, nc, side, r, max_label, Pb,
          k0, k1, f, w):
    """Binding (andi's loop: particles by index, candidates closer than 2r by index,
    from the 3 x 3 cells of side >= 2r around the particle).  Returns the next coin."""
    N = state.shape[0]
    taken[:] = False
    for j in range(N - 1, -1, -1):  # each cell's list in increasing index
        cj = _cell(pos[j, 0], nc, side) * nc + _cell(pos[j, 1], nc, side)
        nxt[j] = head[cj]
        head[cj] = j
    for n_ in range(N):
        if taken[n_] or state[n_] == 1 or label[n_] > max_label:
            continue
        m = 0
        cx, cy = _cell(pos[n_, 0], nc, side), _cell(pos[n_, 1], nc, side)
        for gx in range(max(cx - 1, 0), min(cx + 2, nc)):
            for gy in range(max(cy - 1, 0), min(cy + 2, nc)):
                c = head[gx * nc + gy]
                while c >= 0:
                    cand[m] = c
                    m += 1
                    c = nxt[c]
        cand[:m].sort()
        for ci in range(m):
            c = cand[ci]
            if c == n_:
                continue
            dx, dy = pos[n_, 0] - pos[c, 0], pos[n_, 1] - pos[c, 1]
            d = math.sqrt(dx * dx + dy * dy)
            if not (d < 2 * r and d > 0):
                continue
            if taken[c] or state[c] == 1 or label[c] > max_label:
                continue
            u = _coin(k0, k1, f, w)
            w += 1
            if u < Pb:
                taken[c] = taken[n_] = True
                state[n_] = state[c] = 1
                changed[n_] = changed[c] = True
                label[c] = label[n_]
                break
    for j in range(N):  # empty the cells again
        head[_cell(pos[j, 0], nc, side) * nc + _cell(pos[j, 1], nc, side)] = -1
    return w


@njit(inline="always", cache=True)
def _partner(label, j):
    """The other particle of j's dimer (labels hold at most two), or j when it is free."""
    other = j
    for q in range(label.shape[0]):
        if label[q] == label[j] and q != j:
            other = q
    return other


@njit(cache=True, nogil=True, error_model="numpy")
def _dimer_alphas(changed, state, label, alpha, g, eps, a_mean, a_sd, k0, k1, f, ja):
    """epsilon_a != 0 (andi): each new dimer draws its alpha from the dimer state's
    truncated normal, again while it is less than ``eps`` below the smaller free alpha of
    its two particles (at most andi's 100 redraws); both take it (``alpha[:, 1]``) and
    the first particle's dimer autocovariance follows.  Returns (next draw, error)."""
    N = state.shape[0]
    stream = _U32(STREAM_DIMER_ALPHA)
    for j in range(N):
        if not changed[j] or state[j] != 1:
            continue
        other = _partner(label, j)
        if other < j:  # the dimer is drawn once, by its first particle
            continue
        lo = min(alpha[j, 0], alpha[other, 0])
        a, ja, ok = _truncated(a_mean, a_sd, A_LO, A_HI, k0, k1, _U64(f), stream, ja)
        tries = 0
        while ok and lo - a < eps:
            tries += 1
            if tries > PHENOM_MAX_DRAWS:
                return ja, ERR_EPSILON
            a, ja, ok = _truncated(a_mean, a_sd, A_LO, A_HI, k0, k1, _U64(f), stream, ja)
        if not ok:
            return ja, ERR_TRUNC_ALPHA
        alpha[j, 1] = alpha[other, 1] = a
        if a != 1.0:
            fgn_autocovariance(g[j, 1], a / 2.0, g.shape[2])
    return ja, 0


@njit(cache=True, nogil=True, error_model="numpy")
def _restart(changed, state, label, owner, alpha, D, la, lD, ma, mD, k, rs, stokes):
    """The particles whose state changed: their labels' alpha and D (Stokes' rule from
    the D both had), who moves them (a dimer: its first particle), fresh runs."""
    N = state.shape[0]
    prev = lD.copy()
    for j in range(N):
        if not changed[j]:
            continue
        s = state[j]
        other = _partner(label, j)
        if s == 1 and stokes:
            lD[j] = 1.0 / (1.0 / prev[j] + 1.0 / prev[other])
        else:
            lD[j] = D[j, s]
        la[j] = alpha[j, s]
        owner[j] = min(j, other)  # a dimer moves with its first particle's run
    for j in range(N):  # the owners' runs restart with the owner's alpha and D
        if changed[j] and owner[j] == j:
            ma[j], mD[j] = la[j], lD[j]
            k[j] = 0
            rs[j] = state[j]
    for j in range(N):
        if changed[j] and owner[j] != j:
            ma[j], mD[j] = ma[owner[j]], mD[owner[j]]


@njit(cache=True, nogil=True, error_model="numpy")
def _advance(t, owner, k, t0, v, ma, y, z, g, rs, phi):
    """Every owner's run one step further: y[j, :, t - 1]."""
    for j in range(owner.shape[0]):
        if owner[j] != j:
            continue
        if k[j] == 0:
            t0[j] = t - 1
        if ma[j] == 1.0:
            for q in range(y.shape[1]):
                y[j, q, t - 1] = z[j, q, t - 1]
        else:
            v[j] = fgn_next(y[j], z[j], t0[j], k[j], g[j, rs[j]], phi[j], v[j])
        k[j] += 1


@njit(cache=True, nogil=True, error_model="numpy")
def _start(N, i0, T, dim, a_mean, a_sd, d_mean, d_sd, box, k0, k1):
    """Each particle's alphas and Ds (or an error code), normals, start, and the
    autocovariances of its two alphas."""
    nil, one = np.zeros(1), np.ones(1)
    alpha, D = np.empty((N, 2)), np.empty((N, 2))
    e = 0
    for j in range(N):
        e = state_parameters(a_mean, a_sd, d_mean, d_sd, nil, one, k0, k1, _U64(i0 + j),
                             alpha[j], D[j])
        if e != 0:
            return alpha, D, np.empty((0, dim, 0)), np.empty((0, 2)), np.empty((0, 2, 0)), j, e
    cap = 4 * ((T - 1 + 3) // 4) + 4
    z = np.empty((N, dim, cap))
    zw = np.empty(cap, np.uint32)
    pos = np.empty((N, 2))
    g = np.empty((N, 2, T))  # each particle's autocovariance, free and in a dimer
    for j in range(N):
        step_normals(z[j], zw, T, k0, k1, _U64(i0 + j))
        b = block(k0, k1, _U64(i0 + j), _U32(STREAM_PARAMS), 0)
        pos[j, 0], pos[j, 1] = box * uniform_of(b[1]), box * uniform_of(b[2])
        for q in range(2):
            if alpha[j, q] != 1.0:
                fgn_autocovariance(g[j, q], alpha[j, q] / 2.0, T)
    return alpha, D, z, pos, g, 0, 0


@njit(cache=True, nogil=True, error_model="numpy")
def _field(x, lab, row0, f, N, a_mean, a_sd, d_mean, d_sd, box, r, Pu, Pb, stokes, eps, k0,
           k1, err):
    """Field f (particles f N .. f N + N - 1) into rows row0 .. row0 + N - 1 of x
    (n, 2, T), lab (n, 4, T) and err."""
    _, dim, T = x.shape
    alpha, D, z, pos, g, j_err, e = _start(N, f * N, T, dim, a_mean, a_sd, d_mean, d_sd, box,
                                           k0, k1)
    if e != 0:
        err[row0 + j_err] = e
        return
    # per particle: label (dimer id), state, the run that moves it (its owner's), run
    # state for Durbin-Levinson, alpha and D of its motion and of its labels
    label, state, owner = np.arange(N), np.zeros(N, np.int64), np.arange(N)
    k, t0, v, rs = np.zeros(N, np.int64), np.zeros(N, np.int64), np.ones(N), np.zeros(N, np.int64)
    ma, mD = alpha[:, 0].copy(), D[:, 0].copy()  # the motion's alpha and D (owner's)
    la, lD = alpha[:, 0].copy(), D[:, 0].copy()  # the labels'
    y, phi = np.empty((N, dim, T)), np.empty((N, T))
    w = ja = 0  # the field's next coin, next dimer-alpha normal
    nc = max(1, min(int(box / (2 * r)), 4096))  # cells per side, each at least 2r wide
    side = box / nc
    head = np.full(nc * nc, -1, np.int64)
    nxt, cand, bl = np.empty(N, np.int64), np.empty(N, np.int64), np.empty(N, np.int64)
    changed, taken = np.zeros(N, np.bool_), np.zeros(N, np.bool_)
    for j in range(N):
        x[row0 + j, 0, 0], x[row0 + j, 1, 0] = pos[j, 0], pos[j, 1]
        _labels(lab, row0 + j, 0, la[j], lD[j], 0)
    for t in range(1, T):
        changed[:] = False
        max_label = label.max()  # binding excludes the labels given after this
        top, w = _break(state, label, owner, changed, bl, max_label, Pu, k0, k1, f, w)
        w = _bind(pos, state, label, changed, taken, head, nxt, cand, nc, side, r,
                  max_label, Pb, k0, k1, f, w)
        if eps != 0.0:
            ja, e = _dimer_alphas(changed, state, label, alpha, g, eps, a_mean[1], a_sd[1],
                                  k0, k1, f, ja)
            if e != 0:
                err[row0] = e
                return
        _restart(changed, state, label, owner, alpha, D, la, lD, ma, mD, k, rs, stokes)
        _advance(t, owner, k, t0, v, ma, y, z, g, rs, phi)
        for j in range(N):
            o = owner[j]
            c = math.sqrt(2.0 * mD[o])
            for q in range(2):
                pos[j, q] = reflect_box(pos[j, q] + c * y[o, q, t - 1], box)
                x[row0 + j, q, t] = pos[j, q]
            _labels(lab, row0 + j, t, la[j], lD[j], state[j])


@njit(inline="always", cache=True)
def _cell(p, nc, side):
    """The cell of coordinate p in [0, box] (the last cell holds p = box)."""
    return min(int(p / side), nc - 1)


@njit(inline="always", cache=True)
def _labels(lab, i, t, a, d, s):
    lab[i, 0, t] = a
    lab[i, 1, t] = d
    lab[i, 2, t] = kind_of(a)
    lab[i, 3, t] = s


@njit(parallel=True, cache=True, nogil=True)
def dimers_kernel(x, lab, N, a_mean, a_sd, d_mean, d_sd, box, r, Pu, Pb, stokes, eps, k0,
                  k1, first_field, err):
    """x (n, 2, T), lab (n, 4, T): n / N fields of N particles; err (n,)."""
    for f in prange(x.shape[0] // N):
        _field(x, lab, f * N, f + first_field, N, a_mean, a_sd, d_mean, d_sd, box, r, Pu,
               Pb, stokes, eps, k0, k1, err)
