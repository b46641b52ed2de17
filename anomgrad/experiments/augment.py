"""Targeted augmentation and noise robustness (docs/method.md §5, the paper's Fig. 5).

From one varying-T training file, per class, trajectories are ranked by the mean of their
signed, nearest-upsampled layer-4 Grad-CAM (target = true label) under a base varying-T
model.  Two augmented training sets are built:

* **targeted**: the top ``fraction`` (60 %) of every class get one extra copy rotated by
  an angle U(0, 2 pi);
* **random**: the same number per class drawn uniformly *with replacement* from the
  class, each copy rotated by its own U(0, 2 pi) angle.

So a 10,000-per-class file becomes 16,000 per class (128,000 rows) in both arms.
``models`` networks are trained per arm (``ag.train`` on the augmented file), and each
is tested on the noiseless varying-T test set with localization noise sigma in {0, 0.1,
..., 1.0} added to a *clean* copy of the AnDi-normalized positions at every level
(``ag.add_noise(z, sigma, seed, lengths=T)``, then min-max), so noise never accumulates
across levels.  Results: accuracy per model and level, mean +- s.e.m. per arm, the
difference targeted - random with its uncertainty, a Fig. 5-style PNG.

Protocol details taken from the authors' code (peardragon/ResAnDi,
``utils/_augmentation.py``, ``_3_augmentation_*.ipynb``, ``utils/_gradcam.py``):

* the ranking score is ``mean over the 1000 upsampled steps`` of captum's
  ``LayerGradCam(model, model.layer4)`` with the true label as target, not ReLU'd,
  nearest-interpolated to 1000 steps (padding steps included), computed with the
  varying-T base model on training file 0;
* top rows: ``argsort(score)[::-1][:int(0.6 * n_class)]`` per class;
* random arm: ``np.random.choice(all rows of the class, 6000)`` (with replacement);
* the rotation acts on the stored, AnDi-normalized positions before padding and min-max
  scaling; the rotated copy is *not* re-normalized (neither do the authors);
* each augmented model is trained with the published recipe (Adam 1e-4, batch 64, up to
  100 epochs, early stopping on a separate validation file);
* the authors add the noise in place, so their level sigma_k carries the noise of all
  earlier levels too (effective std sqrt(sum_{j<=k} sigma_j^2)); we add each level to a
  clean copy (the effective std is sigma).

Our choices where the code is silent or random: model ``k`` of *both* arms is trained
with seed ``seed + k`` (same initial weights and batch order, paired design); angles and
the random arm's rows come from seeded numpy Philox generators; the noise of level ``i``
uses one seed per level (``noise_seed(seed, i)``), the same for every model, so all
models see the same noisy test set at a given level.

Run directory layout (every stage is skipped when its output is complete; a killed run
continues where it stopped)::

    OUT/data/                 auto-built train/val/test files (when not given)
    OUT/base/                 auto-trained base model (when --base is not given)
    OUT/scores.npz            Grad-CAM ranking scores of the source training file
    OUT/selection.npz         rows and angles of both arms
    OUT/sets/targeted.h5, random.h5   the augmented training sets (dataset format)
    OUT/models/<arm>_<k>/     ag.train run directories; noise.json per model
    OUT/augment.json, augment.csv, augment_models.csv, augment.png
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import torch
from tqdm import tqdm

from .. import _validate as V
from ..io.atomic import atomic_savez, atomic_write_csv, atomic_write_json
from ..resandi import datasets as D
from ..cam import gradcam_full
from ..resandi.nn import load_checkpoint
from ..resandi.train import train as train_fn
from . import noise as N
from .common import AMP, rng, say
from .rotation import ANGLE_TAG, rotate, rotation_angles, write_set

ARMS = N.ARMS
FRACTION = 0.6
FORMAT = "anomgrad-augment"
FORMAT_VERSION = 1


def check_fraction(fraction) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)):
        raise TypeError(f"fraction must be a number in (0, 1], got {fraction!r}")
    f = float(fraction)
    if not (0.0 < f <= 1.0):
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    return f


def extra_count(n_class: int, fraction: float = FRACTION) -> int:
    """Extra copies of a class with ``n_class`` rows: ``int(fraction * n_class)`` (the
    published ``int(percentile * 0.01 * len)``; 6,000 of 10,000 at 60 %)."""
    return int(check_fraction(fraction) * int(n_class))


def gradcam_scores(model, x, y, *, batch_size: int = 512, chunk: int = 8192,
                   progress: bool = False) -> np.ndarray:
    """Mean over the upsampled steps of the signed, nearest layer-4 Grad-CAM of ``model``
    with target ``y`` (the ranking score of the published code), float64 (n,)."""
    dev = next(model.parameters()).device
    n = len(y)
    out = np.empty(n, np.float64)
    for lo in tqdm(range(0, n, chunk), disable=not progress, desc="grad-cam ranking",
                   unit="chunk", file=sys.stderr):
        xb = torch.as_tensor(np.ascontiguousarray(x[lo:lo + chunk]), dtype=torch.float32).to(dev)
        yb = torch.as_tensor(np.asarray(y[lo:lo + chunk]), dtype=torch.int64)
        r = gradcam_full(model, xb, "layer4", yb, batch_size=batch_size, amp=AMP)
        out[lo:lo + len(yb)] = r.cam.double().mean(-1).cpu().numpy()
    return out


def select_targeted(scores, labels, fraction: float = FRACTION) -> np.ndarray:
    """Rows getting an extra copy in the targeted arm: per class (in label order), the
    ``int(fraction * n_class)`` rows of highest score, highest first (ties: lower row
    first)."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D of equal length, got {scores.shape} "
                         f"and {labels.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    fraction = check_fraction(fraction)
    out = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        order = np.argsort(-scores[rows], kind="stable")
        out.append(rows[order[:extra_count(rows.size, fraction)]])
    return np.concatenate(out) if out else np.empty(0, np.int64)


def select_random(labels, counts, seed: int) -> np.ndarray:
    """Rows of the random arm: per class (label order) ``counts[c]`` rows drawn uniformly
    with replacement from the class's rows.  ``counts``: a dict label -> count or an
    array indexed by label."""
    labels = np.asarray(labels)
    seed = V.check_seed(seed)
    g = rng(seed, ANGLE_TAG, 2)
    out = []
    for c in np.unique(labels):
        k = int(counts[int(c)])
        if k < 0:
            raise ValueError(f"counts must be >= 0, got {k} for class {int(c)}")
        rows = np.flatnonzero(labels == c)
        out.append(rows[g.integers(0, rows.size, k)])
    return np.concatenate(out) if out else np.empty(0, np.int64)


def selection(scores, labels, fraction: float, seed: int) -> dict:
    """Both arms: ``{arm: (rows, angles)}``, the random arm with the targeted arm's count
    per class."""
    labels = np.asarray(labels)
    t = select_targeted(scores, labels, fraction)
    counts = {int(c): int((labels[t] == c).sum()) for c in np.unique(labels)}
    r = select_random(labels, counts, seed)
    return {"targeted": (t, rotation_angles(t.size, seed, 0)),
            "random": (r, rotation_angles(r.size, seed, 1))}


def _train_done(run_dir) -> bool:
    p = os.path.join(run_dir, "summary.json")
    if not os.path.exists(p) or not os.path.exists(os.path.join(run_dir, "best.pt")):
        return False
    with open(p) as f:
        return json.load(f).get("stopped") != "stop_after"


def _check_settings(out: str, settings: dict) -> None:
    """Refuse to continue a run directory made with other settings."""
    p = os.path.join(out, "settings.json")
    want = json.loads(json.dumps(settings))
    if os.path.exists(p):
        with open(p) as f:
            have = json.load(f)
        diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
        if diff:
            shown = "; ".join(f"{k}: {have.get(k)!r} there, {want.get(k)!r} requested"
                              for k in diff)
            raise ValueError(f"out: {out} holds an augmentation run with other settings "
                             f"({shown}); use the same settings to continue it, or another "
                             f"--out")
    else:
        atomic_write_json(p, want)


# ---------------------------------------------------------------------------------
# The whole experiment


def _data(out, train, val, test, n_per_class, base_files, seed, progress):
    """The train (source), val and test files, written to ``out/data`` when not given;
    and the files the base model trains on."""
    ddir = os.path.join(out, "data")
    if train is None or val is None or test is None:
        os.makedirs(ddir, exist_ok=True)
    if train is None:
        files = [os.path.join(ddir, f"train_{k}.h5") for k in range(base_files)]
        for k, p in enumerate(files):
            D.write(p, "varying", "train", n_per_class, seed, file=k, progress=progress)
        train, base_train = files[0], files
    else:
        base_train = [train]
    if val is None:
        val = os.path.join(ddir, "val.h5")
        D.write(val, "varying", "val", n_per_class, seed, progress=progress)
    if test is None:
        test = os.path.join(ddir, "test.h5")
        D.write(test, "varying", "test", n_per_class, seed, progress=progress)
    return train, val, test, base_train


def _scores(out, base, train, dev, progress):
    """Grad-CAM ranking scores and labels of the source file (cached in scores.npz)."""
    src_info = D.inspect(train)
    path = os.path.join(out, "scores.npz")
    key = json.dumps({"base": os.path.abspath(base), "base_mtime": os.path.getmtime(base),
                      "train": src_info["args"]}, sort_keys=True)
    if os.path.exists(path):
        with np.load(path) as z:
            if str(z["key"]) == key:
                return z["scores"], z["label"]
    say(progress, "augment: Grad-CAM ranking of the training file")
    model, _ = load_checkpoint(base, map_location=dev)
    d = D.load(train, fields=("x", "label"))
    scores = gradcam_scores(model, d["x"], d["label"], progress=progress)
    atomic_savez(path, scores=scores, label=d["label"], key=np.array(key))
    return scores, d["label"]


def _check_run_args(models, n_per_class, base_files, fraction, sigmas, seed, recipe,
                    base_recipe, test_rows, files, base):
    """The arguments of :func:`run`, checked (ValueError/TypeError naming the argument)."""
    V.check_int("models", models, 1, 1000)
    V.check_int("n_per_class", n_per_class, 1, D.MAX_PER_CLASS)
    V.check_int("base_files", base_files, 1, 100)
    check_fraction(fraction)
    N.check_sigmas(sigmas)
    V.check_seed(seed)
    for name, r in (("recipe", recipe), ("base_recipe", base_recipe)):
        if r not in ("paper", "fast"):
            raise ValueError(f"{name} must be 'paper' or 'fast', got {r!r}")
    if test_rows is not None:
        V.check_int("test_rows", test_rows, 1)
    for name, f in files.items():
        if f is not None:
            D.inspect(f, family="varying", split=name)
    if base is not None and not os.path.exists(base):
        raise ValueError(f"base: {base}: no such checkpoint")


def _summary(settings, files, base, sets, sel, labels, acc, results, test_rows_used, t_start):
    seed, models, sigmas = settings["seed"], settings["models"], settings["sigmas"]
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "settings": settings,
        "train": os.path.abspath(files["train"]), "val": os.path.abspath(files["val"]),
        "test": os.path.abspath(files["test"]), "test_rows_used": test_rows_used,
        "base": os.path.abspath(base),
        "sets": {arm: {"path": sets[arm], "rows": int(D.inspect(sets[arm])["n"]),
                       "extra": int(sel[arm][0].size),
                       "extra_per_class": np.bincount(labels[sel[arm][0]],
                                                      minlength=D.NUM_CLASSES).tolist()}
                 for arm in ARMS},
        "model_seeds": [(seed + k) % 2**64 for k in range(models)],
        "noise_seeds": [N.noise_seed(seed, i) for i in range(len(sigmas))],
        "accuracy": acc, "summary": N.summarize(acc, sigmas), "paper": N.PAPER,
        "per_model": {f"{a}_{k}": results[(a, k)] for (a, k) in results},
        "wall_seconds_this_call": round(time.perf_counter() - t_start, 3),
    }


def _write_tables(out, summary) -> None:
    """augment.csv (per level, beside the paper's level of the same effective sigma) and
    augment_models.csv."""
    summ, sigmas, seed = summary["summary"], summary["settings"]["sigmas"], summary["settings"]["seed"]
    P = N.PAPER
    table = []
    for i, s in enumerate(sigmas):
        row = {"sigma": s}
        for key in ("targeted", "targeted_sem", "random", "random_sem", "difference",
                    "difference_unc", "paired_difference", "paired_difference_sem"):
            row[key] = round(summ[key][i], 4)
        j = N.paper_level(s)
        if j is not None:
            row.update(paper_targeted=P["targeted"][j], paper_random=P["random"][j],
                       paper_difference=round(P["targeted"][j] - P["random"][j], 2),
                       paper_nominal_sigma=P["sigma"][j])
        table.append(row)
    atomic_write_csv(os.path.join(out, "augment.csv"), table,
                     list(table[0]) + [k for k in ("paper_targeted", "paper_random",
                                                   "paper_difference", "paper_nominal_sigma")
                                       if k not in table[0]])
    acc = summary["accuracy"]
    atomic_write_csv(os.path.join(out, "augment_models.csv"),
                     [{"arm": a, "model": k, "seed": seed + k, "sigma": s,
                       "accuracy": round(acc[a][k][i], 4)}
                      for a in ARMS for k in range(len(acc[a])) for i, s in enumerate(sigmas)])


def run(out, *, models: int = 5, train=None, val=None, test=None, base=None,
        n_per_class: int = 10000, base_files: int = 5, fraction: float = FRACTION,
        sigmas=N.SIGMAS, seed: int = 0, recipe: str = "paper", base_recipe: str | None = None,
        width: int = 64, epochs: int | None = None, batch_size: int | None = None,
        lr: float | None = None, total_steps: int | None = None,
        minutes: float | None = None, epoch_samples: int | None = None,
        test_rows: int | None = None, device=None, progress: bool = True) -> dict:
    """The whole augmentation experiment in ``out`` (see the module docstring); returns
    the summary (also in ``out/augment.json``).

    train / val / test : varying-T dataset files (train: the source of both augmented
        sets, the paper's training file 0; val: early stopping; test: the noise sweep).
        Missing ones are written to ``out/data`` with ``n_per_class`` per class under
        ``seed`` (train file 0, val, test).
    base : checkpoint of the varying-T model that ranks the trajectories.  Missing: trained
        in ``out/base`` with ``base_recipe`` (default: ``recipe``) on train files
        0 .. base_files - 1 (auto-built) or on the given train file.
    models : networks per arm (model k of both arms is trained with seed ``seed + k``).
    recipe, width, epochs, batch_size, lr, total_steps, minutes, epoch_samples : passed
        to ``ag.train`` for every network (None: the recipe's value).
    test_rows : use only the first ``test_rows`` rows per class of the test file.
    """
    t_start = time.perf_counter()
    base_recipe = recipe if base_recipe is None else base_recipe
    _check_run_args(models, n_per_class, base_files, fraction, sigmas, seed, recipe,
                    base_recipe, test_rows, {"train": train, "val": val, "test": test}, base)
    fraction, sigmas = check_fraction(fraction), N.check_sigmas(sigmas)
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    dev = V.torch_device(device)
    train_kw = dict(width=width, epochs=epochs, batch_size=batch_size, lr=lr,
                    total_steps=total_steps, minutes=minutes, epoch_samples=epoch_samples,
                    device=str(dev), progress=progress)
    # what fixes the results (``models`` may change: more networks extend the run)
    settings = {"fraction": fraction, "sigmas": list(sigmas), "seed": seed,
                "recipe": recipe, "test_rows": test_rows,
                **{k: v for k, v in train_kw.items() if k not in ("device", "progress")}}
    _check_settings(out, settings)
    settings = dict(settings, models=models)
    train, val, test, base_train = _data(out, train, val, test, n_per_class, base_files, seed,
                                         progress)
    if base is None:
        bdir = os.path.join(out, "base")
        if not _train_done(bdir):
            say(progress, f"augment: training the base model in {bdir}")
            # the arms' training options apply to the base model when the recipes agree
            kw = dict(train_kw) if base_recipe == recipe else dict(
                width=width, minutes=minutes, device=str(dev), progress=progress)
            train_fn(bdir, "varying", base_recipe, data=base_train, val=val, seed=seed,
                     resume=True, **kw)
        base = os.path.join(bdir, "best.pt")
    scores, labels = _scores(out, base, train, dev, progress)
    sel = selection(scores, labels, fraction, seed)
    atomic_savez(os.path.join(out, "selection.npz"),
                 **{f"{a}_rows": sel[a][0] for a in ARMS},
                 **{f"{a}_angles": sel[a][1] for a in ARMS})
    os.makedirs(os.path.join(out, "sets"), exist_ok=True)
    sets = {arm: write_set(train, sel[arm][0], sel[arm][1],
                           os.path.join(out, "sets", f"{arm}.h5"), arm=arm,
                           meta={"fraction": fraction, "seed": seed,
                                 "base": os.path.abspath(base)}, progress=progress)
            for arm in ARMS}
    runs = {(arm, k): os.path.join(out, "models", f"{arm}_{k}") for k in range(models)
            for arm in ARMS}
    for (arm, k), rdir in runs.items():
        if not _train_done(rdir):
            say(progress, f"augment: training {arm} model {k + 1}/{models} (seed {seed + k})")
            train_fn(rdir, "varying", recipe, data=[sets[arm]], val=val,
                     seed=(seed + k) % 2**64, resume=True, **train_kw)
    results, n_test = N.sweep(runs, test, sigmas, seed, test_rows=test_rows, device=dev,
                              progress=progress)
    acc = {arm: [[results[(arm, k)][str(s)]["accuracy"] for s in sigmas] for k in range(models)]
           for arm in ARMS}
    summary = _summary(settings, {"train": train, "val": val, "test": test}, base, sets, sel,
                       labels, acc, results, n_test, t_start)
    atomic_write_json(os.path.join(out, "augment.json"), summary)
    _write_tables(out, summary)
    N.figure(summary["summary"], os.path.join(out, "augment.png"),
             title=f"{models} models per arm, {n_test} test trajectories")
    return summary


__all__ = ["ANGLE_TAG", "ARMS", "FRACTION", "check_fraction", "extra_count", "gradcam_scores",
           "rotate", "rotation_angles", "run", "select_random", "select_targeted",
           "selection", "write_set"]
