"""``confinement`` (andi-datasets 2.1.13 ``models_phenom.confinement``): particles in a
reflecting box of side L with Nc circular compartments of radius r; a free particle
that steps inside a compartment is confined (its other alpha and D); a confined one that
steps out leaves with probability ``trans`` (the boundary's transmittance) and is
otherwise reflected off the circle (docs/phenom.md).

Per trajectory (counter ``start + i``): the two states' alpha and D as the state
kernel's (streams 128-131, with ``epsilon_a`` and ``gamma_d``); the compartments,
unless given, from stream 96 of the trajectory (andi-datasets draws a new field for
every trajectory: centres uniform in [r, L - r]^2, a candidate kept when it is more
than 2r from every kept one, at most 100 Nc candidates); the start ``L U`` from words
1, 2 of stream 0; the escape coin at frame t from word t - 1 of stream 1; each run of
steps under one state a fresh fGn (normal t - 1 of stream 16 + a drives step t).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..config import PHENOM_KINDS, STREAM_EVENTS, STREAM_FIELD, STREAM_PARAMS
from ..rng import block, fill_words, uniform_of
from .kernel import (fgn_autocovariance, fgn_next, kind_of, reflect_box, run_scratch,
                     state_parameters, step_normals)

_U64 = np.uint64
_U32 = np.uint32
CONFINED = PHENOM_KINDS.index("confined")
BOUNDARY = 1e-4  # andi's precision_boundary: a start this close to the circle moves in
CHUNK = 64


@njit(cache=True, nogil=True, error_model="numpy")
def place(centers, L, r, k0, k1, traj, stream):
    """andi's ``_distribute_circular_compartments`` into ``centers`` (Nc, 2); returns
    how many it placed (fewer than Nc when 100 Nc candidates were not enough)."""
    Nc = centers.shape[0]
    if Nc == 0:
        return 0
    b = block(k0, k1, traj, _U32(stream), 0)
    centers[0, 0] = uniform_of(b[0]) * (L - 2 * r) + r
    centers[0, 1] = uniform_of(b[1]) * (L - 2 * r) + r
    w = 2
    count, tries = 1, 0
    while count < Nc:
        q = w // 4
        b = block(k0, k1, traj, _U32(stream), q)
        cx = uniform_of(b[w % 4]) * (L - 2 * r) + r
        cy = uniform_of(b[w % 4 + 1]) * (L - 2 * r) + r
        w += 2
        dmin = np.inf
        for j in range(count):
            dx, dy = centers[j, 0] - cx, centers[j, 1] - cy
            dmin = min(dmin, math.sqrt(dx * dx + dy * dy))
        if dmin > 2 * r:
            centers[count, 0], centers[count, 1] = cx, cy
            count += 1
        tries += 1
        if tries > Nc * 100:
            break
    return count


@njit(inline="always", cache=True)
def _closest(px, py, centers, n):
    """(index, distance) of the nearest of the first n centres."""
    best, dbest = -1, np.inf
    for j in range(n):
        dx, dy = px - centers[j, 0], py - centers[j, 1]
        d = math.sqrt(dx * dx + dy * dy)
        if d < dbest:
            best, dbest = j, d
    return best, dbest


@njit(cache=True, nogil=True, error_model="numpy")
def reflect_in_circle(cx, cy, r, bx, by, ex, ey):
    """The end of the step ``(bx, by) -> (ex, ey)`` (from inside to outside the circle)
    reflected off it, as andi's ``_reflected_position`` loop: from the exit point the
    rest of the step continues in the specularly reflected direction, again while it
    ends outside; a start within BOUNDARY of the circle is first moved that far
    inside along its radius."""
    while True:
        dbx, dby = bx - cx, by - cy
        db = math.sqrt(dbx * dbx + dby * dby)
        if db > r - BOUNDARY:
            bx, by = cx + (r - BOUNDARY) * dbx / db, cy + (r - BOUNDARY) * dby / db
        # exit point: beg + s (end - beg), |. - c| = r, the root in [0, 1]
        ux, uy = ex - bx, ey - by
        a = ux * ux + uy * uy
        hb = (bx - cx) * ux + (by - cy) * uy
        cc = (bx - cx) ** 2 + (by - cy) ** 2 - r * r
        s = (-hb + math.sqrt(max(hb * hb - a * cc, 0.0))) / a
        ix, iy = bx + s * ux, by + s * uy
        rest = math.sqrt((ex - ix) ** 2 + (ey - iy) ** 2)
        nx, ny = (ix - cx) / r, (iy - cy) / r  # outward normal
        ul = math.sqrt(a)
        dx, dy = ux / ul, uy / ul
        dn = dx * nx + dy * ny
        rx, ry = dx - 2 * dn * nx, dy - 2 * dn * ny
        ex, ey = ix + rest * rx, iy + rest * ry
        if math.sqrt((ex - cx) ** 2 + (ey - cy) ** 2) <= r:
            return ex, ey
        bx, by = ix, iy


@njit(cache=True, nogil=True, error_model="numpy")
def _one(x, lab, i, centers, own, nc, a_mean, a_sd, d_mean, d_sd, eps, gam, box, r, trans,
         k0, k1, traj, alpha, D, z, zw, words, y, g, phi):
    _, dim, T = x.shape
    e = state_parameters(a_mean, a_sd, d_mean, d_sd, eps, gam, k0, k1, traj, alpha, D)
    if e != 0:
        return e, 0
    n_c = nc
    if own:  # a field of compartments for this trajectory, as andi draws one per track
        n_c = place(centers, box, r, k0, k1, traj, STREAM_FIELD)
    white0, white1 = alpha[0] == 1.0, alpha[1] == 1.0
    if not white0:
        fgn_autocovariance(g[0], alpha[0] / 2.0, T)
    if not white1:
        fgn_autocovariance(g[1], alpha[1] / 2.0, T)
    w0, w1, w2, w3 = block(k0, k1, traj, _U32(STREAM_PARAMS), 0)
    px, py = box * uniform_of(w1), box * uniform_of(w2)
    step_normals(z, zw, T, k0, k1, traj)
    fill_words(words, (T - 1 + 3) // 4, k0, k1, traj, _U32(STREAM_EVENTS), 0)
    comp, dist = _closest(px, py, centers, n_c)
    state = 1 if dist < r else 0
    kind0 = kind_of(alpha[0])
    x[i, 0, 0], x[i, 1, 0] = px, py
    lab[i, 0, 0], lab[i, 1, 0] = alpha[state], D[state]
    lab[i, 2, 0], lab[i, 3, 0] = (CONFINED if state else kind0), state
    k, t0, v = 0, 0, 1.0  # the current run: its steps so far, its first step, DL's variance
    for t in range(1, T):
        s = state
        if k == 0:
            t0 = t - 1
        if (white1 if s else white0):
            sx, sy = z[0, t - 1], z[1, t - 1]
        else:
            v = fgn_next(y, z, t0, k, g[s], phi, v)
            sx, sy = y[0, t - 1], y[1, t - 1]
        k += 1
        c = math.sqrt(2.0 * D[s])
        bx, by = px, py
        px, py = px + c * sx, py + c * sy
        if s == 1:
            ccx, ccy = centers[comp, 0], centers[comp, 1]
            if math.sqrt((ccx - px) ** 2 + (ccy - py) ** 2) > r:
                if uniform_of(words[t - 1]) < trans:  # escapes, maybe into another one
                    comp2, d2 = _closest(px, py, centers, n_c)
                    if d2 < r:
                        comp = comp2
                    else:
                        state = 0
                else:
                    px, py = reflect_in_circle(ccx, ccy, r, bx, by, px, py)
        else:
            comp2, d2 = _closest(px, py, centers, n_c)
            if d2 < r:
                comp, state = comp2, 1
        if state != s:
            k = 0
        px, py = reflect_box(px, box), reflect_box(py, box)
        x[i, 0, t], x[i, 1, t] = px, py
        lab[i, 0, t], lab[i, 1, t] = alpha[state], D[state]
        lab[i, 2, t], lab[i, 3, t] = (CONFINED if state else kind0), state
    return 0, n_c


@njit(parallel=True, cache=True, nogil=True)
def confinement_kernel(x, lab, centers, own, a_mean, a_sd, d_mean, d_sd, eps, gam, box, r,
                       trans, k0, k1, start, err, placed):
    """x (n, 2, T), lab (n, 4, T); err (n,) error codes; placed (n,) compartments in
    each trajectory's field.  ``own``: draw a field per trajectory into a copy of
    ``centers`` (whose length is Nc) instead of using ``centers``."""
    n, dim, T = x.shape
    for ch in prange((n + CHUNK - 1) // CHUNK):
        alpha = np.empty(2)
        D = np.empty(2)
        z, zw, y, phi = run_scratch(dim, T)
        words = np.empty(zw.shape[0], np.uint32)
        g = np.empty((2, T))
        field = centers.copy()
        for i in range(ch * CHUNK, min(n, (ch + 1) * CHUNK)):
            err[i], placed[i] = _one(x, lab, i, field, own, centers.shape[0], a_mean, a_sd,
                                     d_mean, d_sd, eps, gam, box, r, trans, k0, k1,
                                     _U64(start) + _U64(i), alpha, D, z, zw, words, y, g,
                                     phi)
