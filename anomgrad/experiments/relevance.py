"""Statistical relevance of Grad-CAM (docs/method.md §5; the published code's
utils/_statistical_relevance.py).

Each preprocessed T = 1000 trajectory (min-max scaled, (2, 1000)) is cut into 32 windows
of 225 steps starting at 25 i, one per layer-4 Grad-CAM cell.  Per window, on the
increments d of each axis (224 of them):

* ``ac``   lag-1 autocorrelation: sum a_t a_{t+1} / sqrt(sum a_t^2 sum a_{t+1}^2) with a the
  centred increments (1 when the denominator is 0), averaged over the axes;
* ``kurt`` excess kurtosis of the increments in each quarter (56 steps; 0 for a constant
  quarter), averaged over axes and quarters;
* ``jump`` std over time of (|d_{t+1}| + 1e-6) / |d_t + 1e-6| (as published), max over axes;
* ``vd``   (std of the last quarter - std of the first quarter) / 4, averaged over axes,
  divided by the axes' mean std of the whole window (0 when that is 0);
* ``turn`` std over time of the turning angle arccos(v_t . v_{t+1} / |v_t||v_{t+1}|) / pi
  (0 where undefined).

|kurt|, |jump| and |turn| are min-max scaled over each trajectory's 32 windows, then
AC = ac, CS = ac * turn, SG = jump * kurt, VD = vd * kurt.  Pearson and Spearman
correlations of each with the 32 raw Grad-CAM cell values are taken per class over all
(trajectory, window) pairs.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np
import torch
from numba import njit, prange
from tqdm import tqdm

from .. import _validate as V
from ..cam import gradcam_full
from ..io.atomic import atomic_savefig, atomic_savez, atomic_write_csv, atomic_write_json
from ..resandi import datasets as D
from ..resandi.nn import load_checkpoint
from . import paper
from .common import AMP, check_checkpoint

N_WINDOWS = 32


WINDOW = 225


STRIDE = 25


STATS = ("AC", "CS", "SG", "VD")



@njit(inline="always", cache=True)
def _quarter_stats(d, lo, hi):
    """(std, excess kurtosis) of d[lo:hi], kurtosis 0 for a constant slice."""
    m = hi - lo
    mean = 0.0
    for t in range(lo, hi):
        mean += d[t]
    mean /= m
    v = 0.0
    f = 0.0
    for t in range(lo, hi):
        e = d[t] - mean
        v += e * e
        f += e * e * e * e
    v /= m
    f /= m
    sd = math.sqrt(v)
    return sd, (f / (sd**4) - 3.0 if sd != 0.0 else 0.0)



@njit(parallel=True, cache=True)
def window_statistics(x):
    """x (n, 2, T) -> raw statistics (n, 32, 5): ac, kurt, jump, vd, turn."""
    n, dim, T = x.shape
    out = np.empty((n, N_WINDOWS, 5))
    m = WINDOW - 1  # increments per window
    q = m / 4.0
    bounds = np.array([int(q * k) for k in range(5)])
    for i in prange(n):
        d = np.empty((dim, m))
        for w in range(N_WINDOWS):
            s = STRIDE * w
            for a in range(dim):
                for t in range(m):
                    d[a, t] = x[i, a, s + t + 1] - x[i, a, s + t]
            ac = 0.0
            kurt = 0.0
            jump = -np.inf
            vd_num = 0.0
            sd_all = 0.0
            for a in range(dim):
                mean = 0.0
                for t in range(m):
                    mean += d[a, t]
                mean /= m
                num = 0.0
                s0 = 0.0
                s1 = 0.0
                for t in range(m - 1):
                    e0 = d[a, t] - mean
                    e1 = d[a, t + 1] - mean
                    num += e0 * e1
                    s0 += e0 * e0
                    s1 += e1 * e1
                den = math.sqrt(s0 * s1)
                ac += num / den if den != 0.0 else 1.0
                for k in range(4):
                    kurt += _quarter_stats(d[a], bounds[k], bounds[k + 1])[1]
                # jump ratio, as published: (|d_{t+1}| + 1e-6) / |d_t + 1e-6|
                rm = 0.0
                for t in range(m - 1):
                    rm += (abs(d[a, t + 1]) + 1e-6) / abs(d[a, t] + 1e-6)
                rm /= m - 1
                rv = 0.0
                for t in range(m - 1):
                    e = (abs(d[a, t + 1]) + 1e-6) / abs(d[a, t] + 1e-6) - rm
                    rv += e * e
                jump = max(jump, math.sqrt(rv / (m - 1)))
                sd_first = _quarter_stats(d[a], bounds[0], bounds[1])[0]
                sd_last = _quarter_stats(d[a], bounds[3], bounds[4])[0]
                vd_num += (sd_last - sd_first) / 4.0
                sd_all += _quarter_stats(d[a], 0, m)[0]
            vd_num /= dim
            sd_all /= dim
            # turning angle of consecutive increments (2-D)
            tm = 0.0
            ang = np.empty(m - 1)
            for t in range(m - 1):
                vx0, vy0 = d[0, t], d[1, t] if dim > 1 else 0.0
                vx1, vy1 = d[0, t + 1], d[1, t + 1] if dim > 1 else 0.0
                den = math.sqrt((vx0 * vx0 + vy0 * vy0) * (vx1 * vx1 + vy1 * vy1))
                c = (vx0 * vx1 + vy0 * vy1) / den if den != 0.0 else np.nan
                a_ = math.acos(c) / math.pi if (c == c and -1.0 <= c <= 1.0) else 0.0
                ang[t] = a_
                tm += a_
            tm /= m - 1
            tv = 0.0
            for t in range(m - 1):
                tv += (ang[t] - tm) ** 2
            out[i, w, 0] = ac / dim
            out[i, w, 1] = kurt / (4.0 * dim)
            out[i, w, 2] = jump
            out[i, w, 3] = vd_num / sd_all if sd_all != 0.0 else 0.0
            out[i, w, 4] = math.sqrt(tv / (m - 1))
    return out



def _minmax_rows(a):
    lo = a.min(axis=1, keepdims=True)
    rng = a.max(axis=1, keepdims=True) - lo
    return (a - lo) / np.where(rng == 0, 1.0, rng)



def features(x) -> np.ndarray:
    """The four statistics AC, CS, SG, VD per window: (n, 32, 4)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] != 2 or x.shape[2] < STRIDE * (N_WINDOWS - 1) + WINDOW:
        raise ValueError(f"x must be (n, 2, T) with T >= {STRIDE * (N_WINDOWS - 1) + WINDOW}, "
                         f"got shape {x.shape}")
    raw = window_statistics(np.ascontiguousarray(x))
    ac, kurt, jump, vd, turn = (raw[..., k] for k in range(5))
    kurt, jump, turn = (_minmax_rows(np.abs(v)) for v in (kurt, jump, turn))
    return np.stack([ac, ac * turn, jump * kurt, vd * kurt], axis=-1)



def correlations(feats: np.ndarray, cells: np.ndarray, labels: np.ndarray,
                 class_names=None) -> list[dict]:
    """Pearson and Spearman r per class and statistic over all (trajectory, window) pairs.

    feats (n, 32, 4), cells (n, 32) raw Grad-CAM cell values, labels (n,).
    """
    from scipy.stats import pearsonr, spearmanr  # lazy: scipy.stats is slow to import

    feats, cells, labels = np.asarray(feats), np.asarray(cells), np.asarray(labels)
    if cells.shape != feats.shape[:2]:
        raise ValueError(f"cells must be (n, {feats.shape[1]}) to match the windows, got {cells.shape}")
    rows = []
    for c in np.unique(labels):
        sel = labels == c
        g = cells[sel].ravel().astype(np.float64)
        for k, name in enumerate(STATS):
            f = feats[sel, :, k].ravel()
            ok = np.isfinite(f)
            if ok.sum() < 3 or np.ptp(f[ok]) == 0 or np.ptp(g[ok]) == 0:
                pr = sr = float("nan")
            else:
                pr = float(pearsonr(g[ok], f[ok])[0])
                sr = float(spearmanr(g[ok], f[ok])[0])
            rows.append({"class": int(c), "name": class_names[int(c)] if class_names else str(c),
                         "statistic": name, "pearson": pr, "spearman": sr, "pairs": int(ok.sum())})
    return rows


def relevance_experiment(checkpoint, data, out, *, batch_size: int = 512, chunk: int = 8192,
                         device=None, any_family: bool = False,
                         progress: bool = True) -> dict:
    """Pearson and Spearman correlations per class between the raw layer-4 Grad-CAM cells
    (signed, target = true label) and the window statistics above
    on the preprocessed inputs, for one or more T = 1000 dataset files ``data``; written
    to ``out``: ``relevance.json``, ``relevance.csv`` (with the paper's values),
    ``relevance.png`` (heat maps, ours beside the paper's).  Cells and statistics are
    cached per chunk in ``out/chunks``."""
    t0 = time.perf_counter()
    batch_size = V.check_int("batch_size", batch_size, 1)
    chunk = V.check_int("chunk", chunk, 1)
    if isinstance(data, (str, os.PathLike)):
        data = [data]
    if not data:
        raise ValueError("data: at least one dataset file is needed")
    check_checkpoint(checkpoint)
    dev = V.torch_device(device)
    model, meta = load_checkpoint(checkpoint, map_location=dev)
    infos = [D.inspect(p, family=None if any_family else "fixed") for p in data]
    with torch.no_grad():
        L = model.forward_features(torch.zeros(1, model.in_channels, model.length, device=dev),
                                   "layer4").shape[-1]
    if L != N_WINDOWS or model.length != 1000:
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
                             batch_size=batch_size, amp=AMP)
            got = (r.cells.cpu().numpy().astype(np.float32), features(d["x"]), d["label"])
            atomic_savez(p, key=np.array(ck), cells=got[0], features=got[1], label=got[2])
        cells.append(got[0])
        feats.append(got[1])
        labels.append(got[2])
    cells, feats, labels = np.concatenate(cells), np.concatenate(feats), np.concatenate(labels)
    rows = correlations(feats, cells, labels, class_names=D.CLASS_NAMES)
    for r in rows:
        pp = paper.RELEVANCE.get(r["name"], {}).get(r["statistic"])
        r["paper_pearson"] = None if pp is None else pp[0]
        r["paper_spearman"] = None if pp is None else pp[1]
    largest = []
    for c in sorted({r["class"] for r in rows}):
        rc = [r for r in rows if r["class"] == c]
        best = max(rc, key=lambda r: -1 if not np.isfinite(r["pearson"]) else abs(r["pearson"]))
        pbest = max(STATS, key=lambda s: abs(paper.RELEVANCE[best["name"]][s][0]))
        largest.append({"class": c, "name": best["name"], "statistic": best["statistic"],
                        "pearson": best["pearson"], "paper_statistic": pbest,
                        "paper_pearson": paper.RELEVANCE[best["name"]][pbest][0]})
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
    from matplotlib.figure import Figure  # lazy: matplotlib

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


__all__ = ["N_WINDOWS", "STATS", "STRIDE", "WINDOW", "correlations", "features",
           "relevance_experiment", "relevance_figure", "window_statistics"]
