"""How Numba compiles anomgrad's kernels: with the CPU's full vector width.

On CPUs with AVX-512 LLVM's tuning for most Intel models (``prefer-256-bit``) keeps
vectorised loops at 256 bits.  The generators' math (Philox words, Box-Muller normals,
the deterministic log, exp and sincos of :mod:`anomgrad.rng`) runs in such loops, and at
512 bits it is 1.1-1.4x faster (issue 22, docs/benchmarks.md: BM about 240,000 ->
310,000-330,000 trajectories/s on 2 cores).  The results are the same bits: the loops are element-wise
IEEE arithmetic without fast-math, so the width changes how many lanes run at once, not
what each computes.

This module sets Numba's ``CPU_FEATURES`` to the host's features with
``-prefer-256-bit`` before anything is compiled, unless the user chose a CPU or its
features (``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``; then theirs stand), the CPU has no
AVX-512, or ``ANOMGRAD_NUMBA_WIDE=0``.  Numba fixes its target once, at the first
compilation in the process: if another library compiled before anomgrad was imported,
the default stays (the same results, slower).  Numba's on-disk cache is keyed by the
features, so kernels cached with either setting are not mixed up.

One convention goes with it, for every ``@njit`` function that is neither a parallel
kernel nor inlined: ``error_model="numpy"``.  Numba compiles a prange body with numpy's
error model, but a function it calls is compiled on its own, with Python's unless it
says otherwise; every float division then checks for zero, and loops of normals or of
the log and exp of :mod:`anomgrad.rng` stop vectorising (the AnDi 2 state models ran
1.2-1.7x slower for it; the same bits either way).  ``tests/test_layout.py`` checks it.
"""

from __future__ import annotations

import os

from numba.core import config


def _wide_features() -> str | None:
    """The host's feature string with ``-prefer-256-bit``, or None where nothing should
    change."""
    if os.environ.get("ANOMGRAD_NUMBA_WIDE", "1") == "0":
        return None
    if config.CPU_NAME is not None or config.CPU_FEATURES is not None:
        return None  # the user's choice
    try:
        import llvmlite.binding as ll  # lazy: comes with Numba

        features = ll.get_host_cpu_features()
    except (ImportError, RuntimeError):  # no feature query on this platform
        return None
    if not features.get("avx512f"):
        return None
    return features.flatten() + ",-prefer-256-bit"


WIDE_FEATURES = _wide_features()
if WIDE_FEATURES is not None:
    config.CPU_FEATURES = WIDE_FEATURES

__all__ = ["WIDE_FEATURES"]
