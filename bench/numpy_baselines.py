"""Plain vectorised numpy versions of the six models: what a careful user would write
without anomgrad.  Same conventions as anomgrad (docs/method.md §1), float64, then cast.
They are speed baselines, not references (tests/reference.py holds those)."""

from __future__ import annotations

import numpy as np


def _finish(inc, dtype):
    """(n, dim, T-1) increments -> (n, dim, T) positions from 0."""
    n, dim, m = inc.shape
    out = np.zeros((n, dim, m + 1), dtype)
    np.cumsum(inc, axis=-1, out=out[..., 1:])
    return out


def bm(n, T, alpha, dim, rng, dtype=np.float32):
    return _finish(rng.standard_normal((n, dim, T - 1)), dtype)


def sbm(n, T, alpha, dim, rng, dtype=np.float32):
    a = np.broadcast_to(np.asarray(alpha, float), (n,))[:, None, None]
    t = np.arange(1, T, dtype=float)
    return _finish(np.sqrt((t + 1) ** a - t**a) * rng.standard_normal((n, dim, T - 1)), dtype)


def fbm(n, T, alpha, dim, rng, dtype=np.float32):
    """Davies-Harte with numpy.fft, one embedding per distinct alpha."""
    a = np.broadcast_to(np.asarray(alpha, float), (n,))
    m = T - 1
    M = 2 * m
    k = np.arange(m + 1, dtype=float)
    out = np.empty((n, dim, T), dtype)
    for val in np.unique(a):
        rows = np.flatnonzero(a == val)
        h2 = val
        g = 0.5 * (np.abs(k + 1) ** h2 - 2 * k**h2 + np.abs(k - 1) ** h2)
        lam = np.fft.rfft(np.concatenate([g, g[-2:0:-1]])).real
        lam = np.sqrt(np.maximum(np.concatenate([lam, lam[-2:0:-1]]), 0) / M)
        for d in range(0, dim, 2):
            z = rng.standard_normal((rows.size, M)) + 1j * rng.standard_normal((rows.size, M))
            X = np.fft.fft(lam * z, axis=-1)[:, :m]
            out[rows, d] = _finish(X.real[:, None, :], dtype)[:, 0]
            if d + 1 < dim:
                out[rows, d + 1] = _finish(X.imag[:, None, :], dtype)[:, 0]
    return out


def _events_to_increments(idx, valid, jumps, T):
    """Scatter jumps (n, E, dim) at grid index idx (n, E) where valid -> (n, dim, T-1)."""
    n, E, dim = jumps.shape
    inc = np.zeros((n, dim, T), float)
    rows = np.broadcast_to(np.arange(n)[:, None], idx.shape)[valid]
    for d in range(dim):
        np.add.at(inc[:, d], (rows, idx[valid]), jumps[..., d][valid])
    return inc[..., 1:]


def ctrw(n, T, alpha, dim, rng, dtype=np.float32):
    a = np.broadcast_to(np.asarray(alpha, float), (n,))[:, None]
    t = np.cumsum((1 - rng.random((n, T))) ** (-1 / a), axis=1)
    valid = t < T
    idx = np.where(valid, np.floor(t), 0).astype(np.int64)
    jumps = rng.standard_normal((n, T, dim))
    if dim == 3:
        d = rng.standard_normal((n, T, 3))
        jumps = jumps[..., :1] * d / np.linalg.norm(d, axis=-1, keepdims=True)
    return _finish(_events_to_increments(idx, valid, jumps, T), dtype)


def _directions(n, F, dim, rng):
    if dim == 1:
        return rng.choice([-1.0, 1.0], size=(n, F, 1))
    if dim == 2:
        th = rng.uniform(0, 2 * np.pi, (n, F))
        return np.stack([np.cos(th), np.sin(th)], axis=-1)
    d = rng.standard_normal((n, F, 3))
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def _expand(durations, values, T):
    """Per-step values from segments: row i repeats values[i, f] durations[i, f] times,
    truncated to T steps.  durations (n, F) >= 1 with row sums >= T."""
    n, F = durations.shape
    ends = np.cumsum(durations, axis=1)
    K = int(ends[:, -1].max()) + 1  # offset rows apart so one searchsorted serves all
    off = np.arange(n)[:, None] * K
    seg = np.searchsorted((ends + off).ravel(), (np.arange(T)[None, :] + off).ravel(),
                          side="right").reshape(n, T) - np.arange(n)[:, None] * F
    return np.take_along_axis(values, seg[..., None], axis=1)


def lw(n, T, alpha, dim, rng, dtype=np.float32):
    a = np.broadcast_to(np.asarray(alpha, float), (n,))
    sigma = np.where(a == 2, rng.random(n), 3 - a)[:, None]
    tau = (1 - rng.random((n, T))) ** (-1 / sigma)
    tau[tau > T] = T + 1
    v = 10 * rng.random(n)[:, None, None]
    steps = _expand(np.floor(tau).astype(np.int64), v * _directions(n, T, dim, rng), T + 1)
    return _finish(np.moveaxis(steps[:, 1:T], 2, 1), dtype)


def attm(n, T, alpha, dim, rng, dtype=np.float32):
    a = np.broadcast_to(np.asarray(alpha, float), (n,))
    hi = np.where(a < 1, np.minimum(3.3, a / np.maximum(1 - a, 1e-300)), 3.3)
    sigma = rng.uniform(0.03, hi)[:, None]
    V = 1 - rng.uniform(0.1, 0.99, (n, T))
    D = V ** (1 / sigma)
    t = np.minimum(V ** (-1 / a[:, None]), T)
    scale = _expand(np.floor(t).astype(np.int64), np.sqrt(2 * D)[..., None], T - 1)[..., 0]
    z = rng.standard_normal((n, dim, T - 1))
    if dim == 3:
        L = rng.standard_normal((n, 1, T - 1))
        z = L * z / np.linalg.norm(z, axis=1, keepdims=True)
    return _finish(scale[:, None, :] * z, dtype)


BASELINES = {"fbm": fbm, "ctrw": ctrw, "lw": lw, "attm": attm, "sbm": sbm, "bm": bm}


def multi_state(n, T, rng, M=((0.9, 0.1), (0.1, 0.9)), D=(1.0, 0.1), dtype=np.float32):
    """andi-datasets' multi_state at its defaults (alpha 1 in both states: white steps),
    vectorised over trajectories: the chain frame by frame, steps of variance 2 D of the
    previous frame's state, labels (alpha, D, kind, state) per frame."""
    cdf = np.cumsum(np.asarray(M, float), axis=1)
    D = np.asarray(D, float)
    state = np.empty((n, T), np.int64)
    state[:, 0] = rng.integers(len(D), size=n)
    u = rng.random((n, T - 1))
    for t in range(1, T):
        state[:, t] = (u[:, t - 1][:, None] >= cdf[state[:, t - 1]][:, :-1]).sum(axis=1)
    steps = rng.standard_normal((n, 2, T - 1)) * np.sqrt(2 * D[state[:, :-1]])[:, None, :]
    labels = np.stack([np.ones((n, T)), D[state], np.full((n, T), 2.0), state], axis=1)
    return _finish(steps, dtype), labels.astype(dtype)
