"""Noise robustness (docs/method.md §5, the paper's Fig. 5): networks tested on the
noiseless varying-T test set with localization noise added to a *clean* copy of the
AnDi-normalized positions at every level (``ag.add_noise(z, sigma, seed, lengths=T)``,
then min-max), so noise never accumulates across levels; the summary per arm (mean,
s.e.m., differences) and the Fig. 5-style figure with the paper's curves.

Which levels.  The published code adds its noise in place, level after level, so its
nominal level sigma_k carries the noise of every earlier level: independent Gaussians
add in variance, and its level k is noise of std sqrt(sum_{j<=k} sigma_j^2) (0, 0.1,
0.224, ..., 1.962).  By default we run exactly those effective levels (:data:`EFFECTIVE`),
each on a clean copy: the same protocol in distribution, so our numbers and the paper's
are compared at the same noise.  The nominal grid 0, 0.1, ..., 1.0 (:data:`NOMINAL`)
stays available (``anomgrad augment --noise-grid nominal``); there the paper's curves
only meet ours at 0 and 0.1.  Every table and figure puts the paper's numbers at their
effective sigma.
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
from tqdm import tqdm

from .. import _validate as V
from ..io.atomic import atomic_savefig, atomic_write_json
from ..processing import add_noise
from ..resandi import datasets as D
from ..resandi.nn import load_checkpoint
from .common import balanced_rows, seed_int
from .paper import AUGMENT as PAPER

ARMS = ("targeted", "random")

NOMINAL = tuple(PAPER["sigma"])  # the paper's nominal grid
EFFECTIVE = tuple(PAPER["effective_sigma"])  # what its accumulated noise amounts to
GRIDS = {"effective": EFFECTIVE, "nominal": NOMINAL}
SIGMAS = EFFECTIVE  # the default
NOISE_SEED_TAG = 0x5E


def paper_level(sigma: float) -> int | None:
    """The published level whose effective noise std is ``sigma`` (to 5e-4), or None."""
    for j, e in enumerate(PAPER["effective_sigma"]):
        if abs(e - float(sigma)) <= 5e-4:
            return j
    return None


def noise_seed(seed: int, level: int) -> int:
    """The ``ag.add_noise`` seed of noise level ``level`` (0-based) under ``seed``."""
    return seed_int(seed, NOISE_SEED_TAG, level)


def check_sigmas(sigmas) -> tuple[float, ...]:
    try:
        s = tuple(float(v) for v in sigmas)
    except (TypeError, ValueError):
        raise TypeError(f"sigmas must be a sequence of numbers >= 0, got {sigmas!r}") from None
    if not s:
        raise ValueError("sigmas must not be empty")
    bad = [v for v in s if not (math.isfinite(v) and v >= 0)]
    if bad:
        raise ValueError(f"sigmas must be finite and >= 0, got {bad[0]!r}")
    if len(set(s)) != len(s):
        raise ValueError(f"sigmas must be distinct, got {list(s)}")
    return s


def noisy_positions(z, T, sigma: float, seed: int) -> np.ndarray:
    """A new array: the clean normalized positions ``z`` (n, 2, 1000), left-padded with
    lengths ``T``, plus localization noise ``sigma * N(0, 1)`` on every valid step
    (``ag.add_noise(z, sigma, seed, lengths=T)``); the padding stays 0 and ``z`` is not
    modified."""
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be finite and >= 0, got {sigma!r}")
    if sigma == 0:
        return np.array(z, dtype=np.float32, copy=True)
    return add_noise(z, sigma, seed=seed, lengths=np.asarray(T, np.int64))


def noisy_inputs(z, T, sigma: float, seed: int) -> np.ndarray:
    """Network inputs at noise level ``sigma``: min-max of :func:`noisy_positions`."""
    return D.minmax(noisy_positions(z, T, sigma, seed))


def noise_levels(z, T, sigmas, seed: int):
    """Yield ``(i, sigma, noisy positions)`` for every level: each level's noise is added
    to the clean ``z`` (never to the previous level's output), with seed
    ``noise_seed(seed, i)``."""
    for i, s in enumerate(sigmas):
        yield i, s, noisy_positions(z, T, s, noise_seed(seed, i))


def predict(model, x, batch_size: int = 1024) -> np.ndarray:
    """Predicted labels of ``model`` for inputs ``x`` (n, 2, 1000), in batches."""
    import torch  # lazy: torch

    dev = next(model.parameters()).device
    was = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for lo in range(0, len(x), batch_size):
                xb = torch.as_tensor(np.ascontiguousarray(x[lo:lo + batch_size])).to(dev)
                out.append(model(xb).argmax(1).cpu().numpy())
    finally:
        model.train(was)
    return np.concatenate(out) if out else np.empty(0, np.int64)


def summarize(acc: dict, sigmas) -> dict:
    """``acc[arm]``: (models, levels) accuracies in % -> mean, s.e.m. (ddof 1; NaN for one
    model), difference targeted - random with uncertainty sqrt(sem_t^2 + sem_r^2), and the
    paired difference (model k of both arms shares its seed) with its s.e.m."""
    out = {"sigma": list(sigmas)}
    for arm in ARMS:
        a = np.asarray(acc[arm], np.float64)
        m = a.shape[0]
        out[arm] = a.mean(0).tolist()
        out[arm + "_sem"] = (a.std(0, ddof=1) / math.sqrt(m)).tolist() if m > 1 else [
            float("nan")] * a.shape[1]
        out[arm + "_models"] = m
    t, r = np.asarray(out["targeted"]), np.asarray(out["random"])
    out["difference"] = (t - r).tolist()
    out["difference_unc"] = np.sqrt(np.asarray(out["targeted_sem"]) ** 2
                                    + np.asarray(out["random_sem"]) ** 2).tolist()
    at, ar = np.asarray(acc["targeted"], np.float64), np.asarray(acc["random"], np.float64)
    k = min(at.shape[0], ar.shape[0])
    d = at[:k] - ar[:k]
    out["paired_difference"] = d.mean(0).tolist()
    out["paired_difference_sem"] = ((d.std(0, ddof=1) / math.sqrt(k)).tolist() if k > 1
                                    else [float("nan")] * d.shape[1])
    return out


def figure(summary: dict, path, paper: dict | None = PAPER, title: str = "") -> None:
    """Fig. 5-style PNG: accuracy against sigma (= 1/SNR) per arm, mean +- s.e.m., the
    paper's curves dotted, and an inset with the difference."""
    from matplotlib.figure import Figure  # lazy: matplotlib

    s = np.asarray(summary["sigma"])
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    styles = {"targeted": ("k", "-", "o", "targeted augmentation"),
              "random": ("0.5", "--", "s", "random augmentation")}
    for arm in ARMS:
        col, ls, mk, lab = styles[arm]
        m = np.asarray(summary[arm])
        e = np.nan_to_num(np.asarray(summary[arm + "_sem"]))
        ax.plot(s, m, ls=ls, marker=mk, color=col, ms=4,
                label=f"{lab} (ours, n={summary[arm + '_models']})")
        ax.fill_between(s, m - e, m + e, color=col, alpha=0.2, lw=0)
        if paper:
            ax.plot(paper["effective_sigma"], paper[arm], ls=":", color=col, lw=1,
                    label=f"{lab} (paper, at its effective sigma)")
    ax.set_xlabel(r"localization noise $\sigma$ = 1/SNR (std of the noise added)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    if title:
        ax.set_title(title, fontsize=9)
    ins = ax.inset_axes([0.64, 0.58, 0.33, 0.36])
    ins.errorbar(s, summary["difference"], yerr=np.nan_to_num(summary["difference_unc"]),
                 color="k", marker="o", ms=3, lw=1, capsize=2, label="ours")
    if paper:
        ins.plot(paper["effective_sigma"], np.subtract(paper["targeted"], paper["random"]), ":",
                 color="0.4", lw=1, label="paper")
    ins.axhline(0, color="0.7", lw=0.6)
    ins.set_ylabel(r"$\Delta$ accuracy (pt)", fontsize=6)
    ins.tick_params(labelsize=6)
    ins.legend(fontsize=5)
    atomic_savefig(fig, path)


def _cached(runs: dict, test: str, n: int) -> dict:
    """The accuracies each run's ``noise.json`` already holds for this test set."""
    results = {}
    for key, rdir in runs.items():
        p = os.path.join(rdir, "noise.json")
        results[key] = {}
        if os.path.exists(p):
            with open(p) as f:
                r = json.load(f)
            if r.get("test") == os.path.abspath(test) and r.get("rows") == n:
                results[key] = r["levels"]
    return results


def sweep(runs: dict, test, sigmas, seed: int, *, test_rows=None, device=None,
          progress: bool = True) -> tuple[dict, int]:
    """Accuracy of every trained run (``runs``: key -> run directory with ``best.pt``) on
    the test file at every noise level: ``({key: {str(sigma): {"accuracy", "per_class",
    "noise_seed"}}}, test rows used)``.  Level ``i`` adds noise with
    :func:`noise_seed` ``(seed, i)`` to the clean ``z``, the same for every run.  Results
    are kept in each run's ``noise.json``, so an interrupted sweep continues."""
    td = D.load(test, fields=("z", "label", "T"))
    rows = balanced_rows(td["label"], test_rows)
    z, y, T = td["z"][rows], td["label"][rows], td["T"][rows]
    del td
    results = _cached(runs, test, int(y.size))
    loaded = {}
    todo_levels = [s for s in sigmas if any(str(s) not in results[k] for k in runs)]
    bar = tqdm(total=len(todo_levels), disable=not progress, desc="noise levels", unit="level",
               file=sys.stderr)
    for i, s, zn in noise_levels(z, T, sigmas, seed):
        todo = [k for k in runs if str(s) not in results[k]]
        if not todo:
            continue
        x = D.minmax(zn)
        del zn
        for k in todo:
            if k not in loaded:
                loaded[k], _ = load_checkpoint(os.path.join(runs[k], "best.pt"),
                                               map_location=V.torch_device(device))
            ok = predict(loaded[k], x) == y
            results[k][str(s)] = {
                "accuracy": 100.0 * float(ok.mean()),
                "per_class": {D.CLASS_NAMES[c]: 100.0 * float(ok[y == c].mean())
                              for c in np.unique(y)},
                "noise_seed": noise_seed(seed, i)}
            atomic_write_json(os.path.join(runs[k], "noise.json"),
                              {"test": os.path.abspath(test), "rows": int(y.size),
                               "levels": results[k]})
        del x
        bar.update(1)
    bar.close()
    return results, int(y.size)


__all__ = ["ARMS", "EFFECTIVE", "GRIDS", "NOMINAL", "SIGMAS", "paper_level", "check_sigmas", "figure", "noise_levels", "noise_seed",
           "noisy_inputs", "noisy_positions", "predict", "summarize", "sweep"]
