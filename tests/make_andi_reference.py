"""Regenerate tests/data/andi-datasets-2.1.13-stats.npz from andi-datasets itself.

Run in an environment with andi-datasets 2.1.13 (it pins numpy <= 1.26.4, so not the
anomgrad one):

    python -m venv /tmp/andi && /tmp/andi/bin/pip install andi-datasets==2.1.13
    /tmp/andi/bin/python tests/make_andi_reference.py

Stores only per-trajectory statistics (tests/andi_stats.py), no trajectories.
"""

import os
import sys
import time

import numpy as np
from andi_datasets.models_theory import models_theory

sys.path.insert(0, os.path.dirname(__file__))
from andi_stats import CONFIGS, N, NAMES, T, key, statistics  # noqa: E402


def main():
    np.random.seed(20261125)
    mt = models_theory()
    out, rates = {}, {}
    for model, alpha, dim in CONFIGS:
        t0 = time.perf_counter()
        x = np.stack([getattr(mt, model)(T, alpha, dim).reshape(dim, T) for _ in range(N)])
        rates[key(model, alpha, dim)] = N / (time.perf_counter() - t0)
        out[key(model, alpha, dim)] = statistics(x).astype(np.float32)
        print(f"{key(model, alpha, dim):16s} {rates[key(model, alpha, dim)]:8.0f} traj/s", flush=True)
    path = os.path.join(os.path.dirname(__file__), "data", "andi-datasets-2.1.13-stats.npz")
    np.savez_compressed(path, names=np.array(NAMES), T=T, N=N, **out)
    print("wrote", path)


if __name__ == "__main__":
    main()
