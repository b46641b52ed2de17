"""Targeted augmentation and noise robustness (method.md §5, the paper's Fig. 5).

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
import math
import os
import sys
import time

import numpy as np

from . import _validate as V

ARMS = ("targeted", "random")
FRACTION = 0.6
SIGMAS = tuple(round(0.1 * k, 1) for k in range(11))
NOISE_SEED_TAG = 0x5E
ANGLE_TAG = 0xA6
FORMAT = "anomgrad-augment"
FORMAT_VERSION = 1

# The published Fig. 5 (mean over the 5 models of each arm, in %, and the s.e.m. over
# them), from analysis_results/augmentation_results/p60_* (targeted) and p100_* (random)
# of the authors' repository.  Their noise accumulates across levels (see above).
PAPER = {
    "sigma": list(SIGMAS),
    "targeted": [85.77, 78.75, 76.54, 73.42, 64.87, 49.43, 33.35, 23.35, 18.61, 16.30, 14.99],
    "targeted_sem": [0.38, 0.32, 0.23, 0.47, 1.15, 1.71, 1.66, 1.28, 0.85, 0.59, 0.39],
    "random": [85.66, 78.52, 76.30, 72.21, 62.00, 45.61, 30.39, 21.52, 17.40, 15.50, 14.44],
    "random_sem": [0.36, 0.62, 0.51, 1.36, 2.52, 2.63, 1.46, 0.72, 0.48, 0.38, 0.31],
    "models": 5,
    "note": "noise accumulated across levels in the published code: the effective std at "
            "nominal sigma_k is sqrt(sum_{j<=k} sigma_j^2)",
}
PAPER["effective_sigma"] = [round(math.sqrt(sum(s * s for s in SIGMAS[:k + 1])), 3)
                            for k in range(len(SIGMAS))]


# ---------------------------------------------------------------------------------
# Small helpers


def _seed_int(*words) -> int:
    return int(np.random.SeedSequence([int(w) for w in words]).generate_state(1, np.uint64)[0])


def _rng(*words) -> np.random.Generator:
    return np.random.Generator(np.random.Philox(np.random.SeedSequence([int(w) for w in words])))


def noise_seed(seed: int, level: int) -> int:
    """The ``ag.add_noise`` seed of noise level ``level`` (0-based) under ``seed``."""
    return _seed_int(seed, NOISE_SEED_TAG, level)


def check_fraction(fraction) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)):
        raise TypeError(f"fraction must be a number in (0, 1], got {fraction!r}")
    f = float(fraction)
    if not (0.0 < f <= 1.0):
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    return f


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


def extra_count(n_class: int, fraction: float = FRACTION) -> int:
    """Extra copies of a class with ``n_class`` rows: ``int(fraction * n_class)`` (the
    published ``int(percentile * 0.01 * len)``; 6,000 of 10,000 at 60 %)."""
    return int(check_fraction(fraction) * int(n_class))


def balanced_rows(labels, per_class: int | None) -> np.ndarray:
    """The first ``per_class`` rows of every class present, in file order (all rows when
    ``per_class`` is None)."""
    labels = np.asarray(labels)
    if per_class is None:
        return np.arange(labels.size)
    per_class = V.check_int("per_class", per_class, 1)
    rows = [np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(rows))


# ---------------------------------------------------------------------------------
# Rotation, ranking, selection


def rotation_angles(n: int, seed: int, arm: int = 0) -> np.ndarray:
    """``n`` angles U(0, 2 pi) (float64) from the seeded generator of ``arm``."""
    n = V.check_int("n", n, 0)
    seed = V.check_seed(seed)
    return 2.0 * np.pi * _rng(seed, ANGLE_TAG, arm).random(n)


def rotate(z, angles) -> np.ndarray:
    """Rotate every 2-D trajectory ``z[i]`` (n, 2, T) by ``angles[i]`` (counter-clockwise),
    in float64, returning float32.  Zero padding stays zero; increments keep their lengths
    (so the sum of the two axes' increment variances is unchanged)."""
    z = V.check_array("z", z, (3,))
    if z.shape[1] != 2:
        raise ValueError(f"z must be (n, 2, T) two-dimensional trajectories, got shape {z.shape}")
    a = np.asarray(angles, dtype=np.float64)
    if a.shape != (z.shape[0],):
        raise ValueError(f"angles must have shape ({z.shape[0]},), got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("angles must be finite")
    c, s = np.cos(a)[:, None], np.sin(a)[:, None]
    x, y = z[:, 0].astype(np.float64), z[:, 1].astype(np.float64)
    return np.stack([c * x - s * y, s * x + c * y], axis=1).astype(np.float32)


def gradcam_scores(model, x, y, *, batch_size: int = 512, chunk: int = 8192,
                   progress: bool = False) -> np.ndarray:
    """Mean over the upsampled steps of the signed, nearest layer-4 Grad-CAM of ``model``
    with target ``y`` (the ranking score of the published code), float64 (n,)."""
    import torch
    from tqdm import tqdm

    from .cam import gradcam_full

    dev = next(model.parameters()).device
    n = len(y)
    out = np.empty(n, np.float64)
    for lo in tqdm(range(0, n, chunk), disable=not progress, desc="grad-cam ranking",
                   unit="chunk", file=sys.stderr):
        xb = torch.as_tensor(np.ascontiguousarray(x[lo:lo + chunk]), dtype=torch.float32).to(dev)
        yb = torch.as_tensor(np.asarray(y[lo:lo + chunk]), dtype=torch.int64)
        r = gradcam_full(model, xb, "layer4", yb, batch_size=batch_size)
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
    g = _rng(seed, ANGLE_TAG, 2)
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


# ---------------------------------------------------------------------------------
# Augmented dataset files


def write_set(source, rows, angles, path, *, arm: str, meta: dict | None = None,
              chunk: int = 8192, progress: bool = True) -> str:
    """Write the augmented training set: every row of the dataset file ``source``, then a
    copy of ``source[rows[i]]`` rotated by ``angles[i]`` (``z`` rotated, ``x`` =
    min-max of it).  The file is a ResAnDi dataset file (split "train", same family, seed
    and file number as the source, ``n_per_class`` = rows per class) with an
    ``augmentation`` attribute describing it.  Written to ``path.partial`` in chunks
    (resumed when interrupted) and renamed when complete; a complete file with the same
    description is left alone."""
    import h5py
    from tqdm import tqdm

    from . import datasets as D
    from .io import finish

    info = D.inspect(source, split="train")
    p = info["params"]
    rows = np.asarray(rows, np.int64)
    angles = np.asarray(angles, np.float64)
    if rows.shape != angles.shape or rows.ndim != 1:
        raise ValueError("rows and angles must be 1-D of equal length")
    n_src = info["n"]
    if rows.size and (rows.min() < 0 or rows.max() >= n_src):
        raise ValueError(f"rows must be in [0, {n_src - 1}]")
    labels = D.load(source, fields=("label",))["label"]
    per = np.bincount(np.concatenate([labels, labels[rows]]), minlength=D.NUM_CLASSES)
    per = per[list(p["classes"])]
    if per.min() != per.max():
        raise ValueError(f"the augmented set must have equally many rows per class, got "
                         f"{per.tolist()}")
    n_pc = int(per[0])
    desc = json.dumps({"arm": arm, "source": os.path.abspath(os.fspath(source)),
                       "source_args": info["args"], "extra_rows": int(rows.size),
                       "rows_sha": _digest(rows), "angles_sha": _digest(angles),
                       **(meta or {})}, sort_keys=True)
    path = os.fspath(path)
    partial = path + ".partial"
    if os.path.exists(path):
        with h5py.File(path, "r") as f:
            if f.attrs.get("augmentation") == desc:
                return path
        raise ValueError(f"{path} exists and holds another augmented set; delete it or use "
                         f"another output directory")
    if os.path.exists(partial):
        with h5py.File(partial, "r") as f:
            same = f.attrs.get("augmentation") == desc
        if not same:
            os.remove(partial)
    if not os.path.exists(partial):
        q = D.check_params(p["family"], "train", n_pc, p["seed"], p["file"], p["classes"])
        D.create(partial, q, command=f"anomgrad augment ({arm} arm)")
        with h5py.File(partial, "r+") as f:
            f.attrs["augmentation"] = desc
            f.attrs["preprocessing"] = (D.PREPROCESSING + f"; then rows {n_src}.. are copies of "
                                        f"source rows rotated in z before min-max ({arm} arm)")
    n_out = n_src + rows.size
    src_row = np.concatenate([np.arange(n_src), rows])
    ang = np.concatenate([np.full(n_src, np.nan), angles])
    with h5py.File(partial, "r+") as f:
        done = int(f["progress"][0])
        with tqdm(total=n_out, initial=done, unit="traj", unit_scale=True, disable=not progress,
                  desc=f"{arm} set", file=sys.stderr, mininterval=0.5) as bar:
            for lo in range(done, n_out, chunk):
                hi = min(n_out, lo + chunk)
                d = D.load(source, fields=("x", "z", "label", "alpha", "T", "index"),
                           rows=src_row[lo:hi])
                a = ang[lo:hi]
                rot = ~np.isnan(a)
                if rot.any():
                    d["z"][rot] = rotate(d["z"][rot], a[rot])
                    d["x"][rot] = D.minmax(d["z"][rot])
                for name in ("x", "z", "label", "alpha", "T", "index"):
                    f[name].write_direct(np.ascontiguousarray(d[name]), dest_sel=np.s_[lo:hi])
                f.flush()
                f["progress"][0] = hi
                f.flush()
                bar.update(hi - lo)
    finish(partial, path)
    return path


def _digest(a: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


# ---------------------------------------------------------------------------------
# Noise robustness


def noisy_positions(z, T, sigma: float, seed: int) -> np.ndarray:
    """A new array: the clean normalized positions ``z`` (n, 2, 1000), left-padded with
    lengths ``T``, plus localization noise ``sigma * N(0, 1)`` on every valid step
    (``ag.add_noise(z, sigma, seed, lengths=T)``); the padding stays 0 and ``z`` is not
    modified."""
    from .processing import add_noise

    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be finite and >= 0, got {sigma!r}")
    if sigma == 0:
        return np.array(z, dtype=np.float32, copy=True)
    return add_noise(z, sigma, seed=seed, lengths=np.asarray(T, np.int64))


def noisy_inputs(z, T, sigma: float, seed: int) -> np.ndarray:
    """Network inputs at noise level ``sigma``: min-max of :func:`noisy_positions`."""
    from . import datasets as D

    return D.minmax(noisy_positions(z, T, sigma, seed))


def noise_levels(z, T, sigmas, seed: int):
    """Yield ``(i, sigma, noisy positions)`` for every level: each level's noise is added
    to the clean ``z`` (never to the previous level's output), with seed
    ``noise_seed(seed, i)``."""
    for i, s in enumerate(sigmas):
        yield i, s, noisy_positions(z, T, s, noise_seed(seed, i))


def predict(model, x, batch_size: int = 1024) -> np.ndarray:
    """Predicted labels of ``model`` for inputs ``x`` (n, 2, 1000), in batches."""
    import torch

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
    from matplotlib.figure import Figure

    from .io import atomic_savefig

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
            ax.plot(paper["sigma"], paper[arm], ls=":", color=col, lw=1,
                    label=f"{lab} (paper, noise accumulated)")
    ax.set_xlabel(r"localization noise $\sigma$ = 1/SNR")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    if title:
        ax.set_title(title, fontsize=9)
    ins = ax.inset_axes([0.64, 0.58, 0.33, 0.36])
    ins.errorbar(s, summary["difference"], yerr=np.nan_to_num(summary["difference_unc"]),
                 color="k", marker="o", ms=3, lw=1, capsize=2, label="ours")
    if paper:
        ins.plot(paper["sigma"], np.subtract(paper["targeted"], paper["random"]), ":",
                 color="0.4", lw=1, label="paper")
    ins.axhline(0, color="0.7", lw=0.6)
    ins.set_ylabel(r"$\Delta$ accuracy (pt)", fontsize=6)
    ins.tick_params(labelsize=6)
    ins.legend(fontsize=5)
    atomic_savefig(fig, path)


# ---------------------------------------------------------------------------------
# The whole experiment


def _device(device):
    import torch

    return torch.device(device if device is not None else
                        ("cuda" if torch.cuda.is_available() else "cpu"))


def _train_done(run_dir) -> bool:
    p = os.path.join(run_dir, "summary.json")
    if not os.path.exists(p) or not os.path.exists(os.path.join(run_dir, "best.pt")):
        return False
    with open(p) as f:
        return json.load(f).get("stopped") != "stop_after"


def run(out, *, models: int = 5, train=None, val=None, test=None, base=None,
        n_per_class: int = 10000, base_files: int = 5, fraction: float = FRACTION,
        sigmas=SIGMAS, seed: int = 0, recipe: str = "paper", base_recipe: str | None = None,
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
    from . import datasets as D
    from .nn import load_checkpoint
    from .io import atomic_write_csv, atomic_write_json
    from .train import train as train_fn

    t_start = time.perf_counter()
    models = V.check_int("models", models, 1, 1000)
    n_per_class = V.check_int("n_per_class", n_per_class, 1, D.MAX_PER_CLASS)
    base_files = V.check_int("base_files", base_files, 1, 100)
    fraction = check_fraction(fraction)
    sigmas = check_sigmas(sigmas)
    seed = V.check_seed(seed)
    if recipe not in ("paper", "fast"):
        raise ValueError(f"recipe must be 'paper' or 'fast', got {recipe!r}")
    base_recipe = recipe if base_recipe is None else base_recipe
    if base_recipe not in ("paper", "fast"):
        raise ValueError(f"base_recipe must be 'paper' or 'fast', got {base_recipe!r}")
    if test_rows is not None:
        test_rows = V.check_int("test_rows", test_rows, 1)
    for name, f in (("train", train), ("val", val), ("test", test)):
        if f is not None:
            D.inspect(f, family="varying", split=name)
    if base is not None and not os.path.exists(base):
        raise ValueError(f"base: {base}: no such checkpoint")
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    dev = _device(device)
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if progress else (lambda m: None)
    train_kw = dict(width=width, epochs=epochs, batch_size=batch_size, lr=lr,
                    total_steps=total_steps, minutes=minutes, epoch_samples=epoch_samples,
                    device=str(dev), progress=progress)
    # what fixes the results (``models`` may change: more networks extend the run)
    settings = {"fraction": fraction, "sigmas": list(sigmas), "seed": seed,
                "recipe": recipe, "test_rows": test_rows,
                **{k: v for k, v in train_kw.items() if k not in ("device", "progress")}}
    _check_settings(out, settings)
    settings = dict(settings, models=models)

    # ---- data -------------------------------------------------------------------------
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

    # ---- base model ----------------------------------------------------------------------
    if base is None:
        bdir = os.path.join(out, "base")
        if not _train_done(bdir):
            say(f"augment: training the base model in {bdir}")
            # the arms' training options apply to the base model when the recipes agree
            kw = dict(train_kw) if base_recipe == recipe else dict(
                width=width, minutes=minutes, device=str(dev), progress=progress)
            train_fn(bdir, "varying", base_recipe, data=base_train, val=val, seed=seed,
                     resume=True, **kw)
        base = os.path.join(bdir, "best.pt")

    # ---- ranking scores ------------------------------------------------------------------
    src_info = D.inspect(train)
    scores_path = os.path.join(out, "scores.npz")
    key = json.dumps({"base": os.path.abspath(base), "base_mtime": os.path.getmtime(base),
                      "train": src_info["args"]}, sort_keys=True)
    scores = None
    if os.path.exists(scores_path):
        with np.load(scores_path) as z:
            if str(z["key"]) == key:
                scores, labels = z["scores"], z["label"]
    if scores is None:
        say("augment: Grad-CAM ranking of the training file")
        model, _ = load_checkpoint(base, map_location=dev)
        d = D.load(train, fields=("x", "label"))
        scores = gradcam_scores(model, d["x"], d["label"], progress=progress)
        labels = d["label"]
        del d, model
        _save_npz(scores_path, scores=scores, label=labels, key=np.array(key))

    # ---- selection and augmented sets ---------------------------------------------------
    sel = selection(scores, labels, fraction, seed)
    _save_npz(os.path.join(out, "selection.npz"),
              **{f"{a}_rows": sel[a][0] for a in ARMS}, **{f"{a}_angles": sel[a][1] for a in ARMS})
    os.makedirs(os.path.join(out, "sets"), exist_ok=True)
    sets = {}
    for arm in ARMS:
        sets[arm] = write_set(train, sel[arm][0], sel[arm][1],
                              os.path.join(out, "sets", f"{arm}.h5"), arm=arm,
                              meta={"fraction": fraction, "seed": seed,
                                    "base": os.path.abspath(base)}, progress=progress)

    # ---- training -----------------------------------------------------------------------
    runs = {(arm, k): os.path.join(out, "models", f"{arm}_{k}") for k in range(models)
            for arm in ARMS}
    for (arm, k), rdir in runs.items():
        if _train_done(rdir):
            continue
        say(f"augment: training {arm} model {k + 1}/{models} (seed {seed + k})")
        train_fn(rdir, "varying", recipe, data=[sets[arm]], val=val,
                 seed=(seed + k) % 2**64, resume=True, **train_kw)

    # ---- noise sweep --------------------------------------------------------------------
    td = D.load(test, fields=("z", "label", "T"))
    rows = balanced_rows(td["label"], test_rows)
    z, y, T = td["z"][rows], td["label"][rows], td["T"][rows]
    del td
    results = {}
    for key2, rdir in runs.items():
        p = os.path.join(rdir, "noise.json")
        results[key2] = {}
        if os.path.exists(p):
            with open(p) as f:
                r = json.load(f)
            if r.get("test") == os.path.abspath(test) and r.get("rows") == int(y.size):
                results[key2] = r["levels"]
    loaded = {}
    todo_levels = [s for s in sigmas if any(str(s) not in results[k2] for k2 in runs)]
    bar = tqdm_levels(len(todo_levels), progress)
    for i, s, zn in noise_levels(z, T, sigmas, seed):
        todo = [k2 for k2 in runs if str(s) not in results[k2]]
        if not todo:
            continue
        x = D.minmax(zn)
        del zn
        for k2 in todo:
            if k2 not in loaded:
                loaded[k2], _ = load_checkpoint(os.path.join(runs[k2], "best.pt"),
                                                map_location=dev)
            pred = predict(loaded[k2], x)
            ok = pred == y
            results[k2][str(s)] = {
                "accuracy": 100.0 * float(ok.mean()),
                "per_class": {D.CLASS_NAMES[c]: 100.0 * float(ok[y == c].mean())
                              for c in np.unique(y)},
                "noise_seed": noise_seed(seed, i)}
            atomic_write_json(os.path.join(runs[k2], "noise.json"),
                              {"test": os.path.abspath(test), "rows": int(y.size),
                               "levels": results[k2]})
        del x
        bar.update(1)
    bar.close()
    acc = {arm: [[results[(arm, k)][str(s)]["accuracy"] for s in sigmas] for k in range(models)]
           for arm in ARMS}
    summ = summarize(acc, sigmas)
    summary = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "settings": settings,
        "train": os.path.abspath(train), "val": os.path.abspath(val),
        "test": os.path.abspath(test), "test_rows_used": int(y.size),
        "base": os.path.abspath(base),
        "sets": {arm: {"path": sets[arm], "rows": int(D.inspect(sets[arm])["n"]),
                       "extra": int(sel[arm][0].size),
                       "extra_per_class": np.bincount(labels[sel[arm][0]],
                                                      minlength=D.NUM_CLASSES).tolist()}
                 for arm in ARMS},
        "model_seeds": [(seed + k) % 2**64 for k in range(models)],
        "noise_seeds": [noise_seed(seed, i) for i in range(len(sigmas))],
        "accuracy": acc, "summary": summ, "paper": PAPER,
        "per_model": {f"{a}_{k}": results[(a, k)] for (a, k) in runs},
        "wall_seconds_this_call": round(time.perf_counter() - t_start, 3),
    }
    atomic_write_json(os.path.join(out, "augment.json"), summary)
    table = []
    for i, s in enumerate(sigmas):
        row = {"sigma": s}
        for key3 in ("targeted", "targeted_sem", "random", "random_sem", "difference",
                     "difference_unc", "paired_difference", "paired_difference_sem"):
            row[key3] = round(summ[key3][i], 4)
        if s in PAPER["sigma"]:
            j = PAPER["sigma"].index(s)
            row.update(paper_targeted=PAPER["targeted"][j], paper_random=PAPER["random"][j],
                       paper_difference=round(PAPER["targeted"][j] - PAPER["random"][j], 2),
                       paper_effective_sigma=PAPER["effective_sigma"][j])
        table.append(row)
    atomic_write_csv(os.path.join(out, "augment.csv"), table,
                     list(table[0]) + [k for k in ("paper_targeted", "paper_random",
                                                   "paper_difference", "paper_effective_sigma")
                                       if k not in table[0]])
    atomic_write_csv(os.path.join(out, "augment_models.csv"),
                     [{"arm": a, "model": k, "seed": seed + k, "sigma": s,
                       "accuracy": round(acc[a][k][i], 4)}
                      for a in ARMS for k in range(models) for i, s in enumerate(sigmas)])
    figure(summ, os.path.join(out, "augment.png"),
           title=f"{models} models per arm, {int(y.size)} test trajectories")
    return summary


def tqdm_levels(n, progress):
    from tqdm import tqdm

    return tqdm(total=n, disable=not progress, desc="noise levels", unit="level", file=sys.stderr)


def _save_npz(path, **arrays) -> None:
    from .io import atomic_savez

    atomic_savez(path, **arrays)


def _check_settings(out: str, settings: dict) -> None:
    """Refuse to continue a run directory made with other settings."""
    from .io import atomic_write_json

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


__all__ = ["ARMS", "FRACTION", "PAPER", "SIGMAS", "balanced_rows", "extra_count", "figure",
           "gradcam_scores", "noise_levels", "noise_seed", "noisy_inputs", "noisy_positions",
           "predict", "rotate", "rotation_angles", "run", "select_random", "select_targeted",
           "selection", "summarize", "write_set"]
