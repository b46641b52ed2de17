"""CPU generators (Numba), one module per model.

Each module exposes ``generate_cpu(out, alpha, seed, start)`` filling ``out``
(n, dim, T) in place, with ``alpha`` a float64 array of length n already validated.
"""

import os

from . import attm, bm, ctrw, fbm, lw, sbm


def _passive_workers() -> None:
    """Start Numba's worker threads with ``OMP_WAIT_POLICY=PASSIVE`` unless the user set
    a policy: between parallel regions its OpenMP workers then sleep instead of spinning,
    so the FFT threads FBM runs between its Numba kernels get the cores (issue 22: FBM on
    2 cores 48,000-60,000 -> about 78,000 trajectories/s).  The variable is read once, by
    the OpenMP runtime Numba loads here, and removed again, so a torch imported later
    keeps its own default."""
    if "OMP_WAIT_POLICY" in os.environ:
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        from numba.np.ufunc import parallel  # lazy: Numba's thread pool

        parallel._launch_threads()
    except (ImportError, AttributeError):  # another Numba: its default policy
        pass
    finally:
        del os.environ["OMP_WAIT_POLICY"]


_passive_workers()

GENERATORS = {
    "fbm": fbm.generate_cpu,
    "ctrw": ctrw.generate_cpu,
    "lw": lw.generate_cpu,
    "attm": attm.generate_cpu,
    "sbm": sbm.generate_cpu,
    "bm": bm.generate_cpu,
}
