"""``generate``: trajectories of the six diffusion models (validation and dispatch)."""

from __future__ import annotations

import numpy as np

from . import _validate as V
from . import phenom
from .config import MODELS, PHENOM_MODELS, STREAM_ALPHA
from .models import GENERATORS
from .rng import uniforms


def generate(model: str, n: int, T: int, alpha=None, dim: int = 2, seed: int = 0, *,
             start: int = 0, dtype=np.float32, device: str = "cpu", out=None, **params):
    """Generate ``n`` trajectories of ``model``, shape ``(n, dim, T)``.

    Parameters
    ----------
    model : {"fbm", "ctrw", "lw", "attm", "sbm", "bm"}, or an AnDi 2 state model
        ("single_state", "multi_state", "immobile_traps", "confinement",
        "dimerization": :mod:`anomgrad.phenom`), which returns
        ``(x, labels)`` with labels ``(n, 4, T)`` (alpha, D, kind, state per frame) and
        takes andi-datasets' parameters as keywords (``M``, ``Ds``, ``alphas``, ``L``,
        ...; docs/phenom.md) instead of ``alpha``.
    n : number of trajectories (>= 1).
    T : number of positions per trajectory (>= 2); x[..., 0] = 0.
    alpha : anomalous exponent, a number or an array of ``n`` (one per trajectory).
        Valid ranges: fbm (0, 2), ctrw (0, 1], lw [1, 2], attm (0.0291, 1],
        sbm (0, 2], bm 1 (may be omitted).
    dim : 1, 2 or 3 spatial dimensions.
    seed : integer in [0, 2**64).  Trajectory ``i`` depends only on ``(seed, i)``.
    start : index of the first trajectory: ``generate(..., n=10, start=5)`` equals
        rows 5..14 of ``generate(..., n=100)``.
    dtype : float32 (default) or float64.  All arithmetic is float64; float32 output
        is the float64 trajectory rounded (see docs/models.md).
    device : "cpu" returns a numpy array; "cuda" a torch tensor on the GPU.
    out : (CPU) a C-contiguous, writeable numpy array of shape ``(n, dim, T)`` and dtype
        ``dtype`` to write the trajectories into (every element is written) and return,
        instead of a new one: a loop of calls then allocates nothing.

    Models follow andi-datasets 2.1.13 in distribution (docs/models.md); random
    numbers follow the counter-based contract of docs/rng.md.
    """
    model = V.check_model(model, MODELS + PHENOM_MODELS)
    n = V.check_int("n", n, 1)
    T = V.check_int("T", T, 2, 2**32)
    dim = V.check_dim(dim)
    seed = V.check_seed(seed)
    start = V.check_start(start, n)
    dtype = V.check_dtype(dtype)
    device = V.check_device(device)
    if model in PHENOM_MODELS:
        if alpha is not None:
            raise TypeError(f"{model} takes its exponents as alphas=[mean, variance] (per "
                            f"state), not alpha")
        if device != "cpu":
            raise ValueError(f"{model} runs on the CPU (device='cpu'); got {device!r}")
        return phenom.generate(model, n, T, dim, seed, start, dtype, out, params)
    if params:
        raise TypeError(f"{model} takes no parameter {sorted(params)[0]!r} (keyword "
                        f"parameters are for the state models: {', '.join(PHENOM_MODELS)})")
    if device != "cpu":
        if out is not None:
            raise ValueError(f"out is for device='cpu' (a numpy array); on {device!r} "
                             f"generate returns a new tensor")
        from . import _cuda  # lazy: torch

        return _cuda.generate(model, n, T, alpha, dim, seed, start, dtype, device)
    alpha = V.check_alpha(model, alpha, n)
    if out is None:
        out = np.empty((n, dim, T), dtype)
    else:
        _check_out(out, (n, dim, T), dtype)
    GENERATORS[model](out, alpha, seed, start)
    return out


def _check_out(out, shape: tuple, dtype) -> None:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array (device='cpu'), got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out must have shape (n, dim, T) = {shape}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"out has dtype {out.dtype} but dtype={np.dtype(dtype).name}: give "
                         f"the same dtype to both")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError("out must be C-contiguous and writeable")


def range_alphas(seed: int, first: int, count: int, lo: float, hi: float) -> np.ndarray:
    """One alpha per trajectory ``first .. first + count - 1``, uniform in (lo, hi):
    ``lo + (hi - lo) U`` with ``U = (w + 0.5) / 2**32``, ``w`` word 0 of Philox stream
    64 (``config.STREAM_ALPHA``) of the trajectory under ``seed``, so it depends only on
    ``(seed, i)`` and is independent of every draw of the models (``anomgrad generate
    --alpha-range``; the ResAnDi classes draw their alpha the same way)."""
    u = uniforms(seed, first, STREAM_ALPHA, 1, count)[:, 0]
    return np.float64(lo) + (np.float64(hi) - np.float64(lo)) * u


def check_alpha_range(model: str, lo: float, hi: float) -> tuple[float, float]:
    """``(lo, hi)`` for :func:`range_alphas`: finite, ``lo < hi``, and every alpha it can
    draw valid for ``model`` (U lies in (0, 1), so the open ends of a model's range are
    allowed, e.g. ``1 2`` for lw)."""
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"LO and HI must be finite, got {lo} {hi}")
    if not lo < hi:
        raise ValueError(f"LO must be < HI, got {lo:g} {hi:g}")
    u = (np.array([0.0, 2.0**32 - 1.0]) + 0.5) * 2.0**-32  # the extreme U
    try:
        V.check_alpha(model, np.float64(lo) + (np.float64(hi) - np.float64(lo)) * u, 2)
    except ValueError:
        raise ValueError(f"alpha drawn from ({lo:g}, {hi:g}) must lie in the valid range for "
                         f"{model}: {V.alpha_range_text(model)}") from None
    return lo, hi
