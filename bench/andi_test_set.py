"""An independent test set made by andi-datasets 2.1.13 for the ResAnDi classes (issue 20):
``bench/noise_robustness.py --test`` takes it.

andi-datasets pins numpy <= 1.26.4, so run it in its own environment (this script imports
only numpy and andi-datasets):

    python -m venv /tmp/andi && /tmp/andi/bin/pip install andi-datasets==2.1.13
    /tmp/andi/bin/python bench/andi_test_set.py --per-class 2500 --out andi-test.npz

Per track, as the AnDi 2020 challenge made them: the class's model from
``models_theory`` (BM: fbm at alpha = 1), 2-D, at T = 1000, alpha ~ U(0.1, 0.9) for the
subdiffusive and U(1.1, 1.9) for the superdiffusive classes, then its first T positions
with T ~ U{10..1000}; a track that does not move within its T positions (a CTRW without a
jump) is drawn again, as the published generator does.  Stores ``x`` (n, 2, 1000) float32
(the first T positions valid, zeros after), ``T``, ``label``, ``alpha`` and ``seed``;
noise is added by the reader (anomgrad's ``noisy_z``: AnDi normalization, then
``sigma * N(0, 1)`` per position).
"""

import argparse
import os
import sys
import time

import numpy as np
from andi_datasets.models_theory import models_theory

# label: (andi model, alpha range) -- anomgrad.resandi.task's classes
CLASSES = [("attm", 0.1, 0.9), ("ctrw", 0.1, 0.9), ("fbm", 0.1, 0.9), ("sbm", 0.1, 0.9),
           ("fbm", 1.1, 1.9), ("lw", 1.1, 1.9), ("sbm", 1.1, 1.9), ("fbm", 1.0, 1.0)]
LENGTH, T_MIN = 1000, 10


def make(per_class: int, seed: int) -> dict:
    np.random.seed(seed)  # andi-datasets draws from numpy's global generator
    rng = np.random.default_rng(seed)
    mt = models_theory()
    n = 8 * per_class
    x = np.zeros((n, 2, LENGTH), np.float32)
    T = np.empty(n, np.int64)
    alpha = np.empty(n)
    label = np.repeat(np.arange(8), per_class)
    redrawn = 0
    for i in range(n):
        model, lo, hi = CLASSES[label[i]]
        a = lo + (hi - lo) * rng.random()
        t = int(rng.integers(T_MIN, LENGTH + 1))
        while True:
            p = getattr(mt, model)(LENGTH, a, 2).reshape(2, LENGTH)[:, :t]
            if np.any(p != p[:, :1]):
                break
            redrawn += 1
        x[i, :, :t] = p
        T[i], alpha[i] = t, a
    return {"x": x, "T": T, "label": label, "alpha": alpha, "seed": np.int64(seed),
            "redrawn": np.int64(redrawn)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-class", type=int, default=2500)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    if a.per_class < 1:
        p.error(f"--per-class must be >= 1, got {a.per_class}")
    t0 = time.perf_counter()
    d = make(a.per_class, a.seed)
    tmp = a.out + ".partial.npz"
    np.savez(tmp, **d)
    os.replace(tmp, a.out)
    print(f"wrote {a.out}: {len(d['label'])} tracks ({int(d['redrawn'])} redrawn) in "
          f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
