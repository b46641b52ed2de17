"""Trajectories per second of andi-datasets 2.1.13 (models_theory, 2-D, T = 1000), the
baseline in docs/benchmarks.md.  andi-datasets pins numpy <= 1.26.4, so run it in its
own environment:

    python -m venv /tmp/andi && /tmp/andi/bin/pip install andi-datasets==2.1.13
    /tmp/andi/bin/python bench/andi_speed.py
"""

import time

import numpy as np
from andi_datasets.models_theory import models_theory

CASES = [("fbm", 0.7), ("ctrw", 0.9), ("ctrw", 1.0), ("lw", 1.5), ("lw", 1.05), ("attm", 0.7),
         ("attm", 1.0), ("sbm", 0.5)]


def main(T=1000, seconds=5.0):
    np.random.seed(0)
    mt = models_theory()
    for model, alpha in CASES:
        f = getattr(mt, model)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            f(T, alpha, 2)
            n += 1
        print(f"{model:5s} alpha={alpha:<5} {n / (time.perf_counter() - t0):8.0f} traj/s")


if __name__ == "__main__":
    main()
