"""Trajectories per second of the AnDi 2 state models, anomgrad against andi-datasets
2.1.13 (``models_phenom``), T = 200, 2-D, the six configurations of the fidelity test
(tests/phenom_stats.py).  docs/benchmarks.md records the table.

    python bench/phenom_speed.py                      # anomgrad, float32, all threads
    /tmp/andi/bin/python bench/phenom_speed.py --andi # andi-datasets, in its own venv
    python bench/phenom_speed.py --only dimer-eps     # some configurations

andi-datasets pins numpy <= 1.26.4: make its venv with
``python -m venv /tmp/andi && /tmp/andi/bin/pip install andi-datasets==2.1.13``.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from phenom_stats import CONFIGS, T  # noqa: E402


def rate(fn, n, seconds):
    fn(min(n, 200))  # compile / warm up (200: whole fields of dimerization)
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(n)
        done += n
    return done / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--andi", action="store_true", help="time andi-datasets instead")
    p.add_argument("--n", type=int, default=None, help="trajectories per call")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--only", default=None, help="comma-separated configurations (all by default)")
    a = p.parse_args()
    if a.andi:
        from andi_datasets.models_phenom import models_phenom

        np.random.seed(0)
        mp = models_phenom()
        def gen(m, kw):
            if m == "immobile_traps":  # andi needs the number of traps beside their positions
                kw = dict(kw, traps_pos=np.array(kw["traps_pos"]), Nt=len(kw["traps_pos"]))
            if "comp_center" in kw:  # andi indexes the centres as an array
                kw = dict(kw, comp_center=np.array(kw["comp_center"]))
            if m == "dimerization":  # a call is one field of the configuration's N
                return lambda n: [mp.dimerization(T=T, **kw) for _ in range(n // kw["N"])]
            return lambda n: getattr(mp, m)(N=n, T=T, **kw)
        n = a.n or 200
    else:
        import anomgrad as ag

        gen = lambda m, kw: lambda n: ag.generate(m, n, T, seed=0, **kw)  # noqa: E731
        n = a.n or 20_000
    only = None if a.only is None else a.only.split(",")
    for name, model, params in CONFIGS:
        if only is not None and name not in only:
            continue
        print(f"{name:18s} {rate(gen(model, params), n, a.seconds):10.0f} traj/s", flush=True)


if __name__ == "__main__":
    main()
