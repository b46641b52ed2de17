"""The paper's experiments as file-level runs, and ``anomgrad reproduce``.

* :func:`erasure_experiment` (``anomgrad erasure``): targeted vs random erasure per
  Grad-CAM decile band (the paper's Fig. 3) through :func:`anomgrad.erasure.erasure`,
  chunked and resumable, with JSON/CSV numbers, a per-class CSV and a PNG with the
  published curves overlaid.
* :func:`relevance_experiment` (``anomgrad relevance``): raw layer-4 Grad-CAM cells
  (signed, true labels) against the window statistics AC/CS/SG/VD of
  :mod:`anomgrad.relevance`, Pearson and Spearman per class, beside the published table.
* :func:`reproduce` (``anomgrad reproduce``): the whole chain (datasets of both families,
  the varying-T and T = 1000 networks, evaluation, erasure, augmentation + noise,
  probes, relevance) with every stage skipped when complete, and ``report.md`` putting
  every number beside the paper's.  ``quick=True`` is a CPU plumbing check on tiny data
  with narrow networks (minutes); the default is the paper at full size (a GPU job; see
  docs/experiments.md for the expected wall time).

Published numbers (method.md §3, §5, and the result files of the authors' repository
peardragon/ResAnDi under ``analysis_results/``) are in :data:`PAPER`.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from . import _validate as V
from .io import atomic_savez

CLASS_NAMES = ("sub-ATTM", "sub-CTRW", "sub-FBM", "sub-SBM", "super-FBM", "super-LW",
               "super-SBM", "BM")
STATS = ("AC", "CS", "SG", "VD")

# Published numbers.  Erasure: analysis_results/erasing_method/p*_{erased,random}_total_
# noiseless.npy (accuracy, varying-T model, 80,000 test trajectories).  Relevance:
# analysis_results/statistical_relevance/correlation_table_test.npy (5 T = 1000 test
# files, 400,000 trajectories), Pearson and Spearman per class and statistic.
PAPER = {
    "accuracy": {"varying": 90.36, "fixed": 94.89},
    "per_class_varying": dict(zip(CLASS_NAMES, (75.5, 93.0, 96.2, 90.9, 90.1, 96.9, 92.7, 87.5))),
    "erasure": {
        "bands": [f"{10 * b}-{10 * b + 10}" for b in range(10)],
        "targeted": [44.74, 42.67, 40.16, 36.33, 31.54, 28.95, 27.82, 26.41, 25.64, 23.75],
        "random": [27.82, 27.71, 27.89, 27.73, 25.00, 24.67, 27.71, 27.88, 27.86, 27.78],
    },
    "relevance": {  # class -> statistic -> (pearson, spearman)
        "sub-ATTM": {"AC": (-0.029, -0.021), "CS": (-0.017, -0.017), "SG": (-0.074, -0.076),
                     "VD": (0.028, 0.030)},
        "sub-CTRW": {"AC": (-0.357, -0.381), "CS": (-0.014, -0.005), "SG": (0.350, 0.423),
                     "VD": (-0.183, -0.127)},
        "sub-FBM": {"AC": (-0.218, -0.135), "CS": (-0.129, -0.129), "SG": (0.000, 0.006),
                    "VD": (-0.002, -0.002)},
        "sub-SBM": {"AC": (0.000, -0.000), "CS": (-0.000, 0.000), "SG": (0.002, -0.007),
                    "VD": (-0.377, -0.380)},
        "super-FBM": {"AC": (0.365, 0.371), "CS": (0.177, 0.212), "SG": (-0.002, 0.001),
                      "VD": (-0.002, -0.002)},
        "super-LW": {"AC": (-0.002, 0.154), "CS": (-0.000, -0.280), "SG": (-0.031, -0.106),
                     "VD": (-0.023, -0.011)},
        "super-SBM": {"AC": (-0.014, -0.015), "CS": (-0.012, -0.013), "SG": (-0.004, -0.006),
                      "VD": (0.336, 0.285)},
        "BM": {"AC": (-0.040, -0.022), "CS": (-0.035, -0.021), "SG": (0.002, 0.000),
               "VD": (0.026, 0.027)},
    },
}


# ---------------------------------------------------------------------------------
# Helpers


def _device(device):
    import torch

    return torch.device(device if device is not None else
                        ("cuda" if torch.cuda.is_available() else "cpu"))


def _seed_int(*words) -> int:
    return int(np.random.SeedSequence([int(w) for w in words]).generate_state(1, np.uint64)[0])


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _say(progress, msg):
    if progress:
        print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------
# Erasure (Fig. 3)


def erasure_experiment(checkpoint, data, out, *, n: int | None = None, seed: int = 0,
                       batch_size: int = 512, chunk: int = 8192, device=None,
                       any_family: bool = False, progress: bool = True) -> dict:
    """Targeted vs random erasure (method.md §5) of ``checkpoint`` on the dataset file
    ``data``, written to ``out``: ``erasure.json``, ``erasure.csv`` (per band),
    ``erasure_per_class.csv``, ``erasure.png``.

    n : use the first ceil(n / 8) rows of every class (None: all rows).  Rows are scored
    in chunks of ``chunk``; chunk ``j`` draws its random baseline from seed
    ``(seed, j)`` and is stored in ``out/chunks`` so an interrupted run continues.
    """
    import torch
    from tqdm import tqdm

    from . import datasets as D
    from . import erasure as E
    from .augment import balanced_rows
    from .nn import load_checkpoint
    from .io import atomic_write_csv, atomic_write_json

    t0 = time.perf_counter()
    seed = V.check_seed(seed)
    batch_size = V.check_int("batch_size", batch_size, 1)
    chunk = V.check_int("chunk", chunk, 1)
    if n is not None:
        n = V.check_int("n", n, 1)
    if not os.path.exists(checkpoint):
        raise ValueError(f"checkpoint: {checkpoint}: no such file")
    dev = _device(device)
    model, meta = load_checkpoint(checkpoint, map_location=dev)
    info = D.inspect(data, family=None if any_family else meta.get("family"))
    labels = D.load(data, fields=("label",))["label"]
    rows = balanced_rows(labels, None if n is None else -(-n // D.NUM_CLASSES))
    out = os.fspath(out)
    cdir = os.path.join(out, "chunks")
    os.makedirs(cdir, exist_ok=True)
    settings = {"checkpoint": os.path.abspath(checkpoint),
                "checkpoint_mtime": os.path.getmtime(checkpoint), "data": info["args"],
                "data_path": os.path.abspath(data), "rows": int(rows.size), "seed": seed,
                "chunk": chunk, "layer": "layer4", "nbands": 10}
    C = model.fc.out_features
    tot = {"targeted": np.zeros((10, C)), "random": np.zeros((10, C))}
    count = np.zeros(C)
    base = 0.0
    erased = np.zeros(10)
    nchunks = -(-rows.size // chunk)
    for j in tqdm(range(nchunks), disable=not progress, desc="erasure", unit="chunk",
                  file=sys.stderr):
        p = os.path.join(cdir, f"{j}.json")
        r = _read_json(p)
        if r is None or r.get("settings") != settings:
            sel = rows[j * chunk:(j + 1) * chunk]
            d = D.load(data, fields=("x", "label"), rows=sel)
            res = E.erasure(model, torch.from_numpy(d["x"]), torch.from_numpy(d["label"]),
                            seed=_seed_int(seed, j) % 2**63, batch_size=batch_size,
                            progress=False)
            cnt = np.bincount(d["label"], minlength=C)
            r = {"settings": settings, "count": cnt.tolist(),
                 "base": round(res["accuracy_no_erasure"] * len(sel) / 100),
                 "erased": (np.asarray(res["mean_cells_erased"]) * len(sel)).tolist(),
                 **{k: np.rint(np.asarray(res[f"{k}_per_class"]) * cnt / 100).astype(int).tolist()
                    for k in ("targeted", "random")}}
            atomic_write_json(p, r)
        count += r["count"]
        base += r["base"]
        erased += r["erased"]
        for k in tot:
            tot[k] += np.asarray(r[k])
    N = count.sum()
    acc = {k: (v.sum(1) / N * 100).tolist() for k, v in tot.items()}
    per_class = {k: (v / np.maximum(count, 1) * 100) for k, v in tot.items()}
    bands = E.BAND_LABELS
    result = {"bands": bands, "targeted": acc["targeted"], "random": acc["random"],
              "targeted_per_class": per_class["targeted"].tolist(),
              "random_per_class": per_class["random"].tolist(),
              "mean_cells_erased": (erased / N).tolist(),
              "accuracy_no_erasure": float(base / N * 100), "n": int(N),
              "per_class_count": count.astype(int).tolist(), "layer": "layer4", "seed": seed,
              "checkpoint": os.path.abspath(checkpoint), "data": os.path.abspath(data),
              "model_family": meta.get("family"), "paper": PAPER["erasure"],
              "wall_seconds_this_call": round(time.perf_counter() - t0, 3)}
    atomic_write_json(os.path.join(out, "erasure.json"), result)
    atomic_write_csv(os.path.join(out, "erasure.csv"), [
        {"band": b, "targeted": round(result["targeted"][i], 3),
         "random": round(result["random"][i], 3),
         "paper_targeted": PAPER["erasure"]["targeted"][i],
         "paper_random": PAPER["erasure"]["random"][i],
         "mean_cells_erased": round(result["mean_cells_erased"][i], 4)}
        for i, b in enumerate(bands)])
    atomic_write_csv(os.path.join(out, "erasure_per_class.csv"), [
        {"band": b, "class": c, "name": CLASS_NAMES[c] if c < len(CLASS_NAMES) else str(c),
         "n": int(count[c]), "targeted": round(float(per_class["targeted"][i, c]), 3),
         "random": round(float(per_class["random"][i, c]), 3)}
        for i, b in enumerate(bands) for c in range(C) if count[c] > 0])
    erasure_figure(result, os.path.join(out, "erasure.png"))
    return result


def erasure_figure(result: dict, path, paper: dict | None = PAPER["erasure"]) -> None:
    """Fig. 3-style PNG: accuracy per band erased, targeted vs random, ours and the
    paper's."""
    from matplotlib.figure import Figure

    from .io import atomic_savefig

    xs = np.arange(len(result["bands"]))
    fig = Figure(figsize=(6.4, 3.9))
    ax = fig.subplots()
    ax.plot(xs, result["targeted"], "o-", color="C3", label="Grad-CAM band erased (ours)")
    ax.plot(xs, result["random"], "s--", color="C0", label="same number at random (ours)")
    if paper:
        ax.plot(xs, paper["targeted"], "x:", color="C3", alpha=0.6, label="band erased (paper)")
        ax.plot(xs, paper["random"], "+:", color="C0", alpha=0.6, label="random (paper)")
    ax.axhline(result["accuracy_no_erasure"], color="0.6", lw=0.8,
               label=f"no erasure (ours, {result['accuracy_no_erasure']:.1f}%)")
    ax.set_xticks(xs, [f"{b}%" for b in result["bands"]], rotation=45)
    ax.set_xlabel("Grad-CAM percentile band erased")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"targeted erasure, {result['n']} trajectories", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    atomic_savefig(fig, path)


# ---------------------------------------------------------------------------------
# Statistical relevance


def relevance_experiment(checkpoint, data, out, *, batch_size: int = 512, chunk: int = 8192,
                         device=None, any_family: bool = False,
                         progress: bool = True) -> dict:
    """Pearson and Spearman correlations per class between the raw layer-4 Grad-CAM cells
    (signed, target = true label) and the window statistics of :mod:`anomgrad.relevance`
    on the preprocessed inputs, for one or more T = 1000 dataset files ``data``; written
    to ``out``: ``relevance.json``, ``relevance.csv`` (with the paper's values),
    ``relevance.png`` (heat maps, ours beside the paper's).  Cells and statistics are
    cached per chunk in ``out/chunks``."""
    import torch
    from tqdm import tqdm

    from . import datasets as D
    from . import relevance as R
    from .cam import gradcam_full
    from .nn import load_checkpoint
    from .io import atomic_write_csv, atomic_write_json

    t0 = time.perf_counter()
    batch_size = V.check_int("batch_size", batch_size, 1)
    chunk = V.check_int("chunk", chunk, 1)
    if isinstance(data, (str, os.PathLike)):
        data = [data]
    if not data:
        raise ValueError("data: at least one dataset file is needed")
    if not os.path.exists(checkpoint):
        raise ValueError(f"checkpoint: {checkpoint}: no such file")
    dev = _device(device)
    model, meta = load_checkpoint(checkpoint, map_location=dev)
    infos = [D.inspect(p, family=None if any_family else "fixed") for p in data]
    with torch.no_grad():
        L = model.forward_features(torch.zeros(1, model.in_channels, model.length, device=dev),
                                   "layer4").shape[-1]
    if L != R.N_WINDOWS or model.length != 1000:
        raise ValueError(f"checkpoint: the relevance windows need 32 layer-4 cells over 1000 "
                         f"steps, this network has {L} cells over {model.length}")
    out = os.fspath(out)
    cdir = os.path.join(out, "chunks")
    os.makedirs(cdir, exist_ok=True)
    key = {"checkpoint": os.path.abspath(checkpoint),
           "checkpoint_mtime": os.path.getmtime(checkpoint)}
    cells, feats, labels = [], [], []
    todo = [(fi, lo) for fi, info in enumerate(infos) for lo in range(0, info["n"], chunk)]
    for fi, lo in tqdm(todo, disable=not progress, desc="relevance", unit="chunk",
                       file=sys.stderr):
        info = infos[fi]
        hi = min(info["n"], lo + chunk)
        p = os.path.join(cdir, f"{fi}_{lo}.npz")
        ck = json.dumps(dict(key, data=info["args"], lo=lo, hi=hi), sort_keys=True)
        got = None
        if os.path.exists(p):
            with np.load(p) as z:
                if str(z["key"]) == ck:
                    got = (z["cells"], z["features"], z["label"])
        if got is None:
            d = D.load(data[fi], fields=("x", "label"), rows=slice(lo, hi))
            r = gradcam_full(model, torch.from_numpy(d["x"]).to(dev), "layer4",
                             torch.from_numpy(d["label"]), cam=False, cells=True,
                             batch_size=batch_size)
            got = (r.cells.cpu().numpy().astype(np.float32), R.features(d["x"]), d["label"])
            atomic_savez(p, key=np.array(ck), cells=got[0], features=got[1], label=got[2])
        cells.append(got[0])
        feats.append(got[1])
        labels.append(got[2])
    cells, feats, labels = np.concatenate(cells), np.concatenate(feats), np.concatenate(labels)
    rows = R.correlations(feats, cells, labels, class_names=CLASS_NAMES)
    for r in rows:
        pp = PAPER["relevance"].get(r["name"], {}).get(r["statistic"])
        r["paper_pearson"] = None if pp is None else pp[0]
        r["paper_spearman"] = None if pp is None else pp[1]
    largest = []
    for c in sorted({r["class"] for r in rows}):
        rc = [r for r in rows if r["class"] == c]
        best = max(rc, key=lambda r: -1 if not np.isfinite(r["pearson"]) else abs(r["pearson"]))
        pbest = max(STATS, key=lambda s: abs(PAPER["relevance"][best["name"]][s][0]))
        largest.append({"class": c, "name": best["name"], "statistic": best["statistic"],
                        "pearson": best["pearson"], "paper_statistic": pbest,
                        "paper_pearson": PAPER["relevance"][best["name"]][pbest][0]})
    result = {"rows": rows, "largest": largest, "n": int(labels.size),
              "files": [os.path.abspath(p) for p in data], "checkpoint": key["checkpoint"],
              "model_family": meta.get("family"),
              "wall_seconds_this_call": round(time.perf_counter() - t0, 3)}
    atomic_write_json(os.path.join(out, "relevance.json"), result)
    atomic_write_csv(os.path.join(out, "relevance.csv"), [
        {k: (round(v, 4) if isinstance(v, float) and np.isfinite(v) else v)
         for k, v in r.items()} for r in rows])
    relevance_figure(rows, os.path.join(out, "relevance.png"), n=int(labels.size))
    return result


def relevance_figure(rows, path, n: int | None = None) -> None:
    """2 x 2 heat maps (statistic x class): Pearson and Spearman, ours and the paper's."""
    from matplotlib.figure import Figure

    from .io import atomic_savefig

    classes = sorted({(r["class"], r["name"]) for r in rows})
    fig = Figure(figsize=(12, 6.4), layout="constrained")
    axes = fig.subplots(2, 2)
    for i, value in enumerate(("pearson", "spearman")):
        for j, who in enumerate(("ours", "paper")):
            M = np.full((len(STATS), len(classes)), np.nan)
            for r in rows:
                v = r[value] if who == "ours" else r.get(f"paper_{value}")
                if v is not None:
                    M[STATS.index(r["statistic"]), [c for c, _ in classes].index(r["class"])] = v
            ax = axes[i, j]
            im = ax.imshow(M, cmap="bwr", vmin=-0.4, vmax=0.4, aspect="auto")
            for (a, b), v in np.ndenumerate(M):
                ax.text(b, a, "" if np.isnan(v) else f"{v:.2f}", ha="center", va="center",
                        fontsize=6)
            ax.set_xticks(range(len(classes)), [nm for _, nm in classes], rotation=30,
                          ha="right", fontsize=7)
            ax.set_yticks(range(len(STATS)), STATS)
            what = f"ours (n={n})" if who == "ours" and n else who
            ax.set_title(f"{value.capitalize()} r, {what}", fontsize=8)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="r")
    atomic_savefig(fig, path)


# ---------------------------------------------------------------------------------
# reproduce


PROFILES = {
    "full": {
        "label": "full",
        "n_per_class": {"train": 10000, "val": 10000, "test": 10000},
        "train_files": 5,
        "relevance_files": 5,
        "base": {"recipe": "paper", "width": 64, "epochs": None, "epoch_samples": None,
                 "batch_size": None, "lr": None, "minutes": None, "fresh": False},
        "augment": {"models": 5, "recipe": "paper", "width": 64, "epochs": None,
                    "batch_size": None, "lr": None, "test_rows": None},
        "erasure": {"n": None},
        "probes": {"epochs": 100, "tsne_points": 5000},
    },
    "quick": {
        "label": "quick",
        "n_per_class": {"train": 256, "val": 64, "test": 128},
        "train_files": 1,
        "relevance_files": 1,
        # fresh trajectories every step (fast recipe): the quickest way to a model that is
        # clearly above chance on two CPU cores
        "base": {"recipe": "fast", "width": 8, "epochs": 3, "epoch_samples": 8192,
                 "batch_size": 128, "lr": 3e-3, "minutes": None, "fresh": True},
        "augment": {"models": 2, "recipe": "fast", "width": 8, "epochs": 4, "batch_size": 64,
                    "lr": 3e-3, "test_rows": None},
        "erasure": {"n": None},
        # the paper's lr 1e-4 on a few thousand rows needs many epochs to converge
        "probes": {"epochs": 2000, "tsne_points": 400},
    },
}

STAGES = ("data", "train_varying", "train_fixed", "evaluate", "erasure", "augment", "probes",
          "relevance")


# ``--recipe fast`` at full size: the base networks with anomgrad's fast recipe (fresh
# trajectories, 9.5 minutes each on one GPU), the augmented networks with the fast
# recipe's optimizer and schedule on the augmented file (12 passes at batch 512).
FAST_FULL = {"label": "full-fast",
             "base": {"recipe": "fast", "fresh": True, "minutes": 9.5},
             "augment": {"recipe": "fast"}}


def profile(quick: bool = False, overrides: dict | None = None,
            recipe: str | None = None) -> dict:
    """The sizes and recipes of a run: :data:`PROFILES` ``quick``/``full`` updated with
    ``overrides`` (nested dicts are merged).  ``recipe="fast"`` (full size only) applies
    :data:`FAST_FULL` first."""
    p = copy.deepcopy(PROFILES["quick" if quick else "full"])
    if recipe not in (None, "paper", "fast"):
        raise ValueError(f"recipe must be 'paper' or 'fast', got {recipe!r}")
    if recipe == "fast" and quick:
        raise ValueError("recipe: --quick has its own settings; --recipe applies to the "
                         "full-size run")

    def merge(a, b, where):
        for k, v in b.items():
            if k not in a:
                raise ValueError(f"overrides: unknown setting {where}{k!r}; known: "
                                 f"{', '.join(a)}")
            if isinstance(a[k], dict) and isinstance(v, dict):
                merge(a[k], v, f"{where}{k}.")
            else:
                a[k] = v

    if recipe == "fast":
        merge(p, FAST_FULL, "")
    merge(p, overrides or {}, "")
    return p


def hardware() -> dict:
    """What ran this: CPU, cores, memory, GPU, versions."""
    import torch

    from . import __version__

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    gpu = None
    if torch.cuda.is_available():
        gpu = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    commit = None
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        commit = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip() or None
        if commit and subprocess.run(["git", "-C", here, "status", "--porcelain",
                                      "--untracked-files=no", "--", "."],
                                     capture_output=True, text=True, timeout=10).stdout.strip():
            commit += " with uncommitted changes"
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem, "gpu": gpu,
            "torch": str(torch.__version__), "torch_threads": torch.get_num_threads(),
            "anomgrad": str(__version__), "git_commit": commit, "python": platform.python_version(),
            "platform": platform.platform()}


def _paths(out: str, prof: dict) -> dict:
    d = os.path.join(out, "data")
    p = {"out": out}
    for fam in ("varying", "fixed"):
        p[f"{fam}_train"] = [os.path.join(d, fam, f"train_{k}.h5")
                             for k in range(prof["train_files"])]
        p[f"{fam}_val"] = os.path.join(d, fam, "val.h5")
        p[f"{fam}_test"] = os.path.join(d, fam, "test.h5")
        p[f"{fam}_run"] = os.path.join(out, "runs", fam)
        p[f"{fam}_ckpt"] = os.path.join(out, "runs", fam, "best.pt")
        p[f"{fam}_eval"] = os.path.join(out, "eval", fam)
    p["fixed_relevance"] = [p["fixed_test"]] + [os.path.join(d, "fixed", f"test_{k}.h5")
                                                for k in range(1, prof["relevance_files"])]
    for s in ("erasure", "augment", "probes", "relevance"):
        p[s] = os.path.join(out, s)
    return p


def _stage_output(name: str, p: dict) -> list[str]:
    return {
        "data": p["varying_train"] + p["fixed_train"] + [p["varying_val"], p["varying_test"],
                                                         p["fixed_val"]] + p["fixed_relevance"],
        "train_varying": [p["varying_ckpt"], os.path.join(p["varying_run"], "summary.json")],
        "train_fixed": [p["fixed_ckpt"], os.path.join(p["fixed_run"], "summary.json")],
        "evaluate": [os.path.join(p["varying_eval"], "metrics.json"),
                     os.path.join(p["fixed_eval"], "metrics.json")],
        "erasure": [os.path.join(p["erasure"], f) for f in ("erasure.json", "erasure.csv",
                                                             "erasure.png")],
        "augment": [os.path.join(p["augment"], f) for f in ("augment.json", "augment.csv",
                                                             "augment.png")],
        "probes": [os.path.join(p["probes"], f) for f in ("probes.json", "probes.csv")],
        "relevance": [os.path.join(p["relevance"], f) for f in ("relevance.json",
                                                                 "relevance.csv",
                                                                 "relevance.png")],
    }[name]


def reproduce(out, *, quick: bool = False, seed: int = 0, device=None,
              recipe: str | None = None, overrides: dict | None = None,
              progress: bool = True) -> dict:
    """Run the paper's chain into ``out`` (module docstring); returns the state
    (``out/stages.json``) and writes ``out/report.md``.  A stage whose outputs exist and
    that ``stages.json`` records as done is skipped; an interrupted stage continues
    (every stage is resumable on its own)."""

    from . import datasets as D
    from . import augment as A
    from . import probes as P
    from .evaluate import evaluate
    from .io import atomic_write_json
    from .train import train

    seed = V.check_seed(seed)
    prof = profile(quick, overrides, recipe)
    out = os.fspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"out: {out} exists and is not a directory")
    os.makedirs(out, exist_ok=True)
    dev = _device(device)
    p = _paths(out, prof)
    ident = {"profile": prof, "seed": seed}
    pj = os.path.join(out, "profile.json")
    have = _read_json(pj)
    if have is not None and have != json.loads(json.dumps(ident)):
        what = "a quick run" if have.get("profile", {}).get("label") == "quick" else "a run"
        raise ValueError(f"out: {out} holds {what} with other settings (profile.json: seed "
                         f"{have.get('seed')}, profile {have.get('profile', {}).get('label')}); "
                         f"use another --out, or the same settings to continue it")
    if have is None:
        atomic_write_json(pj, ident)
    if not quick and dev.type == "cpu":
        _say(progress, "reproduce: full size on a CPU takes weeks; it is meant for a GPU "
                       "(see docs/experiments.md). Continuing anyway.")
    sp = os.path.join(out, "stages.json")
    state = _read_json(sp) or {"stages": {}}
    state["hardware"] = hardware()
    state["device"] = str(dev)
    calls = state.setdefault("calls", [])
    calls.append({"started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                  "device": str(dev)})
    npc = prof["n_per_class"]
    b, a = prof["base"], prof["augment"]

    def st_data():
        for fam in ("varying", "fixed"):
            os.makedirs(os.path.join(out, "data", fam), exist_ok=True)
            for k, f in enumerate(p[f"{fam}_train"]):
                D.write(f, fam, "train", npc["train"], seed, file=k, progress=progress)
            D.write(p[f"{fam}_val"], fam, "val", npc["val"], seed, progress=progress)
        D.write(p["varying_test"], "varying", "test", npc["test"], seed, progress=progress)
        for k, f in enumerate(p["fixed_relevance"]):
            D.write(f, "fixed", "test", npc["test"], seed, file=k, progress=progress)

    def st_train(fam):
        def run():
            data = None if b["fresh"] else p[f"{fam}_train"]
            kw = {k: b[k] for k in ("epochs", "epoch_samples", "batch_size", "lr", "minutes")
                  if b[k] is not None}
            train(p[f"{fam}_run"], fam, b["recipe"], data=data, val=p[f"{fam}_val"], seed=seed,
                  width=b["width"], device=str(dev), resume=True, progress=progress, **kw)
        return run

    def st_evaluate():
        for fam in ("varying", "fixed"):
            if not os.path.exists(os.path.join(p[f"{fam}_eval"], "metrics.json")):
                evaluate(p[f"{fam}_ckpt"], p[f"{fam}_test"], out=p[f"{fam}_eval"],
                         device=str(dev), progress=progress)

    def st_erasure():
        erasure_experiment(p["varying_ckpt"], p["varying_test"], p["erasure"],
                           n=prof["erasure"]["n"], seed=seed, device=str(dev),
                           progress=progress)

    def st_augment():
        A.run(p["augment"], models=a["models"], train=p["varying_train"][0],
              val=p["varying_val"], test=p["varying_test"], base=p["varying_ckpt"], seed=seed,
              recipe=a["recipe"], width=a["width"], epochs=a["epochs"],
              batch_size=a["batch_size"], lr=a["lr"], test_rows=a["test_rows"],
              device=str(dev), progress=progress)

    def st_probes():
        P.run(p["fixed_ckpt"], p["probes"], train=p["fixed_train"], test=p["fixed_test"],
              seed=seed, epochs=prof["probes"]["epochs"],
              tsne_points=prof["probes"]["tsne_points"], device=str(dev), progress=progress)

    def st_relevance():
        relevance_experiment(p["fixed_ckpt"], p["fixed_relevance"], p["relevance"],
                             device=str(dev), progress=progress)

    funcs = {"data": st_data, "train_varying": st_train("varying"),
             "train_fixed": st_train("fixed"), "evaluate": st_evaluate, "erasure": st_erasure,
             "augment": st_augment, "probes": st_probes, "relevance": st_relevance}
    t_call = time.perf_counter()
    ran = []
    for name in STAGES:
        rec = state["stages"].get(name)
        if (rec and rec.get("status") == "done"
                and all(os.path.exists(f) for f in _stage_output(name, p))):
            _say(progress, f"reproduce: {name} complete, skipped")
            continue
        _say(progress, f"reproduce: stage {name}")
        t = time.perf_counter()
        resumed = bool(rec) and rec.get("status") == "running"
        state["stages"][name] = {"status": "running"}
        atomic_write_json(sp, state)
        funcs[name]()
        state["stages"][name] = {
            "status": "done", "seconds": round(time.perf_counter() - t, 3),
            "resumed": resumed,
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "device": str(dev)}
        ran.append(name)
        atomic_write_json(sp, state)
    calls[-1]["seconds"] = round(time.perf_counter() - t_call, 3)
    calls[-1]["stages_run"] = ran
    atomic_write_json(sp, state)
    write_report(out, prof, seed, state)
    _say(progress, f"reproduce: report written to {os.path.join(out, 'report.md')}")
    return state


# ---------------------------------------------------------------------------------
# report.md


def _f(v, nd=2):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return f"{v:.{nd}f}"


def _pm(m, e, nd=2):
    if e is None or not np.isfinite(e):
        return _f(m, nd)
    return f"{m:.{nd}f} ± {e:.{nd}f}"


def write_report(out, prof, seed, state) -> str:
    """``out/report.md``: every number of the run beside the paper's."""
    from .io import atomic_write_text

    p = _paths(out, prof)
    quick = prof["label"] == "quick"
    hw = state.get("hardware", {})
    L = []
    L.append("# ResAnDi reproduction report (anomgrad reproduce)\n")
    sizes = (f"{prof['n_per_class']['train']} training trajectories per class per file "
             f"({prof['train_files']} file(s) per family), {prof['n_per_class']['test']} per "
             f"class for testing, width-{prof['base']['width']} networks, base recipe "
             f"`{prof['base']['recipe']}`, {prof['augment']['models']} models per "
             f"augmentation arm (recipe `{prof['augment']['recipe']}`)")
    if quick:
        L.append("> **QUICK RUN: a plumbing check, not a reproduction.** Tiny datasets "
                 f"and narrow networks trained for seconds: {sizes}. The numbers only show "
                 "that every stage runs and produces sensible output; they are not "
                 "comparable with the paper's.\n")
    elif prof == PROFILES["full"]:
        L.append(f"Full size, the paper's protocol: {sizes}.\n")
    elif prof == profile(False, recipe="fast"):
        L.append(f"Full size with anomgrad's fast recipe instead of the published one: "
                 f"{sizes}.\n")
    else:
        L.append(f"> **CUSTOM SIZES** (not the paper's): {sizes}.\n")
    total = sum(s.get("seconds", 0.0) for s in state["stages"].values())
    L.append("## Run\n")
    L.append(f"* Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}; "
             f"device `{state.get('device')}`.")
    gpu = ", ".join(hw["gpu"]) if hw.get("gpu") else "none"
    L.append(f"* Hardware: CPU {hw.get('cpu')} ({hw.get('cores')} logical cores, "
             f"{hw.get('memory_gib')} GiB); GPU: {gpu}.")
    L.append(f"* Software: anomgrad {hw.get('anomgrad')} (git {hw.get('git_commit')}), torch "
             f"{hw.get('torch')} ({hw.get('torch_threads')} threads), Python {hw.get('python')}.")
    L.append(f"* Seeds: everything derives from `--seed {seed}`: dataset files (seed {seed}, "
             f"file numbers 0..), network initialisation and batch order (`ag.train` seed "
             f"{seed}), erasure random baseline (chunk j: SeedSequence([{seed}, j])), "
             f"augmentation (angles and random-arm rows from SeedSequence([{seed}, 0xA6, arm]), "
             f"model k of both arms trained with seed {seed} + k, noise level i with "
             f"SeedSequence([{seed}, 0x5E, i])), probes (balancing SeedSequence([{seed}, 0xBA1, "
             f"2k(+1)]), head init seed {seed} + k, t-SNE random_state {seed}).")
    L.append(f"* Total wall time of the stages: {total:.1f} s ({total / 60:.1f} min).\n")
    L.append("| stage | wall time (s) | status |")
    L.append("| --- | ---: | --- |")
    for name in STAGES:
        s = state["stages"].get(name, {})
        L.append(f"| {name} | {_f(s.get('seconds'), 1)} | {s.get('status', 'not run')} |")
    L.append("")

    # ---- accuracy
    L.append("## 1. Test accuracy (method.md §3)\n")
    ev = {fam: _read_json(os.path.join(p[f"{fam}_eval"], "metrics.json"))
          for fam in ("varying", "fixed")}
    L.append("| family | ours (%) | paper (%) | difference (points) | test trajectories |")
    L.append("| --- | ---: | ---: | ---: | ---: |")
    for fam in ("varying", "fixed"):
        e = ev[fam]
        if e:
            acc = 100 * e["accuracy"]
            L.append(f"| {fam} | {acc:.2f} | {PAPER['accuracy'][fam]:.2f} | "
                     f"{acc - PAPER['accuracy'][fam]:+.2f} | {e['n']} |")
    L.append("")
    if ev["varying"]:
        L.append("Per-class accuracy, varying T (%):\n")
        L.append("| class | ours | paper | ours, T = 1000 model on T = 1000 |")
        L.append("| --- | ---: | ---: | ---: |")
        for c in CLASS_NAMES:
            o = ev["varying"]["per_class"].get(c, {}).get("accuracy")
            fx = (ev["fixed"] or {}).get("per_class", {}).get(c, {}).get("accuracy")
            L.append(f"| {c} | {_f(None if o is None else 100 * o)} | "
                     f"{PAPER['per_class_varying'][c]:.1f} | "
                     f"{_f(None if fx is None else 100 * fx)} |")
        cm = np.asarray(ev["varying"]["confusion"], np.float64)
        if cm.shape[0] >= 8 and cm[0].sum() > 0:
            L.append(f"\nsub-ATTM classified as BM: ours {100 * cm[0, 7] / cm[0].sum():.1f} %, "
                     "paper 12.5 %.")
        L.append("")
        L.append("Figures: `eval/varying/confusion.png`, `eval/fixed/confusion.png`, "
                 "`accuracy_vs_alpha.png`, `accuracy_vs_T.png` there.\n")

    # ---- erasure
    er = _read_json(os.path.join(p["erasure"], "erasure.json"))
    L.append("## 2. Targeted erasure (Fig. 3)\n")
    if er:
        L.append(f"Varying-T model, {er['n']} test trajectories; accuracy without erasure "
                 f"{er['accuracy_no_erasure']:.2f} %. Figure: `erasure/erasure.png`.\n")
        L.append("| band | ours targeted | ours random | paper targeted | paper random | "
                 "cells erased |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for i, band in enumerate(er["bands"]):
            L.append(f"| {band} | {er['targeted'][i]:.2f} | {er['random'][i]:.2f} | "
                     f"{PAPER['erasure']['targeted'][i]:.2f} | "
                     f"{PAPER['erasure']['random'][i]:.2f} | "
                     f"{er['mean_cells_erased'][i]:.2f} |")
        gap = er["targeted"][0] - er["targeted"][-1]
        pgap = PAPER["erasure"]["targeted"][0] - PAPER["erasure"]["targeted"][-1]
        L.append(f"\nDrop from band 0-10 to band 90-100: ours {gap:+.2f} points, paper "
                 f"{pgap:+.2f} points.\n")

    # ---- augmentation
    ag_ = _read_json(os.path.join(p["augment"], "augment.json"))
    L.append("## 3. Targeted augmentation and noise robustness (Fig. 5)\n")
    if ag_:
        s = ag_["summary"]
        from .augment import PAPER as AP

        L.append(f"{s['targeted_models']} models per arm; {ag_['sets']['targeted']['rows']} "
                 f"training rows per arm ({ag_['sets']['targeted']['extra']} rotated copies); "
                 f"{ag_['test_rows_used']} test trajectories. Mean ± s.e.m. over the models, in "
                 "%; difference = targeted - random ± sqrt(sem_t² + sem_r²). Noise is added "
                 "to a clean copy at every level; the published code let it accumulate, so "
                 "its level sigma_k has the effective std in the last column. Figure: "
                 "`augment/augment.png`.\n")
        L.append("| sigma | ours targeted | ours random | ours difference | paper targeted | "
                 "paper random | paper difference | paper effective sigma |")
        L.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for i, sg in enumerate(s["sigma"]):
            j = AP["sigma"].index(sg) if sg in AP["sigma"] else None
            pt = AP["targeted"][j] if j is not None else None
            pr = AP["random"][j] if j is not None else None
            L.append(f"| {sg:.1f} | {_pm(s['targeted'][i], s['targeted_sem'][i])} | "
                     f"{_pm(s['random'][i], s['random_sem'][i])} | "
                     f"{_pm(s['difference'][i], s['difference_unc'][i])} | {_f(pt)} | {_f(pr)} | "
                     f"{'n/a' if pt is None else f'{pt - pr:+.2f}'} | "
                     f"{'n/a' if j is None else AP['effective_sigma'][j]} |")
        L.append("")

    # ---- probes
    pr_ = _read_json(os.path.join(p["probes"], "probes.json"))
    L.append("## 4. Layer-wise linear probes (T = 1000 model)\n")
    if pr_:
        L.append(f"Adam lr {pr_['lr']}, batch {pr_['batch_size']}, {pr_['epochs']} epochs on "
                 "balanced pooled features; held-out = the T = 1000 test file (balanced). "
                 "t-SNE: `probes/tsne.png`.\n")
        L.append("| block | groups | ours (%) | paper (%) | difference | train / held-out rows |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for r in pr_["table"]:
            L.append(f"| {r['block']} ({r['layer']}) | {r['groups']} | {r['accuracy']:.2f} | "
                     f"{r['paper']:.2f} | {r['difference']:+.2f} | "
                     f"{r['n_train']} / {r['n_test']} |")
        L.append("")

    # ---- relevance
    rl = _read_json(os.path.join(p["relevance"], "relevance.json"))
    L.append("## 5. Statistical relevance (T = 1000 model)\n")
    if rl:
        L.append(f"{rl['n']} trajectories x 32 windows; Pearson r of the raw layer-4 Grad-CAM "
                 "cell with each statistic, ours (paper). Spearman in `relevance/relevance.csv`; "
                 "heat maps in `relevance/relevance.png`.\n")
        L.append("| class | AC | CS | SG | VD |")
        L.append("| --- | ---: | ---: | ---: | ---: |")
        by = {(r["name"], r["statistic"]): r for r in rl["rows"]}
        for c in CLASS_NAMES:
            cells = []
            for st in STATS:
                r = by.get((c, st))
                cells.append("n/a" if r is None else
                             f"{_f(r['pearson'], 3)} ({_f(r['paper_pearson'], 3)})")
            L.append(f"| {c} | " + " | ".join(cells) + " |")
        L.append("\nLargest |r| per class, ours vs the paper's:\n")
        L.append("| class | ours | paper |")
        L.append("| --- | --- | --- |")
        for r in rl["largest"]:
            L.append(f"| {r['name']} | {r['statistic']} {_f(r['pearson'], 3)} | "
                     f"{r['paper_statistic']} {_f(r['paper_pearson'], 3)} |")
        L.append("")
    L.append("## Settings\n")
    L.append("```json\n" + json.dumps(prof, indent=1) + "\n```\n")
    text = "\n".join(L)
    atomic_write_text(os.path.join(out, "report.md"), text)
    return text


__all__ = ["PAPER", "PROFILES", "STAGES", "erasure_experiment", "erasure_figure", "hardware",
           "profile", "relevance_experiment", "relevance_figure", "reproduce", "write_report"]
