"""Statistical relevance of Grad-CAM (method.md §5; the published code's
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

import math

import numpy as np
from numba import njit, prange

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
    from scipy.stats import pearsonr, spearmanr

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


def heatmap(rows: list[dict], path, value: str = "pearson") -> None:
    """Statistic x class heat map of the correlations (PNG)."""
    from matplotlib.figure import Figure

    from .io import atomic_savefig

    classes = sorted({(r["class"], r["name"]) for r in rows})
    M = np.full((len(STATS), len(classes)), np.nan)
    for r in rows:
        M[STATS.index(r["statistic"]), [c for c, _ in classes].index(r["class"])] = r[value]
    fig = Figure(figsize=(1 + 0.8 * len(classes), 2.8))
    ax = fig.subplots()
    im = ax.imshow(M, cmap="bwr", vmin=-0.4, vmax=0.4)
    for (a, b), v in np.ndenumerate(M):
        ax.text(b, a, f"{v:.2f}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(classes)), [n for _, n in classes], rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(STATS)), STATS)
    fig.colorbar(im, ax=ax, label=f"{value} r")
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=150)
