"""Targeted erasure (docs/method.md §5, the paper's Fig. 3).

For every trajectory and every decile band (p, p + 10) of its own upsampled layer-4
Grad-CAM (signed, nearest, target = true label), every Grad-CAM cell whose values all
lie strictly inside the band is erased (set to 0 in both axes of the min-max-scaled
input) and the trajectory is scored again.  The band masks come from the fused Grad-CAM
kernel.  Two random baselines erase as much at random (both are in every result):

* ``random`` (random cells): the same number of cells, uniformly without replacement
  (the published code's ``random="Pure"``); drawn from a seeded torch generator.  The
  paper's random row compares with this one (``paper.ERASURE_BASELINE`` says why);
* ``random_runs`` (random runs): runs of consecutive cells with the lengths of the
  targeted runs, in a random order, each placed at a uniform start where it overlaps no
  earlier run and does not reach the last cell (the published ``get_random_indexes``,
  its other option).  Where no such placement exists (the published code would loop for
  ever) the row falls back to random cells and ``random_runs_fallback`` counts it.
  Drawn from a seeded numpy generator, so a run is reproducible.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch
from tqdm import tqdm

from .. import _validate as V
from ..cam import cam_nearest_index, gradcam_full
from ..io.atomic import atomic_savefig, atomic_write_csv, atomic_write_json, read_json
from ..resandi import datasets as D
from ..resandi.nn import load_checkpoint
from . import paper
from .common import AMP, balanced_rows, check_checkpoint, seed_int

BAND_LABELS = [f"{10 * b}-{10 * b + 10}" for b in range(10)]
BASELINES = ("targeted", "random", "random_runs")  # what is erased: the band, or as much at random
RUNS_TAG = 0x2A5  # the random-runs generator: SeedSequence([seed, RUNS_TAG])


def _erase(x: torch.Tensor, cell_mask: torch.Tensor, step_cell: torch.Tensor) -> torch.Tensor:
    """x (n, C, T) with the steps of masked cells (n, L) set to 0."""
    keep = ~cell_mask[:, step_cell]  # (n, T)
    return x * keep[:, None, :].to(x.dtype)


def _random_like(cell_mask: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """As many cells per row as cell_mask, chosen uniformly without replacement."""
    n, L = cell_mask.shape
    k = cell_mask.sum(1, keepdim=True)
    ranks = torch.rand(n, L, generator=gen).argsort(1).argsort(1)  # a random permutation
    return (ranks < k.cpu()).to(cell_mask.device)


def _runs(row: np.ndarray) -> list[int]:
    """Lengths of the runs of consecutive True cells of a boolean row."""
    edges = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
    return (np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).tolist()


def _place_runs(lengths, L: int, g: np.random.Generator):
    """Cells of the runs ``lengths`` placed in a random order at uniform free starts that
    keep the last cell free; None when they do not fit."""
    taken = np.zeros(L, bool)
    for length in g.permutation(np.asarray(lengths, np.int64)):
        free = np.concatenate([[0], np.cumsum(~taken[:L - 1])])  # free cells before each index
        starts = np.arange(0, L - length)  # start + length <= L - 1: never the last cell
        ok = starts[free[starts + length] - free[starts] == length]
        if ok.size == 0:
            return None
        s = int(ok[g.integers(ok.size)])
        taken[s:s + length] = True
    return taken


def random_runs_like(cell_mask, g: np.random.Generator, tries: int = 20):
    """Per row, runs with the lengths of ``cell_mask``'s runs placed at random (module
    docstring); returns ``(mask, rows that fell back to random cells)``."""
    mask = np.asarray(cell_mask, bool)
    out = np.zeros_like(mask)
    fallback = 0
    for i, row in enumerate(mask):
        lengths = _runs(row)
        if not lengths:
            continue
        for _ in range(tries):
            placed = _place_runs(lengths, mask.shape[1], g)
            if placed is not None:
                break
        if placed is None:
            placed = np.zeros(mask.shape[1], bool)
            placed[g.choice(mask.shape[1], int(row.sum()), replace=False)] = True
            fallback += 1
        out[i] = placed
    return out, fallback


@torch.no_grad()
def _predict(model, x):
    return model(x).argmax(1)


def erasure(model: torch.nn.Module, x, y, *, layer: str = "layer4", nbands: int = 10,
            seed: int = 0, batch_size: int = 512, progress: bool = True) -> dict:
    """Accuracy after erasing each Grad-CAM band, against both random baselines.

    x : (n, 2, T) preprocessed inputs (numpy or tensor, on the model's device or CPU);
    y : (n,) true labels.  Returns a dict with per-band accuracies (``targeted``,
    ``random`` (random cells), ``random_runs``), their per-class breakdown, the mean
    number of erased cells per band, ``random_runs_fallback`` (rows per band whose runs
    did not fit) and the accuracy without erasure.
    """
    dev = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y).long()
    if x.ndim != 3 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (n, channels, T) and y (n,), got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if not isinstance(nbands, int) or nbands < 1:
        raise ValueError(f"nbands must be an integer >= 1, got {nbands!r}")
    n, _, T = x.shape
    C = model.fc.out_features if hasattr(model, "fc") else int(y.max()) + 1
    gen = torch.Generator().manual_seed(seed)
    g_runs = np.random.Generator(np.random.Philox(np.random.SeedSequence([seed, RUNS_TAG])))
    was_training = model.training
    model.eval()
    correct = {k: torch.zeros(nbands, C) for k in BASELINES}
    fallback = np.zeros(nbands, np.int64)
    base = torch.zeros(C)
    count = torch.zeros(C)
    erased = torch.zeros(nbands)
    try:
        for lo in tqdm(range(0, n, batch_size), disable=not progress, desc="erasure", unit="batch"):
            xb, yb = x[lo:lo + batch_size].to(dev), y[lo:lo + batch_size].to(dev)
            r = gradcam_full(model, xb, layer, yb, cam=False, nbands=nbands, batch_size=batch_size,
                             amp=AMP)
            L = r.bands.shape[-1]
            step_cell = cam_nearest_index(L, T).to(dev)
            onehot = torch.nn.functional.one_hot(yb, C).float().cpu()
            count += onehot.sum(0)
            base += onehot[(r.logits.argmax(1) == yb).cpu()].sum(0)
            for b in range(nbands):
                m = r.bands[:, b].to(dev)
                erased[b] += m.sum().cpu()
                runs, fb = random_runs_like(m.cpu().numpy(), g_runs)
                fallback[b] += fb
                for kind, mask in (("targeted", m), ("random", _random_like(m, gen)),
                                   ("random_runs", torch.from_numpy(runs).to(dev))):
                    ok = (_predict(model, _erase(xb, mask, step_cell)) == yb).cpu()
                    correct[kind][b] += onehot[ok].sum(0)
    finally:
        model.train(was_training)
    acc = {k: (v.sum(1) / n * 100).tolist() for k, v in correct.items()}
    per_class = {k: (v / count.clamp_min(1) * 100).tolist() for k, v in correct.items()}
    return {"bands": BAND_LABELS[:nbands] if nbands == 10 else
            [f"{100 * b / nbands:g}-{100 * (b + 1) / nbands:g}" for b in range(nbands)],
            **acc, **{f"{k}_per_class": v for k, v in per_class.items()},
            "mean_cells_erased": (erased / n).tolist(), "random_runs_fallback": fallback.tolist(),
            "accuracy_no_erasure": float(base.sum() / n * 100), "n": n, "layer": layer,
            "seed": seed}


def _chunk(model, data, sel, path, settings, seed, batch_size) -> dict:
    """Counts of chunk ``sel`` of the file (rows scored, correct per band and class),
    read from ``path`` when a run with the same settings stored them there."""
    r = read_json(path)
    if r is not None and r.get("settings") == settings:
        return r
    d = D.load(data, fields=("x", "label"), rows=sel)
    res = erasure(model, torch.from_numpy(d["x"]), torch.from_numpy(d["label"]), seed=seed,
                  batch_size=batch_size, progress=False)
    cnt = np.bincount(d["label"], minlength=model.fc.out_features)
    r = {"settings": settings, "count": cnt.tolist(),
         "base": round(res["accuracy_no_erasure"] * len(sel) / 100),
         "erased": (np.asarray(res["mean_cells_erased"]) * len(sel)).tolist(),
         "random_runs_fallback": res["random_runs_fallback"],
         **{k: np.rint(np.asarray(res[f"{k}_per_class"]) * cnt / 100).astype(int).tolist()
            for k in BASELINES}}
    atomic_write_json(path, r)
    return r


def erasure_experiment(checkpoint, data, out, *, n: int | None = None, seed: int = 0,
                       batch_size: int = 512, chunk: int = 8192, device=None,
                       any_family: bool = False, progress: bool = True) -> dict:
    """Targeted vs random erasure (docs/method.md §5) of ``checkpoint`` on the dataset file
    ``data``, written to ``out``: ``erasure.json``, ``erasure.csv`` (per band),
    ``erasure_per_class.csv``, ``erasure.png``.

    n : use the first ceil(n / 8) rows of every class (None: all rows).  Rows are scored
    in chunks of ``chunk``; chunk ``j`` draws its random baselines from seed
    ``(seed, j)`` and is stored in ``out/chunks`` so an interrupted run continues.
    """
    t0 = time.perf_counter()
    seed = V.check_seed(seed)
    batch_size = V.check_int("batch_size", batch_size, 1)
    chunk = V.check_int("chunk", chunk, 1)
    if n is not None:
        n = V.check_int("n", n, 1)
    check_checkpoint(checkpoint)
    dev = V.torch_device(device)
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
                "chunk": chunk, "layer": "layer4", "nbands": 10, "baselines": list(BASELINES)}
    C = model.fc.out_features
    tot = {k: np.zeros((10, C)) for k in BASELINES}
    count = np.zeros(C)
    base = 0.0
    erased = np.zeros(10)
    fallback = np.zeros(10, np.int64)
    nchunks = -(-rows.size // chunk)
    for j in tqdm(range(nchunks), disable=not progress, desc="erasure", unit="chunk",
                  file=sys.stderr):
        r = _chunk(model, data, rows[j * chunk:(j + 1) * chunk], os.path.join(cdir, f"{j}.json"),
                   settings, seed_int(seed, j) % 2**63, batch_size)
        count += r["count"]
        base += r["base"]
        erased += r["erased"]
        fallback += r["random_runs_fallback"]
        for k in tot:
            tot[k] += np.asarray(r[k])
    N = count.sum()
    acc = {k: (v.sum(1) / N * 100).tolist() for k, v in tot.items()}
    per_class = {k: (v / np.maximum(count, 1) * 100) for k, v in tot.items()}
    bands = BAND_LABELS
    result = {"bands": bands, **acc,
              **{f"{k}_per_class": v.tolist() for k, v in per_class.items()},
              "mean_cells_erased": (erased / N).tolist(),
              "random_runs_fallback": fallback.tolist(),
              "accuracy_no_erasure": float(base / N * 100), "n": int(N),
              "per_class_count": count.astype(int).tolist(), "layer": "layer4", "seed": seed,
              "checkpoint": os.path.abspath(checkpoint), "data": os.path.abspath(data),
              "model_family": meta.get("family"), "paper": paper.ERASURE,
              "wall_seconds_this_call": round(time.perf_counter() - t0, 3)}
    atomic_write_json(os.path.join(out, "erasure.json"), result)
    _write_tables(out, result, count, per_class)
    erasure_figure(result, os.path.join(out, "erasure.png"))
    return result


def _write_tables(out, result, count, per_class) -> None:
    """erasure.csv (per band, beside the paper's) and erasure_per_class.csv."""
    bands = result["bands"]
    atomic_write_csv(os.path.join(out, "erasure.csv"), [
        {"band": b, **{k: round(result[k][i], 3) for k in BASELINES},
         "paper_targeted": paper.ERASURE["targeted"][i],
         "paper_random": paper.ERASURE["random"][i],
         "mean_cells_erased": round(result["mean_cells_erased"][i], 4),
         "random_runs_fallback": result["random_runs_fallback"][i]}
        for i, b in enumerate(bands)])
    atomic_write_csv(os.path.join(out, "erasure_per_class.csv"), [
        {"band": b, "class": c, "name": D.CLASS_NAMES[c] if c < len(D.CLASS_NAMES) else str(c),
         "n": int(count[c]), **{k: round(float(per_class[k][i, c]), 3) for k in BASELINES}}
        for i, b in enumerate(bands) for c in range(len(count)) if count[c] > 0])


def erasure_figure(result: dict, path, paper: dict | None = paper.ERASURE) -> None:
    """Fig. 3-style PNG: accuracy per band erased, targeted vs random, ours and the
    paper's."""
    from matplotlib.figure import Figure  # lazy: matplotlib

    xs = np.arange(len(result["bands"]))
    fig = Figure(figsize=(6.4, 3.9))
    ax = fig.subplots()
    ax.plot(xs, result["targeted"], "o-", color="C3", label="Grad-CAM band erased (ours)")
    ax.plot(xs, result["random"], "s--", color="C0", label="as many random cells (ours)")
    if "random_runs" in result:
        ax.plot(xs, result["random_runs"], "^--", color="C2",
                label="random runs of the same lengths (ours)")
    if paper:
        ax.plot(xs, paper["targeted"], "x:", color="C3", alpha=0.6, label="band erased (paper)")
        ax.plot(xs, paper["random"], "+:", color="C0", alpha=0.6,
                label="random (paper, committed result files)")
    ax.axhline(result["accuracy_no_erasure"], color="0.6", lw=0.8,
               label=f"no erasure (ours, {result['accuracy_no_erasure']:.1f}%)")
    ax.set_xticks(xs, [f"{b}%" for b in result["bands"]], rotation=45)
    ax.set_xlabel("Grad-CAM percentile band erased")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"targeted erasure, {result['n']} trajectories", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    atomic_savefig(fig, path)


__all__ = ["BAND_LABELS", "erasure", "erasure_experiment", "erasure_figure"]
