"""Regenerate tests/data/andi-datasets-2.1.13-phenom.npz from andi-datasets itself.

Run in an environment with andi-datasets 2.1.13 (it pins numpy <= 1.26.4):

    python -m venv /tmp/andi && /tmp/andi/bin/pip install andi-datasets==2.1.13
    /tmp/andi/bin/python tests/make_andi_phenom_reference.py            # every config
    /tmp/andi/bin/python tests/make_andi_phenom_reference.py dimer-eps  # some, merged

andi-datasets does not draw everything from numpy's seeded generator, so a second run
gives other samples of the same distributions: naming configs regenerates only those
and keeps the file's others.

Stores per-trajectory statistics (tests/phenom_stats.py) and andi's speed, no
trajectories.
"""

import os
import sys
import time

import numpy as np
from andi_datasets.models_phenom import models_phenom

sys.path.insert(0, os.path.dirname(__file__))
from phenom_stats import CONFIGS, N, NAMES, T, from_andi, statistics  # noqa: E402


def main():
    np.random.seed(20261205)
    mp = models_phenom()
    path = os.path.join(os.path.dirname(__file__), "data", "andi-datasets-2.1.13-phenom.npz")
    only = sys.argv[1:]
    out = {k: v for k, v in np.load(path).items() if k not in ("names", "T", "N")} if only else {}
    for name, model, params in CONFIGS:
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        if model == "multi_state":
            trajs, labels = mp.multi_state(N=N, T=T, return_state_num=True, **params)
        elif model == "immobile_traps":
            params = dict(params, traps_pos=np.array(params["traps_pos"]))
            trajs, labels = mp.immobile_traps(N=N, T=T, Nt=len(params["traps_pos"]), **params)
        elif model == "dimerization":  # fields of N particles, as many as make N in all
            parts = [mp.dimerization(T=T, return_state_num=True, **params)
                     for _ in range(N // params["N"])]
            trajs = np.concatenate([p[0] for p in parts], axis=1)
            labels = np.concatenate([p[1] for p in parts], axis=1)
        elif model == "confinement":
            if "comp_center" in params:
                params = dict(params, comp_center=np.array(params["comp_center"]))
            trajs, labels = mp.confinement(N=N, T=T, **params)
            labels = np.concatenate([labels, (labels[..., 2:3] == 1)], axis=2)  # confined
        else:
            trajs, labels = mp.single_state(N=N, T=T, **params)
        rate = N / (time.perf_counter() - t0)
        out[name] = statistics(*from_andi(trajs, labels, model))
        out[name + "/rate"] = rate
        print(f"{name:18s} {rate:9.0f} traj/s", flush=True)
    np.savez_compressed(path, names=np.array(NAMES), T=T, N=N, **out)
    print("wrote", path)


if __name__ == "__main__":
    main()
