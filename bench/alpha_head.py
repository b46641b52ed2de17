"""Train the alpha heads of the shipped models and measure them (issue 20, item 2).

For each shipped model: features of fresh varying-T tracks of split "train" (file 7,
``--per-class`` per class; the robust model's under its training noise mix), an
:class:`anomgrad.resandi.alpha.AlphaHead` fitted to their alpha, then the mean absolute
error on a test set at each noise level (bench/noise_robustness.py's tracks and noise)
beside the TA-MSD baseline, per class and length band, and the coverage of the 95 %
interval (mean +- 1.96 std).

    python bench/alpha_head.py --test andi-test.npz --out alpha/ --export

``--export`` writes the heads to anomgrad/resandi/weights/ and prints the SHA-256 that
``anomgrad.resandi.pretrained.SHIPPED`` must say.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from noise_robustness import BANDS, SIGMAS, band_of, load_test, noisy_levels, shipped  # noqa: E402

from anomgrad.io.atomic import atomic_torch_save, atomic_write_json  # noqa: E402
from anomgrad.resandi import datasets as D  # noqa: E402
from anomgrad.resandi import pretrained as P  # noqa: E402
from anomgrad.resandi.alpha import fit_head  # noqa: E402
from anomgrad.resandi.preprocess import network_input, noisy_z, training_sigmas  # noqa: E402
from anomgrad.resandi.train.data import NOISE_TAG, seed_state  # noqa: E402
from anomgrad.tracks.msd import fit_tracks  # noqa: E402

HEAD_FILE = 7  # the "train" split file the heads learn from (no classifier saw it)


def features_of(net, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    out = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            out.append(net.features(torch.from_numpy(x[s:s + batch])).float().numpy())
    return np.concatenate(out)


def training_set(per_class: int, noise: float, kind: str, seed: int = 0):
    xs, Ts, As = [], [], []
    for c in range(D.NUM_CLASSES):
        g = D.generate_class("varying", "train", HEAD_FILE, c, 0, per_class, seed)
        z = D.normalize_padded(g["x"], g["T"])
        if noise:
            z = noisy_z(z, g["T"], training_sigmas(per_class, noise,
                                                    seed_state(seed, NOISE_TAG, 3, c, 0)),
                        seed_state(seed, NOISE_TAG, 3, c, 1))
        xs.append(network_input(np.ascontiguousarray(z, np.float32), g["T"], kind))
        Ts.append(g["T"])
        As.append(g["alpha"])
    return np.concatenate(xs), np.concatenate(Ts), np.concatenate(As)


def summarize(err, label, band):
    return {"mae": float(err.mean()),
            "per_class": {n: float(err[label == c].mean()) for c, n in enumerate(D.CLASS_NAMES)},
            "per_band": {f"{lo}-{hi}": float(err[band == i].mean())
                         for i, (lo, hi) in enumerate(BANDS)}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--test", required=True)
    p.add_argument("--per-class", type=int, default=15000)
    p.add_argument("--test-per-class", type=int, default=2500)
    p.add_argument("--out", required=True)
    p.add_argument("--export", action="store_true")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    test = load_test(a.test, a.test_per_class)
    alpha_true = test["alpha"]
    label, band = test["label"], band_of(test["T"])
    noisy = list(noisy_levels(test, SIGMAS))
    res = {"sigmas": list(SIGMAS), "n_test": int(len(label)), "test": os.path.abspath(a.test),
           "per_class_train": a.per_class, "models": {}, "msd": {}}
    for j, sigma in enumerate(SIGMAS):  # the baseline, on the valid part of each noisy track
        pos = [noisy[j][i, :, -int(T):].T for i, T in enumerate(test["T"])]
        am, _ = fit_tracks(pos)
        err = np.abs(np.where(np.isfinite(am), am, 1.0) - alpha_true)
        res["msd"][str(sigma)] = summarize(err, label, band)
        print(f"TA-MSD sigma {sigma}: MAE {res['msd'][str(sigma)]['mae']:.3f}", flush=True)
    heads = {}
    for name in P.SHIPPED:
        net, noise = shipped(name)
        t0 = time.perf_counter()
        x, T, al = training_set(a.per_class, noise, net.input)
        f = features_of(net, x)
        head, rec = fit_head(f, T, al)
        rec["seconds"] = round(time.perf_counter() - t0, 1)
        heads[name] = head
        r = {"fit": rec, "levels": {}}
        for j, sigma in enumerate(SIGMAS):
            fx = features_of(net, network_input(noisy[j], test["T"], net.input))
            with torch.no_grad():
                m, sd = head(torch.from_numpy(fx), torch.from_numpy(test["T"]))
            m, sd = m.numpy().astype(np.float64), sd.numpy().astype(np.float64)
            err = np.abs(m - alpha_true)
            lv = summarize(err, label, band)
            lv["coverage_95"] = float(np.mean(err <= 1.96 * sd))
            lv["median_std"] = float(np.median(sd))
            r["levels"][str(sigma)] = lv
            print(f"{name:>6} sigma {sigma}: MAE {lv['mae']:.3f} (95 % interval covers "
                  f"{100 * lv['coverage_95']:.1f} %)", flush=True)
        pooled = np.mean([r["levels"][str(s)]["mae"] for s in SIGMAS])
        r["mae_pooled"] = float(pooled)
        res["models"][name] = r
    res["msd_mae_pooled"] = float(np.mean([res["msd"][str(s)]["mae"] for s in SIGMAS]))
    atomic_write_json(os.path.join(a.out, "alpha.json"), res)
    if a.export:
        path = os.path.join(P._DIR, P.ALPHA_HEADS[0])
        atomic_torch_save({"format": "anomgrad-alpha-heads", "format_version": 1,
                           "heads": {n: {"config": h.config, "state_dict": h.state_dict()}
                                     for n, h in heads.items()},
                           "made": {"command": "python bench/alpha_head.py --export",
                                    "per_class": a.per_class, "file": HEAD_FILE,
                                    "test_mae_pooled": {n: res["models"][n]["mae_pooled"]
                                                        for n in heads}}}, path)
        print("SHA-256", P.sha256(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
