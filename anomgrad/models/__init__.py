"""CPU generators (Numba), one module per model.

Each module exposes ``generate_cpu(out, alpha, seed, start)`` filling ``out``
(n, dim, T) in place, with ``alpha`` a float64 array of length n already validated.
"""

from . import attm, bm, ctrw, fbm, lw, sbm

GENERATORS = {
    "fbm": fbm.generate_cpu,
    "ctrw": ctrw.generate_cpu,
    "lw": lw.generate_cpu,
    "attm": attm.generate_cpu,
    "sbm": sbm.generate_cpu,
    "bm": bm.generate_cpu,
}
