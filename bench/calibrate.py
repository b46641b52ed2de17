"""Temperatures of the shipped models, and the calibration they give (issue 20, item 3).

For each shipped model: fit the temperature on its own validation set (split "val", seed
0, 2,000 per class; the robust model's with the noise mix it was trained and validated
under), then measure the expected calibration error (ECE) of the top probability before
and after, at each noise level of a test set (bench/noise_robustness.py's tracks and
noise).

    python bench/calibrate.py --test andi-test.npz --per-class 2500 --out calibration/

Writes ``calibration.json`` (temperatures, ECE, reliability points, the share of tracks
flagged uncertain and their accuracy) and ``calibration.png`` (reliability diagrams).
Measured on 2026-12-04: the fitted temperatures are 0.992 (clean) and 0.989 (robust), so
the shipped models apply none (anomgrad.resandi.calibration).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from noise_robustness import SIGMAS, load_test, noisy_levels, shipped  # noqa: E402

from anomgrad.io.atomic import atomic_savefig, atomic_write_json  # noqa: E402
from anomgrad.resandi import datasets as D  # noqa: E402
from anomgrad.resandi import pretrained as P  # noqa: E402
from anomgrad.resandi.calibration import (UNCERTAIN_BELOW, ece, fit_temperature,  # noqa: E402
                                          reliability, softmax)
from anomgrad.resandi.preprocess import network_input, noisy_z  # noqa: E402
from anomgrad.resandi.train.data import NOISE_VAL, noise_for  # noqa: E402



def logits_of(net, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    out = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            out.append(net(torch.from_numpy(x[s:s + batch])).float().numpy())
    return np.concatenate(out).astype(np.float64)


def validation(noise: float, kind: str, per_class: int = 2000, seed: int = 0):
    """The validation inputs (for a network reading ``kind``) and labels a run with
    ``--noise noise`` validates on."""
    d = D.resandi("varying", "val", per_class, seed)
    z = d["z"] if not noise else noisy_z(d["z"], d["T"], *noise_for(seed, noise, len(d["label"]),
                                                                  NOISE_VAL))
    return network_input(np.ascontiguousarray(z, np.float32), d["T"], kind), d["label"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--test", required=True, help="as bench/noise_robustness.py --test")
    p.add_argument("--per-class", type=int, default=2500)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    test = load_test(a.test, a.per_class)
    levels = list(noisy_levels(test, SIGMAS))
    res = {"sigmas": list(SIGMAS), "n": int(len(test["label"])), "test": os.path.abspath(a.test),
           "uncertain_below": UNCERTAIN_BELOW, "models": {}}
    for name in P.SHIPPED:
        net, noise = shipped(name)
        xv, yv = validation(noise, net.input)
        T = fit_temperature(logits_of(net, xv), yv)
        r = {"temperature": T, "levels": {}}
        for sigma, z in zip(SIGMAS, levels):
            lo = logits_of(net, network_input(z, test["T"], net.input))
            p0, p1 = softmax(lo), softmax(lo, T)
            top = p1.max(1)
            ok = p1.argmax(1) == test["label"]
            flag = top < UNCERTAIN_BELOW
            r["levels"][str(sigma)] = {
                "accuracy": float(ok.mean()), "ece_before": ece(p0, test["label"]),
                "ece_after": ece(p1, test["label"]), "uncertain_share": float(flag.mean()),
                "accuracy_uncertain": float(ok[flag].mean()) if flag.any() else None,
                "accuracy_certain": float(ok[~flag].mean()) if (~flag).any() else None,
                "reliability_before": reliability(p0, test["label"]),
                "reliability_after": reliability(p1, test["label"])}
            lv = r["levels"][str(sigma)]
            print(f"{name:>6} T={T:.3f} sigma {sigma:4.2f}: acc {100 * lv['accuracy']:.2f} % "
                  f"ECE {lv['ece_before']:.4f} -> {lv['ece_after']:.4f}, uncertain "
                  f"{100 * lv['uncertain_share']:.1f} %", flush=True)
        res["models"][name] = r
    atomic_write_json(os.path.join(a.out, "calibration.json"), res)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4 * len(SIGMAS), 7.5))
    axes = fig.subplots(len(P.SHIPPED), len(SIGMAS), squeeze=False)
    for row, (name, r) in enumerate(res["models"].items()):
        for col, sigma in enumerate(SIGMAS):
            ax, lv = axes[row][col], r["levels"][str(sigma)]
            ax.plot([0, 1], [0, 1], color="0.6", lw=0.8)
            for key, style in (("before", "s--"), ("after", "o-")):
                rel = lv[f"reliability_{key}"]
                pts = [(c, acc) for c, acc in zip(rel["confidence"], rel["accuracy"]) if c is not None]
                ax.plot(*zip(*pts), style, ms=3, label=f"{key}: ECE {lv[f'ece_{key}']:.3f}")
            ax.set_title(f"{name}, sigma = {sigma} (T = {r['temperature']:.2f})", fontsize=9)
            ax.set_xlabel("top probability")
            ax.set_ylabel("accuracy")
            ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    atomic_savefig(fig, os.path.join(a.out, "calibration.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
