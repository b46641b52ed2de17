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
from ._common import BATCH, power_law_batch, seed_words, unit3

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


@njit(inline="always", cache=True)
def held_positions(held, idx, jump, J):
    """held[g] = the position after the first g event steps (held[0] = 0): the running
    sum, in float64, of the per-step increments (the events of one step summed first,
    from 0.0) over the steps that have an event.  Adding a step's 0.0 changes no bit (the
    sum is never -0.0), so these are the values of the step-by-step sum, at J adds
    instead of T."""
    held[0] = 0.0
    acc = 0.0
    g = 0
    j = 0
    while j < J:
        k = idx[j]
        s = 0.0
        while j < J and idx[j] == k:
            s += jump[j]
            j += 1
        acc += s
        g += 1
        held[g] = acc


@njit(inline="always", cache=True)
def store_held(rows, held, idx, J, T):
    """rows[a, t] = held[a, number of event steps <= t], all axes in one pass over t (a
    branch-free gather: runs between events are too short for vector stores to pay)."""
    mark = np.zeros(T, np.uint8)
    for j in range(J):
        mark[idx[j]] = 1
    c = 0
    if rows.shape[0] == 1:
        r0, h0 = rows[0], held[0]
        for t in range(T):
            c += mark[t]
            r0[t] = h0[c]
    elif rows.shape[0] == 2:
        r0, r1, h0, h1 = rows[0], rows[1], held[0], held[1]
        for t in range(T):
            c += mark[t]
            r0[t] = h0[c]
            r1[t] = h1[c]
    else:
        r0, r1, r2, h0, h1, h2 = rows[0], rows[1], rows[2], held[0], held[1], held[2]
        for t in range(T):
            c += mark[t]
            r0[t] = h0[c]
            r1[t] = h1[c]
            r2[t] = h2[c]


@njit(parallel=True, cache=True, nogil=True)
def _kernel(out, alpha, k0, k1, start):
    n, dim, T = out.shape
    cap = 4 * ((T + 3) // 4)
    for i in prange(n):
        traj = _U64(start) + _U64(i)
        idx = np.empty(T, np.int64)
        J = event_grid(idx, k0, k1, traj, 1.0 / alpha[i], T)
        held = np.empty((dim, J + 1), out.dtype)
        words = np.empty(cap, np.uint32)
        if dim < 3:
            z = np.empty(cap, np.float64)
            for a in range(dim):
                fill_normals(z, J, words, k0, k1, traj, STREAM_AXIS + a)
                held_positions(held[a], idx, z, J)
        else:
            g = np.empty((4, cap), np.float64)
            for a in range(4):
                stream = STREAM_AXIS + a if a < 3 else STREAM_LENGTH
                fill_normals(g[a], J, words, k0, k1, traj, stream)
            for j in range(J):
                ux, uy, uz = unit3(g[0, j], g[1, j], g[2, j])
                L = g[3, j]
                g[0, j] = L * ux
                g[1, j] = L * uy
                g[2, j] = L * uz
            for a in range(3):
                held_positions(held[a], idx, g[a], J)
        store_held(out[i], held, idx, J, T)


def generate_cpu(out: np.ndarray, alpha: np.ndarray, seed: int, start: int) -> None:
    k0, k1 = seed_words(seed)
    _kernel(out, alpha, k0, k1, _U64(start))
