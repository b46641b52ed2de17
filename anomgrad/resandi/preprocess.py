"""Preprocessing of the ResAnDi input (docs/method.md §3), in numpy (Numba) and torch.

1. keep the first T positions and AnDi-normalize each axis over them
   (``ag.normalize``: increments / their population std, cumulative sum from 0);
2. left-pad with zeros to 1000 steps: this is ``z``, stored in files too (noise for
   robustness tests is added to ``z``, after normalization and before min-max);
3. min-max scale each trajectory and axis to [0, 1] over all 1000 padded steps,
   in float64 from the float32 ``z``, rounded once to float32.  A row whose 1000 values
   are all equal has no range and is set to 0.

The paper's input is ``x`` (2 channels).  A network trained with ``input="increments"``
(issue 20: it survives localization noise far better) takes 4: ``x``, then per axis the
steps of ``z`` (noise included) inside the track divided by their root mean square over
the track's T - 1 steps, 0 on the padding and at the first position
(:func:`increments`, :func:`network_input`; the root mean square, not the std: a Levy
flight's equal steps have a std of rounding size).

Because ``z`` starts at 0 and the padding is 0, the padded steps of ``x`` equal the
scaled first position ``x[..., 1000 - T]`` (they are 0 only when the start is the
minimum).  :func:`preprocess` (Numba) and :func:`preprocess_torch` (any torch device)
compute the same thing; min-max alone is bit-identical between the two, the
normalization agrees to float32 rounding (summation order).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import _validate as V
from ..processing import add_noise, cut, normalize
from .task import INPUTS, LENGTH, check_input_kind

PREPROCESSING = ("AnDi normalize each axis over the first T positions; left-pad with zeros to "
                 "1000 (= z); min-max scale each row and axis over the 1000 steps "
                 "(float64, rounded to float32; zero range -> 0)")



def _check_lengths(lengths, n: int, high: int) -> np.ndarray:
    return np.full(n, high, np.int64) if lengths is None else V.check_lengths(lengths, n, high)



def normalize_padded(x: np.ndarray, lengths=None, length: int = LENGTH) -> np.ndarray:
    """Steps 1-2: ``z`` (n, dim, length) float32, the first ``lengths[i]`` positions of
    ``x[i]`` AnDi-normalized and left-padded with zeros.

    ``x`` is (n, dim, T_in) float32/float64 with the trajectory in its first positions
    (T_in may be shorter or longer than ``length``); ``lengths`` defaults to
    ``min(T_in, length)``.
    """
    x = V.check_array("x", x, (3,))
    n, dim, T_in = x.shape
    L = _check_lengths(lengths, n, min(T_in, length))
    src = np.zeros((n, dim, length), np.float32)
    k = min(T_in, length)
    src[..., :k] = x[..., :k]
    _, c = cut(src, L)
    return normalize(c, lengths=L)



@njit(parallel=True, cache=True)
def _minmax(z, out):
    n, dim, T = z.shape
    for i in prange(n):
        for a in range(dim):
            mn = np.inf
            mx = -np.inf
            for t in range(T):
                v = np.float64(z[i, a, t])
                if v < mn:
                    mn = v
                if v > mx:
                    mx = v
            r = mx - mn
            if r > 0.0:
                for t in range(T):
                    out[i, a, t] = (np.float64(z[i, a, t]) - mn) / r
            else:
                for t in range(T):
                    out[i, a, t] = 0.0



def minmax(z: np.ndarray) -> np.ndarray:
    """Step 3: min-max scale every row and axis of ``z`` (n, dim, T) to [0, 1] over all T
    steps (float64 arithmetic, float32 result; a row with zero range becomes 0)."""
    z = V.check_array("z", z, (3,))
    if not np.isfinite(z).all():
        raise ValueError("z must be finite (NaN or inf found)")
    out = np.empty(z.shape, np.float32)
    _minmax(z, out)
    return out



@njit(parallel=True, cache=True)
def _increments(z, lengths, out):
    n, dim, T = z.shape
    for i in prange(n):
        first = T - lengths[i] + 1  # the first step inside the track
        m = np.float64(max(lengths[i] - 1, 1))
        for a in range(dim):
            s = 0.0
            for t in range(first, T):
                d = np.float64(z[i, a, t]) - np.float64(z[i, a, t - 1])
                s += d * d
            r = np.sqrt(s / m)
            if r == 0.0:
                r = 1.0
            for t in range(first):
                out[i, a, t] = 0.0
            for t in range(first, T):
                out[i, a, t] = (np.float64(z[i, a, t]) - np.float64(z[i, a, t - 1])) / r


def increments(z: np.ndarray, lengths=None) -> np.ndarray:
    """The steps of ``z`` (n, dim, T), left-padded with ``lengths``, divided per row and
    axis by their root mean square over the track's ``lengths - 1`` steps (float64
    arithmetic, float32 result); 0 on the padding, at the first position, and for a track
    that never moves."""
    z = V.check_array("z", z, (3,))
    if not np.isfinite(z).all():
        raise ValueError("z must be finite (NaN or inf found)")
    L = _check_lengths(lengths, z.shape[0], z.shape[-1])
    out = np.empty(z.shape, np.float32)
    _increments(z, L, out)
    return out


def network_input(z: np.ndarray, lengths=None, input: str = "positions") -> np.ndarray:
    """The network input from ``z``: ``minmax(z)`` (``input="positions"``, the paper's,
    (n, dim, T)) or that and :func:`increments` stacked on the channels
    (``"increments"``, (n, 2 dim, T))."""
    check_input_kind(input)
    x = minmax(z)  # z checked once: a finite float array (n, dim, T)
    if input == "positions":
        return x
    z = np.asarray(z)
    inc = np.empty(x.shape, np.float32)
    _increments(z, _check_lengths(lengths, len(z), z.shape[-1]), inc)
    return np.concatenate([x, inc], axis=1)


def preprocess(x: np.ndarray, lengths=None, length: int = LENGTH,
               input: str = "positions") -> np.ndarray:
    """The network input of docs/method.md §3 from raw trajectories:
    ``network_input(normalize_padded(x, lengths), lengths, input)``, (n, dim, 1000)
    float32 for the paper's input (2 dim channels for ``input="increments"``)."""
    check_input_kind(input)
    z = normalize_padded(x, lengths, length)  # checks x and lengths
    if input == "positions":
        return minmax(z)
    return network_input(z, _check_lengths(lengths, len(z), min(np.shape(x)[-1], length)),
                         input)



def _torch_lengths(lengths, x):
    import torch  # lazy: torch (the numpy path does without)

    n, T_in = x.shape[0], x.shape[-1]
    if lengths is None:
        return torch.full((n,), T_in, dtype=torch.int64, device=x.device)
    L = torch.as_tensor(lengths, device=x.device)
    if L.dim() != 1 or L.shape[0] != n:
        raise ValueError(f"lengths must be a 1-D tensor of length n={n}, got shape "
                         f"{tuple(L.shape)}")
    if L.is_floating_point() or L.dtype == torch.bool:
        raise TypeError(f"lengths must be integers, got {L.dtype}")
    return L.to(torch.int64)



def normalize_torch(x, lengths=None, length: int = LENGTH, check: bool = True):
    """Torch twin of :func:`normalize_padded`: (n, dim, T_in) -> (n, dim, length) float32
    on ``x``'s device, arithmetic in float64.  ``check`` validates ``lengths`` (one
    device-to-host sync)."""
    import torch  # lazy: torch (the numpy path does without)

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch tensor, got {type(x).__name__}")
    if x.dim() != 3 or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor (n, dim, T), got "
                         f"{tuple(x.shape)} {x.dtype}")
    n, dim, T_in = x.shape
    k = min(T_in, length)
    L = _torch_lengths(lengths, x)
    if lengths is None:
        L = L.clamp(max=k)
    if check and n and (int(L.min()) < 1 or int(L.max()) > k):
        raise ValueError(f"lengths must be in [1, {k}], got values in "
                         f"[{int(L.min())}, {int(L.max())}]")
    x64 = x[..., :k].to(torch.float64)
    d = x64[..., 1:] - x64[..., :-1]  # (n, dim, k-1)
    t = torch.arange(k - 1, device=x.device)
    valid = (t[None, :] < (L - 1)[:, None])[:, None, :]  # (n, 1, k-1)
    m = (L - 1).clamp(min=1).to(torch.float64)[:, None, None]
    dv = torch.where(valid, d, torch.zeros((), dtype=d.dtype, device=d.device))
    mean = dv.sum(-1, keepdim=True) / m
    dev = torch.where(valid, d - mean, torch.zeros((), dtype=d.dtype, device=d.device))
    sd = torch.sqrt((dev * dev).sum(-1, keepdim=True) / m)
    sd = torch.where(sd == 0, torch.ones_like(sd), sd)
    c = torch.cumsum(dv / sd, dim=-1)
    zo = torch.cat([torch.zeros_like(c[..., :1]), c], dim=-1).to(torch.float32)  # (n, dim, k)
    # left-pad: out[t] = zo[t - (length - L)] where that index is >= 0
    src = torch.arange(length, device=x.device)[None, :] - (length - L)[:, None]  # (n, length)
    keep = (src >= 0)[:, None, :]
    idx = src.clamp(min=0, max=k - 1)[:, None, :].expand(n, dim, length)
    out = torch.gather(zo, -1, idx)
    return torch.where(keep, out, torch.zeros((), dtype=out.dtype, device=out.device))



def minmax_torch(z):
    """Torch twin of :func:`minmax` (bit-identical on CPU): float32 result on ``z``'s
    device."""
    import torch  # lazy: torch (the numpy path does without)

    if not isinstance(z, torch.Tensor) or z.dim() != 3:
        raise ValueError("z must be a 3-D torch tensor (n, dim, T)")
    z64 = z.to(torch.float64)
    mn = z64.amin(-1, keepdim=True)
    mx = z64.amax(-1, keepdim=True)
    r = mx - mn
    pos = r > 0
    out = (z64 - mn) / torch.where(pos, r, torch.ones_like(r))
    out = torch.where(pos, out, torch.zeros_like(out))
    return out.to(torch.float32)



def increments_torch(z, lengths):
    """Torch twin of :func:`increments` (agrees to float32 rounding: summation order)."""
    import torch  # lazy: torch (the numpy path does without)

    if not isinstance(z, torch.Tensor) or z.dim() != 3:
        raise ValueError("z must be a 3-D torch tensor (n, dim, T)")
    n, _, T = z.shape
    L = _torch_lengths(lengths, z)
    z64 = z.to(torch.float64)
    d = z64[..., 1:] - z64[..., :-1]  # d[..., t - 1]: the step into position t
    t = torch.arange(1, T, device=z.device)
    valid = (t[None, :] >= (T - L + 1)[:, None])[:, None, :]
    d = torch.where(valid, d, torch.zeros((), dtype=d.dtype, device=d.device))
    m = (L - 1).clamp(min=1).to(torch.float64)[:, None, None]
    r = torch.sqrt((d * d).sum(-1, keepdim=True) / m)
    d = d / torch.where(r == 0, torch.ones_like(r), r)
    return torch.cat([torch.zeros_like(d[..., :1]), d], dim=-1).to(torch.float32)


def network_input_torch(z, lengths, input: str = "positions"):
    """Torch twin of :func:`network_input`."""
    import torch  # lazy: torch (the numpy path does without)

    if check_input_kind(input) == "positions":
        return minmax_torch(z)
    return torch.cat([minmax_torch(z), increments_torch(z, lengths)], dim=1)


def preprocess_torch(x, lengths=None, length: int = LENGTH, check: bool = True, *,
                     noise=None, input: str = "positions"):
    """Torch twin of :func:`preprocess` for on-the-fly batches on the GPU (or CPU).

    ``noise``: None, or ``(sigma, seed)``: localization noise ``sigma`` (one value per
    track) added to ``z`` before min-max (:func:`noisy_z`), as the AnDi 2020 challenge
    added it."""
    check_input_kind(input)
    z = normalize_torch(x, lengths, length, check)
    if noise is not None:
        z = noisy_z(z, lengths, *noise)
    if input == "positions":
        return minmax_torch(z)
    L = _torch_lengths(lengths, x).clamp(max=min(x.shape[-1], length))
    return network_input_torch(z, L, input)


# ---- localization noise in training (issue 20) ------------------------------------------

NOISE_CLEAN_SHARE = 0.25  # tracks left clean in a batch trained under noise


def training_sigmas(n: int, noise_max: float, key: int) -> np.ndarray:
    """Per-track localization-noise std for training under noise: 0 for a share
    :data:`NOISE_CLEAN_SHARE` of the tracks, else uniform on ``[0, noise_max]`` (the scale
    of AnDi-normalized positions, unit step std), drawn from ``key``."""
    rng = np.random.default_rng(int(key))
    s = rng.uniform(0.0, float(noise_max), n)
    s[rng.random(n) < NOISE_CLEAN_SHARE] = 0.0
    return s


def noisy_z(z, lengths, sigma, seed: int):
    """``z`` (n, dim, 1000), left-padded with ``lengths``, plus ``sigma * N(0, 1)`` on every
    valid position (``ag.add_noise``: the same noise on the CPU and the GPU); a numpy
    array or a torch tensor on any device, returned as the same kind."""
    import torch  # lazy: torch (the numpy path does without)

    if not isinstance(z, torch.Tensor) or z.device.type == "cuda":
        return add_noise(z, sigma, seed, lengths=lengths)
    L = lengths.cpu().numpy() if isinstance(lengths, torch.Tensor) else lengths
    return torch.from_numpy(add_noise(z.numpy(), sigma, seed, lengths=L))


__all__ = ["INPUTS", "NOISE_CLEAN_SHARE", "PREPROCESSING", "increments",
           "increments_torch", "minmax", "minmax_torch", "network_input", "network_input_torch",
           "noisy_z", "normalize_padded", "normalize_torch", "preprocess", "preprocess_torch",
           "training_sigmas"]
