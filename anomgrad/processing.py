"""AnDi processing: normalization, localization noise, random diffusion coefficient,
cutting to per-trajectory lengths.  Numba kernels, float64 arithmetic, output in the
input's dtype (float32 or float64).

Arrays are ``(n, dim, T)``.  A trajectory cut to length ``L`` is stored left-padded:
its ``L`` positions fill ``x[i, :, T-L:]`` and ``x[i, :, :T-L]`` is zero.  Every
function takes ``lengths`` (one per trajectory) for such arrays and leaves the padding
zero; without it the whole row is the trajectory.

Random draws follow the contract of docs/rng.md with their own streams, so they do not
depend on chunking: trajectory ``start + i`` of ``seed`` always gets the same noise.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from . import _validate as V
from .config import NORMALIZE_TINY_SD, STREAM_CUT, STREAM_DIFFUSION, STREAM_NOISE
from .rng import block, fill_normals, normal_pair, uniform_of

_U32 = np.uint32
_U64 = np.uint64


def _key(seed: int):
    return _U32(seed & 0xFFFFFFFF), _U32(seed >> 32)


def _offsets(x: np.ndarray, lengths) -> np.ndarray:
    """First valid index per trajectory (T - L), validated."""
    n, T = x.shape[0], x.shape[-1]
    if lengths is None:
        return np.zeros(n, np.int64)
    return T - V.check_lengths(lengths, n, T, "T=")


def _as3d(x: np.ndarray) -> np.ndarray:
    x = V.check_array("x", x, (2, 3))
    return x[:, None, :] if x.ndim == 2 else x


# ---- normalize ------------------------------------------------------------------


def _check_finite(x) -> None:
    """Refuse NaN or infinite positions (they would give NaN everywhere downstream)."""
    if V.is_tensor(x):
        bad = (~x.isfinite()).reshape(len(x), -1).any(1).nonzero().flatten().tolist()
    else:
        bad = np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(1)).tolist()
    if bad:
        raise ValueError(f"x holds NaN or infinite positions in {len(bad)} row(s), "
                         f"first row {bad[0]}")


def _check_overflow(out, name: str):
    """Refuse a result that overflowed (a finite but huge ``sigma`` or ``factor``)."""
    ok = bool(out.isfinite().all()) if V.is_tensor(out) else bool(np.isfinite(out).all())
    if not ok:
        raise ValueError(f"{name} is too large: the result overflows {out.dtype}")
    return out


@njit(parallel=True, cache=True)
def _normalize(x, off, out, sds):
    n, dim, T = x.shape
    for i in prange(n):
        o = off[i]
        m = T - 1 - o  # increments in the valid part
        for a in range(dim):
            src = x[i, a]
            dst = out[i, a]
            for t in range(o):
                dst[t] = 0.0
            mean = 0.0
            for t in range(o + 1, T):
                mean += np.float64(src[t]) - np.float64(src[t - 1])
            mean = mean / m if m > 0 else 0.0
            var = 0.0
            for t in range(o + 1, T):
                d = np.float64(src[t]) - np.float64(src[t - 1]) - mean
                var += d * d
            sd = math.sqrt(var / m) if m > 0 else 0.0
            sds[i, a] = sd
            if sd == 0.0:
                sd = 1.0
            acc = 0.0
            dst[o] = 0.0
            for t in range(o + 1, T):
                acc += (np.float64(src[t]) - np.float64(src[t - 1])) / sd
                dst[t] = acc


def normalize(x: np.ndarray, lengths=None) -> np.ndarray:
    """AnDi normalization per trajectory and axis.

    The increments are divided by their standard deviation (population, ddof = 0; a
    zero standard deviation counts as 1) and summed again from 0, so every axis starts
    at 0 with unit-std increments.  ``x`` is ``(n, dim, T)`` or ``(n, T)``; the result
    has its shape and dtype.  A torch CUDA tensor is processed on its GPU.
    """
    if V.is_tensor(x):
        from . import _cuda  # lazy: torch

        _check_finite(x)
        out, off = _cuda.process("normalize", x, lengths)
        if x.element_size() == 8:  # float32 steps cannot be that small
            _check_tiny_sd(_increment_sd(x.reshape(len(x), -1, x.shape[-1]), off))
        return out
    x3 = _as3d(x)
    _check_finite(x3)
    off = _offsets(x3, lengths)
    out = np.empty_like(x3)
    sds = np.empty(x3.shape[:2], np.float64)
    _normalize(x3, off, out, sds)
    _check_tiny_sd(sds)
    return out.reshape(x.shape)


def _check_tiny_sd(sds) -> None:
    """Refuse rows whose increments have a standard deviation (``sds``, ``(n, dim)``) so
    small that their squares underflow: normalize cannot scale them."""
    tiny = (sds > 0) & (sds < NORMALIZE_TINY_SD)
    if bool(tiny.any()):
        i, a = (int(v) for v in (tiny.nonzero()[0] if V.is_tensor(tiny) else np.argwhere(tiny)[0]))
        raise ValueError(f"x: row {i}, axis {a} moves by about {float(sds[i, a]):.1e}, too "
                         f"little for float64 statistics (below {NORMALIZE_TINY_SD:g}); rescale "
                         f"the positions (normalize does not depend on their unit)")


def _increment_sd(x3, off):
    """The population standard deviation of the increments of each row and axis of a
    tensor over its valid part (from ``off``, the first valid index per row), as the CPU
    kernel computes it: the GPU path's input to :func:`_check_tiny_sd`."""
    import torch  # lazy: only reached with a tensor

    d = x3.double().diff(dim=-1)
    valid = (torch.arange(d.shape[-1], device=d.device) >= off.to(d.device)[:, None])[:, None]
    m = valid.sum(-1, keepdim=True).clamp(min=1)
    mean = torch.where(valid, d, 0).sum(-1, keepdim=True) / m
    return ((torch.where(valid, d - mean, 0) ** 2).sum(-1) / m[..., 0]).sqrt()


# ---- localization noise -----------------------------------------------------------


@njit(parallel=True, cache=True)
def _noise(x, off, sigma, k0, k1, start, out):
    n, dim, T = x.shape
    cap = 4 * ((T + 3) // 4)
    for i in prange(n):
        traj = _U64(start) + _U64(i)
        o = off[i]
        words = np.empty(cap, np.uint32)
        z = np.empty(cap, np.float64)
        s = sigma[i]
        for a in range(dim):
            fill_normals(z, T - o, words, k0, k1, traj, STREAM_NOISE + a)
            src = x[i, a]
            dst = out[i, a]
            for t in range(o):
                dst[t] = src[t]
            for t in range(o, T):
                dst[t] = np.float64(src[t]) + s * z[t - o]


def add_noise(x: np.ndarray, sigma, seed: int = 0, *, start: int = 0, lengths=None) -> np.ndarray:
    """Localization noise: ``x + sigma * N(0, 1)`` per position and axis.

    ``sigma`` is a number or one value per trajectory (>= 0).  Applied after
    normalization, the signal-to-noise ratio is ``1 / sigma``.  Position ``p`` of the
    valid part of trajectory ``start + i`` on axis ``a`` gets normal ``p`` of stream
    ``32 + a`` under ``seed``, so padding and chunking do not change the noise.
    """
    seed = V.check_seed(seed)
    start = V.check_int("start", start, 0, 2**64 - 1)
    if V.is_tensor(x):
        from . import _cuda  # lazy: torch

        _check_finite(x)
        return _check_overflow(_cuda.process("noise", x, lengths, sigma=sigma, seed=seed,
                                             start=start)[0], "sigma")
    x3 = _as3d(x)
    _check_finite(x3)
    off = _offsets(x3, lengths)
    sig = V.check_per_traj("sigma", sigma, x3.shape[0])
    out = np.empty_like(x3)
    k0, k1 = _key(seed)
    _noise(x3, off, sig, k0, k1, _U64(start), out)
    return _check_overflow(out, "sigma").reshape(x.shape)


# ---- random diffusion coefficient ----------------------------------------------------


@njit(parallel=True, cache=True)
def _factors(n, k0, k1, start):
    g = np.empty(n, np.float64)
    for i in prange(n):
        w0, w1, _, _ = block(k0, k1, _U64(start) + _U64(i), STREAM_DIFFUSION, 0)
        g[i] = normal_pair(w0, w1)[0]
    return g


def diffusion_factors(n: int, seed: int = 0, *, start: int = 0) -> np.ndarray:
    """The N(0, 1) factors ``scale_diffusion`` draws for trajectories start..start+n-1
    (normal 0 of stream 48)."""
    n = V.check_int("n", n, 1)
    seed = V.check_seed(seed)
    start = V.check_int("start", start, 0, 2**64 - 1)
    k0, k1 = _key(seed)
    return _factors(n, k0, k1, _U64(start))


@njit(parallel=True, cache=True)
def _scale(x, off, g, out):
    n, dim, T = x.shape
    for i in prange(n):
        o = off[i]
        for a in range(dim):
            src = x[i, a]
            dst = out[i, a]
            x0 = np.float64(src[o])
            for t in range(o):
                dst[t] = src[t]
            for t in range(o, T):
                dst[t] = g[i] * (np.float64(src[t]) - x0)


def scale_diffusion(x: np.ndarray, seed: int = 0, *, start: int = 0, factor=None,
                    lengths=None) -> np.ndarray:
    """AnDi 2020's random diffusion coefficient: every displacement of trajectory ``i``
    times one factor ``g_i`` (all axes), i.e. ``x -> g_i (x - x_0)``.

    ``factor`` gives the factors (a number or one per trajectory); by default they are
    ``diffusion_factors(n, seed, start=start)``, i.e. N(0, 1) as in andi-datasets.
    """
    if V.is_tensor(x):
        from . import _cuda  # lazy: torch

        if factor is None:
            factor = diffusion_factors(x.shape[0], seed, start=start)
        _check_finite(x)
        return _check_overflow(_cuda.process("scale", x, lengths, factor=factor)[0], "factor")
    x3 = _as3d(x)
    _check_finite(x3)
    off = _offsets(x3, lengths)
    n = x3.shape[0]
    if factor is None:
        g = diffusion_factors(n, seed, start=start)
    else:
        g = V.check_per_traj("factor", factor, n, low=-np.inf)
    out = np.empty_like(x3)
    _scale(x3, off, g, out)
    return _check_overflow(out, "factor").reshape(x.shape)


# ---- cutting -------------------------------------------------------------------------


@njit(parallel=True, cache=True)
def _random_lengths(n, low, span, k0, k1, start):
    L = np.empty(n, np.int64)
    for i in prange(n):
        w0, _, _, _ = block(k0, k1, _U64(start) + _U64(i), STREAM_CUT, 0)
        L[i] = low + np.int64(math.floor(uniform_of(w0) * span))
    return L


def random_lengths(n: int, low: int, high: int, seed: int = 0, *, start: int = 0) -> np.ndarray:
    """Lengths uniform on the integers ``low .. high`` (both included), one per
    trajectory: ``low + floor(U * (high - low + 1))`` with U word 0 of stream 49."""
    n = V.check_int("n", n, 1)
    low = V.check_int("low", low, 1)
    high = V.check_int("high", high, low)
    seed = V.check_seed(seed)
    start = V.check_int("start", start, 0, 2**64 - 1)
    k0, k1 = _key(seed)
    return _random_lengths(n, low, float(high - low + 1), k0, k1, _U64(start))


@njit(parallel=True, cache=True)
def _cut(x, L, out):
    n, dim, T = x.shape
    for i in prange(n):
        o = T - L[i]
        for a in range(dim):
            for t in range(o):
                out[i, a, t] = 0.0
            for t in range(L[i]):
                out[i, a, o + t] = x[i, a, t]


def cut(x: np.ndarray, lengths=None, *, low: int = 10, high: int | None = None,
        seed: int = 0, start: int = 0):
    """Keep the first ``L_i`` positions of every trajectory, left-padded with zeros.

    ``lengths`` gives ``L_i`` (1..T); by default they are drawn uniformly from
    ``low .. high`` (``high`` defaults to T) with ``random_lengths``.  Returns
    ``(lengths, padded)`` with ``padded`` of the shape and dtype of ``x`` (torch CUDA
    tensors in, torch CUDA tensors out).
    """
    gpu = V.is_tensor(x)
    if gpu:
        from . import _cuda  # lazy: torch

        x3 = _cuda.check_tensor("x", x)
    else:
        x3 = _as3d(x)
    n, _, T = x3.shape
    if lengths is None:
        high = T if high is None else high
        if V.check_int("high", high, 1) > T:
            raise ValueError(f"high must be <= T={T}, got {high}")
        L = random_lengths(n, low, high, seed, start=start)
    elif not gpu:
        L = T - _offsets(x3, lengths)
    if gpu:
        out, off = _cuda.process("cut", x, L if lengths is None else lengths)
        return T - off, out
    out = np.empty_like(x3)
    _cut(x3, L, out)
    return L, out.reshape(x.shape)
