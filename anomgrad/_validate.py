"""Argument checks shared by the public functions.

Every error names the argument and the valid range; nothing is clipped.
"""

from __future__ import annotations

import difflib
import numbers

import numpy as np

from .config import ALPHA_RANGES, DIMS, MAX_SEED, MODELS


def is_tensor(x) -> bool:
    """A torch tensor (checked without importing torch)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "data_ptr")


def _is_int(x) -> bool:
    return isinstance(x, (numbers.Integral, np.integer)) and not isinstance(x, (bool, np.bool_))


def check_int(name: str, value, low: int, high: int | None = None) -> int:
    """An integer in [low, high] (high None: unbounded)."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    v = int(value)
    if v < low or (high is not None and v > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {rng}, got {v}")
    return v


def check_seed(seed) -> int:
    return check_int("seed", seed, 0, MAX_SEED)


def check_start(start, n: int) -> int:
    """The index of a call's first trajectory: trajectories start .. start + n - 1 must
    have 64-bit indices."""
    start = check_int("start", start, 0, 2**64 - 1)
    if start + n - 1 > 2**64 - 1:
        raise ValueError(f"start + n must be <= 2**64 (trajectory indices are 64-bit), "
                         f"got start={start}, n={n}")
    return start


def check_model(model, models=MODELS) -> str:
    if not isinstance(model, str):
        raise TypeError(f"model must be a string, one of {', '.join(models)}; got {model!r}")
    m = model.strip().lower()
    if m not in models:
        close = difflib.get_close_matches(m, models, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown model {model!r}; valid models: {', '.join(models)}.{hint}")
    return m


def check_dim(dim) -> int:
    if not _is_int(dim):
        raise TypeError(f"dim must be an integer in {DIMS}, got {dim!r}")
    if int(dim) not in DIMS:
        raise ValueError(f"dim must be one of {DIMS}, got {dim}")
    return int(dim)


def alpha_range_text(model: str) -> str:
    lo, lo_in, hi, hi_in = ALPHA_RANGES[model]
    if lo == hi:
        return f"alpha = {lo:g}"
    return f"{'[' if lo_in else '('}{lo:.6g}, {hi:g}{']' if hi_in else ')'}"


def check_alpha(model: str, alpha, n: int) -> np.ndarray:
    """alpha as a float64 array of length n, every entry valid for the model."""
    if alpha is None:
        if model == "bm":
            return np.ones(n)
        raise ValueError(f"alpha is required for {model}: a number or an array of {n} in "
                         f"{alpha_range_text(model)}")
    if type(alpha).__module__.startswith("torch") and hasattr(alpha, "detach"):
        if alpha.device.type != "cpu":
            raise ValueError(f"alpha is on {alpha.device}; with device='cpu' pass a numpy array "
                             "or a CPU tensor")
        alpha = alpha.detach().numpy()
    a = np.asarray(alpha)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"alpha must be a number or an array of numbers, got {type(alpha).__name__}")
    if np.iscomplexobj(a):
        raise TypeError("alpha must be real")
    a = a.astype(np.float64)
    if a.ndim == 0:
        a = np.full(n, float(a))
    elif a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"alpha must be a scalar or a 1-D array of length n={n}, "
                         f"got shape {np.shape(alpha)}")
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"alpha must be finite; alpha[{i}] = {a[i]}")
    lo, lo_in, hi, hi_in = ALPHA_RANGES[model]
    ok = ((a >= lo) if lo_in else (a > lo)) & ((a <= hi) if hi_in else (a < hi))
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        where = "" if a.size == 1 or np.all(a == a[0]) else f"[{i}]"
        raise ValueError(f"alpha{where} = {a[i]:g} is outside the valid range for {model}: "
                         f"{alpha_range_text(model)}")
    return a


def check_dtype(dtype) -> np.dtype:
    try:
        d = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from e
    if d not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {d}")
    return d


def check_device(device) -> str:
    d = str(device).lower() if device is not None else "cpu"
    if d.startswith("cuda"):
        return d
    if d != "cpu":
        raise ValueError(f"device must be 'cpu' or 'cuda' (optionally 'cuda:N'), got {device!r}")
    return d


def torch_device(device=None):
    """The torch device to run on: ``device`` as given, else CUDA when torch sees a GPU,
    else the CPU."""
    import torch  # lazy: `import anomgrad` does not import torch

    return torch.device(device if device is not None else
                        ("cuda" if torch.cuda.is_available() else "cpu"))


def check_array(name: str, x, ndim: tuple[int, ...] = (3,)) -> np.ndarray:
    """A float32/float64 numpy array with one of the given ndims."""
    if not isinstance(x, np.ndarray):
        if type(x).__module__.startswith("torch"):
            raise TypeError(f"{name} is a torch tensor; the CPU functions take numpy arrays "
                            f"(use .cpu().numpy())")
        x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
    if x.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions "
                         f"(n, dim, T), got shape {x.shape}")
    return x


def check_lengths(lengths, n: int, high: int, high_name: str = "") -> np.ndarray:
    """Per-trajectory lengths: n integers in [1, high] (numpy or a torch tensor), int64;
    ``high_name`` names the bound in the message (e.g. "T=")."""
    if type(lengths).__module__.startswith("torch"):
        lengths = lengths.detach().cpu().numpy()
    L = np.asarray(lengths)
    if L.ndim != 1 or L.shape[0] != n:
        raise ValueError(f"lengths must be a 1-D array of length n={n}, got shape {L.shape}")
    if not np.issubdtype(L.dtype, np.integer):
        raise TypeError(f"lengths must be integers, got {L.dtype}")
    bad = (L < 1) | (L > high)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"lengths must be in [1, {high_name}{high}], got lengths[{i}] = {L[i]}")
    return L.astype(np.int64)


def check_per_traj(name: str, value, n: int, low: float = 0.0) -> np.ndarray:
    """A finite float64 per trajectory (a scalar is broadcast to n), each >= low."""
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(n, float(a))
    elif a.shape != (n,):
        raise ValueError(f"{name} must be a scalar or an array of length n={n}, got shape {a.shape}")
    bad = ~np.isfinite(a) | (a < low)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be finite and >= {low:g}, got {name}[{i}] = {a[i]}")
    return a
