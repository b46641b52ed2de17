"""Accuracy under localization noise (issue 20, item 1): ResAnDi checkpoints on one test
set at several noise levels, per class and per length band.

The noise is the AnDi 2020 model: each axis AnDi-normalized (unit step std: the ``z`` that
dataset files store), then ``sigma * N(0, 1)`` added to every valid position
(``anomgrad.resandi.preprocess.noisy_z``), then the network's min-max.  Every model sees the
same noisy tracks (the noise seed depends on the level only).

    python bench/noise_robustness.py clean=anomgrad/resandi/weights/resandi-varying-w16.pt \\
        robust=runs/robust/best.pt --test varying-test.h5 --per-class 2000 --out noise-eval/

Writes ``noise.json`` (every number), ``noise.csv`` (one row per model, level, class or
length band) and ``noise.png`` (accuracy against sigma per model).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from anomgrad.io.atomic import atomic_savefig, atomic_write_csv, atomic_write_json
from anomgrad.resandi import datasets as D
from anomgrad.resandi.evaluate import metrics_from_predictions
from anomgrad.resandi.nn import load_checkpoint
from anomgrad.resandi.precision import autocast, use_bf16
from anomgrad.resandi.preprocess import network_input, noisy_z
from anomgrad.resandi.train.data import seed_state

SIGMAS = (0.0, 0.1, 0.5, 1.0)
BANDS = ((10, 50), (50, 200), (200, 1000))  # T in [lo, hi), the last one closed
NOISE_SEED_TAG = 0x4E0153


def band_of(T: np.ndarray) -> np.ndarray:
    """Index of each length's band in :data:`BANDS`."""
    return np.searchsorted([b[1] for b in BANDS[:-1]], T, side="right")


def load_test(path: str, per_class: int) -> dict:
    """The first ``per_class`` rows of every class of a test file of ``anomgrad dataset``
    or an ``.npz`` of bench/andi_test_set.py (raw positions, AnDi-normalized here): z, T,
    label, alpha (NaN where an .npz has none)."""
    if path.endswith(".npz"):
        with np.load(path) as f:
            d = {"T": f["T"], "label": f["label"],
                 "alpha": f["alpha"] if "alpha" in f.files else np.full(len(f["T"]), np.nan)}
            d["z"] = D.normalize_padded(f["x"], d["T"])
    else:
        d = D.load(path, fields=("z", "T", "label", "alpha"))
    keep = np.concatenate([np.flatnonzero(d["label"] == c)[:per_class]
                           for c in range(D.NUM_CLASSES)])
    return {k: d[k][keep] for k in ("z", "T", "label", "alpha")}


def noisy_levels(test: dict, sigmas):
    """The test set's ``z`` at each noise level (float32; level j's noise seed depends on j
    only, so every model and script sees the same noisy tracks)."""
    for j, sigma in enumerate(sigmas):
        z = test["z"] if sigma == 0 else noisy_z(test["z"], test["T"], sigma,
                                                 seed_state(0, NOISE_SEED_TAG, j))
        yield np.ascontiguousarray(z, np.float32)


def shipped(name: str):
    """The shipped model ``name`` in fp32, and the localization-noise std its training
    drew up to (its checkpoint's ``--noise``; models from before that option: 0)."""
    from anomgrad.resandi import pretrained as P

    net, meta = P.pretrained(name=name, meta=True)
    return net.float(), float(meta["config"].get("noise") or 0.0)


def predict(model, x: np.ndarray, amp: str, batch: int = 1024) -> np.ndarray:
    """Predicted labels of network inputs ``x`` (n, channels, 1000)."""
    import torch

    dev = next(model.parameters()).device
    out = []
    with torch.no_grad(), autocast(dev, use_bf16(amp, dev)):
        for s in range(0, len(x), batch):
            out.append(model(torch.from_numpy(x[s:s + batch])).float().argmax(1).numpy())
    return np.concatenate(out)


def measure(models: dict, test: dict, sigmas, amp: str = "none") -> dict:
    out = {"sigmas": list(sigmas), "n": int(len(test["label"])), "amp": amp,
           "bands": [list(b) for b in BANDS], "models": {}}
    nets = {name: load_checkpoint(path)[0].eval() for name, path in models.items()}
    label, band = test["label"], band_of(test["T"])
    for sigma, z in zip(sigmas, noisy_levels(test, sigmas)):
        x = {kind: network_input(z, test["T"], kind) for kind in {n.input for n in nets.values()}}
        for name, net in nets.items():
            pred = predict(net, x[net.input], amp)
            r = metrics_from_predictions(label, pred)
            ok = pred == label
            out["models"].setdefault(name, {})[str(sigma)] = {
                "accuracy": r["accuracy"], "macro_f1": r["macro_f1"],
                "per_class": {k: v["accuracy"] for k, v in r["per_class"].items()},
                "per_band": {f"{lo}-{hi}": float(ok[band == i].mean())
                             for i, (lo, hi) in enumerate(BANDS)},
                "confusion": r["confusion"]}
            print(f"sigma {sigma:4.2f} {name:>8}: {100 * r['accuracy']:.2f} %", flush=True)
    return out


def write(res: dict, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    atomic_write_json(os.path.join(out, "noise.json"), res)
    rows = []
    for name, levels in res["models"].items():
        for sigma, r in levels.items():
            rows.append({"model": name, "sigma": sigma, "group": "all", "accuracy": r["accuracy"]})
            rows += [{"model": name, "sigma": sigma, "group": c, "accuracy": a}
                     for c, a in r["per_class"].items()]
            rows += [{"model": name, "sigma": sigma, "group": f"T {b}", "accuracy": a}
                     for b, a in r["per_band"].items()]
    atomic_write_csv(os.path.join(out, "noise.csv"), rows)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.add_subplot()
    for name, levels in res["models"].items():
        ax.plot([float(k) for k in levels], [100 * levels[k]["accuracy"] for k in levels],
                "o-", label=name)
    ax.set_xlabel("localization noise sigma (unit step std)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"ResAnDi under localization noise ({res['n']:,} tracks per level)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_savefig(fig, os.path.join(out, "noise.png"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="NAME=CHECKPOINT")
    p.add_argument("--test", required=True, help="a test file of `anomgrad dataset`, or an .npz "
                   "of bench/andi_test_set.py (tracks made by andi-datasets)")
    p.add_argument("--per-class", type=int, default=2000)
    p.add_argument("--sigmas", type=float, nargs="+", default=list(SIGMAS))
    p.add_argument("--amp", default="none", choices=("auto", "bf16", "none"))
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    models = {}
    for m in a.models:
        name, sep, path = m.partition("=")
        if not sep or not name or not os.path.exists(path):
            p.error(f"models: expected NAME=CHECKPOINT with an existing file, got {m!r}")
        models[name] = path
    if a.per_class < 1:
        p.error(f"--per-class must be >= 1, got {a.per_class}")
    if any(not (s >= 0) for s in a.sigmas):
        p.error(f"--sigmas must be >= 0, got {a.sigmas}")
    res = measure(models, load_test(a.test, a.per_class), a.sigmas, a.amp)
    res["test"], res["per_class_rows"] = os.path.abspath(a.test), a.per_class
    write(res, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
