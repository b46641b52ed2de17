"""Which input survives localization noise (issue 20, item 1): ResAnDi on the paper's
input (min-max scaled positions, 2 channels) against the same plus the track's
increments (4 channels), trained alike under noise and tested on the same andi-made
tracks at sigma = 0, 0.1, 0.5, 1.

Why: the stem learns near-cancelling differencing filters on min-max positions, whose
tiny output BatchNorm amplifies 50-90x (issue 19) -- exactly what localization noise
inflates.  Increments given as channels of their own need no such filters.

* ``positions``: ``minmax(z)`` (the paper's input, docs/method.md §3);
* ``increments``: the same two channels, plus per axis the steps of ``z`` (noise
  included) divided by their root mean square over the track's valid steps (0 on the
  padding): scale-free like the positions, and at most sqrt(T - 1) in size.

Both arms see the same batches (fresh varying-T trajectories of the 8 classes, seed
``--seed``; localization noise per track as ``anomgrad train --noise 1``: 25 % clean,
else sigma ~ U(0, 1) on the normalized scale), the same width-16 network but for the
stem's input channels, AdamW with the same schedule, bf16 autocast, and BatchNorm
statistics recomputed on fresh batches before testing (the issue-19 finding).

    python bench/input_channels.py --test andi-test.npz --steps 1000 --seeds 0 1 --out inputs/

Writes ``inputs.json`` and ``inputs.csv`` (accuracy per arm, seed and sigma, per class
and length band) and each network's weights (``ARM-seedS.pt``); a run already in
``inputs.json`` is not done again.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from anomgrad.io.atomic import atomic_write_csv, atomic_write_json
from anomgrad.resandi import datasets as D
from anomgrad.resandi.nn import ResAnDi
from anomgrad.resandi.preprocess import noisy_z, training_sigmas
from anomgrad.resandi.train.data import seed_state

sys.path.insert(0, os.path.dirname(__file__))
from noise_robustness import BANDS, SIGMAS, band_of, load_test, noisy_levels  # noqa: E402

ARMS = {"positions": 2, "increments": 4}
BATCH_PER_CLASS = 64  # 512 per step


def inputs(z: np.ndarray, T: np.ndarray, arm: str) -> np.ndarray:
    """Network input of ``z`` (n, 2, 1000) float32, left-padded, valid last ``T`` steps."""
    x = D.minmax(z)
    if arm == "positions":
        return x
    L = z.shape[-1]
    d = np.diff(z.astype(np.float64), axis=2, prepend=0.0)
    valid = np.arange(L)[None, :] >= (L - T[:, None] + 1)  # steps inside the track
    d *= valid[:, None, :]
    # scaled by their root mean square (not their std: a Levy-walk track inside one
    # flight has equal steps, a std of rounding size and would blow up to 1e8)
    rms = np.sqrt((d ** 2).sum(2) / np.maximum(T - 1, 1)[:, None])
    d /= np.where(rms > 0, rms, 1.0)[..., None]
    return np.concatenate([x, d.astype(np.float32)], axis=1)


def batch(step: int, seed: int, noise: float = 1.0):
    """Fresh training batch ``step``: raw-to-z, noise, labels (the same for both arms)."""
    parts = [D.generate_class("varying", "fresh", 0, c, step * BATCH_PER_CLASS,
                              BATCH_PER_CLASS, seed) for c in range(D.NUM_CLASSES)]
    x = np.concatenate([g["x"] for g in parts])
    T = np.concatenate([g["T"] for g in parts])
    y = np.concatenate([g["label"] for g in parts])
    z = D.normalize_padded(x, T)
    key = seed_state(seed, 0x1A9, step)
    z = noisy_z(z, T, training_sigmas(len(T), noise, key), seed_state(seed, 0x1AA, step))
    return np.ascontiguousarray(z, np.float32), T, y


def train_arm(arm: str, steps: int, seed: int, lr: float = 3e-3, warmup: int = 100):
    torch.manual_seed(seed)
    net = ResAnDi(in_channels=ARMS[arm], width=16)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))
    net.train()
    t0 = time.perf_counter()
    for s in range(steps):
        z, T, y = batch(s, seed)
        with torch.autocast("cpu", torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(inputs(z, T, arm))),
                                                     torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if s % 100 == 0 or s == steps - 1:
            print(f"{arm} seed {seed} step {s}: loss {loss.item():.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    # BatchNorm statistics of these weights, on batches no step drew (issue 19)
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        for s in range(10):
            z, T, _ = batch(10**6 + s, seed)
            net(torch.from_numpy(inputs(z, T, arm)))
    return net.eval(), time.perf_counter() - t0


def test(net, arm: str, data: dict) -> dict:
    out = {}
    band = band_of(data["T"])
    for sigma, z in zip(SIGMAS, noisy_levels(data, SIGMAS)):
        x = inputs(z, data["T"], arm)
        pred = []
        with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
            for s in range(0, len(x), 1024):
                pred.append(net(torch.from_numpy(x[s:s + 1024])).float().argmax(1).numpy())
        ok = np.concatenate(pred) == data["label"]
        out[str(sigma)] = {
            "accuracy": float(ok.mean()),
            "per_class": {n: float(ok[data["label"] == c].mean())
                          for c, n in enumerate(D.CLASS_NAMES)},
            "per_band": {f"{lo}-{hi}": float(ok[band == i].mean())
                         for i, (lo, hi) in enumerate(BANDS)}}
        print(f"{arm}: sigma {sigma}: {100 * ok.mean():.2f} %", flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--test", required=True, help="andi-test.npz (bench/andi_test_set.py)")
    p.add_argument("--per-class", type=int, default=2000)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    data = load_test(a.test, a.per_class)
    path = os.path.join(a.out, "inputs.json")
    res = {"steps": a.steps, "batch": BATCH_PER_CLASS * D.NUM_CLASSES, "width": 16,
           "test": os.path.basename(a.test), "n_test": int(len(data["label"])), "runs": []}
    if os.path.exists(path):  # resume: runs already done are kept
        import json

        with open(path) as f:
            res = json.load(f)
    done = {(r["arm"], r["seed"]) for r in res["runs"]}
    for seed in a.seeds:
        for arm in ARMS:
            if (arm, seed) in done:
                continue
            net, wall = train_arm(arm, a.steps, seed)
            torch.save(net.state_dict(), os.path.join(a.out, f"{arm}-seed{seed}.pt"))
            res["runs"].append({"arm": arm, "seed": seed, "train_s": round(wall, 1),
                                "sigma": test(net, arm, data)})
            atomic_write_json(path, res)
    rows = [{"arm": r["arm"], "seed": r["seed"], "sigma": s, "accuracy": v["accuracy"],
             **{f"T {k}": b for k, b in v["per_band"].items()},
             **{n: c for n, c in v["per_class"].items()}}
            for r in res["runs"] for s, v in r["sigma"].items()]
    atomic_write_csv(os.path.join(a.out, "inputs.csv"), rows)
    for arm in ARMS:
        accs = [[r["sigma"][str(s)]["accuracy"] for s in SIGMAS] for r in res["runs"]
                if r["arm"] == arm]
        if accs:
            m = 100 * np.mean(accs, 0)
            print(f"{arm:>11}: " + " / ".join(f"{v:.2f}" for v in m) +
                  f" % at sigma {SIGMAS} (mean of {len(accs)} seeds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
