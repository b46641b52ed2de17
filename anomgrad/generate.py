"""``generate``: trajectories of the six diffusion models (validation and dispatch)."""

from __future__ import annotations

import numba
import numpy as np

from . import _validate as V
from .models import GENERATORS


def n_threads() -> int:
    """Threads the CPU generators use (``numba.set_num_threads`` / NUMBA_NUM_THREADS)."""
    return numba.get_num_threads()


def generate(model: str, n: int, T: int, alpha=None, dim: int = 2, seed: int = 0, *,
             start: int = 0, dtype=np.float32, device: str = "cpu"):
    """Generate ``n`` trajectories of ``model``, shape ``(n, dim, T)``.

    Parameters
    ----------
    model : {"fbm", "ctrw", "lw", "attm", "sbm", "bm"}
    n : number of trajectories (>= 1).
    T : number of positions per trajectory (>= 2); x[..., 0] = 0.
    alpha : anomalous exponent, a number or an array of ``n`` (one per trajectory).
        Valid ranges: fbm (0, 2), ctrw (0, 1], lw (1, 2], attm (0.0291, 1],
        sbm (0, 2], bm 1 (may be omitted).
    dim : 1, 2 or 3 spatial dimensions.
    seed : integer in [0, 2**64).  Trajectory ``i`` depends only on ``(seed, i)``.
    start : index of the first trajectory: ``generate(..., n=10, start=5)`` equals
        rows 5..14 of ``generate(..., n=100)``.
    dtype : float32 (default) or float64.  All arithmetic is float64; float32 output
        is the float64 trajectory rounded (see docs/models.md).
    device : "cpu" returns a numpy array; "cuda" a torch tensor on the GPU.

    Models follow andi-datasets 2.1.13 in distribution (docs/models.md); random
    numbers follow the counter-based contract of docs/rng.md.
    """
    model = V.check_model(model)
    n = V.check_int("n", n, 1)
    T = V.check_int("T", T, 2, 2**32)
    dim = V.check_dim(dim)
    seed = V.check_seed(seed)
    start = V.check_int("start", start, 0, 2**64 - 1)
    if start + n - 1 > 2**64 - 1:
        raise ValueError(f"start + n must be <= 2**64 (trajectory indices are 64-bit), "
                         f"got start={start}, n={n}")
    dtype = V.check_dtype(dtype)
    device = V.check_device(device)
    if device != "cpu":
        from . import _cuda

        return _cuda.generate(model, n, T, alpha, dim, seed, start, dtype, device)
    alpha = V.check_alpha(model, alpha, n)
    out = np.empty((n, dim, T), dtype)
    GENERATORS[model](out, alpha, seed, start)
    return out
