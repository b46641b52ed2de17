"""The models at the edges of their alpha ranges, at scale (docs/benchmarks.md, "Edges").

    python bench/edges.py --out edges/                 # 10 M per case, T = 100 (minutes)
    python bench/edges.py --out edges/ --n 20000       # a sample (tests/trajectories/test_edges.py)

For every case -- a model at an edge of its alpha range, 2-D, float32, T = 100 (and the
extreme lengths T = 2 and T = 100,000) -- it generates ``n`` trajectories in chunks (the
rows of one call, ``start=`` per chunk), and checks

* that every position is finite (the count of NaN/inf is reported, never hidden), and
* that the ensemble mean-squared displacement at about 12 log-spaced lags lies within
  its error bar of the exact curve of tests/stats.py (docs/method.md §1 with andi's
  discrete-time details): |mean - exact| <= z se + the exact curve's own numerical
  bound (z = 5; the CTRW renewal function is bracketed, the others are closed forms or
  quadratures to ~1e-9).

Results go to ``OUT/edges.json`` after every case (a rerun skips the cases already
there: a killed sweep resumes), ``OUT/edges.md`` (the table of docs/benchmarks.md) and
``OUT/edges.png`` (every case's MSD against the exact curve).  Exit status 0 only when
every case passed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import anomgrad as ag  # noqa: E402
from anomgrad.io.atomic import atomic_savefig, atomic_write_json, atomic_write_text  # noqa: E402
from stats import ctrw_renewal_function, exact_msd, log_lags  # noqa: E402

# (model, alpha): the edges and the inclusive ends of the ranges (config.ALPHA_RANGES)
EDGES = [("fbm", 0.01), ("fbm", 1.99), ("ctrw", 0.05), ("ctrw", 1.0), ("lw", 1.01),
         ("lw", 2.0), ("attm", 0.03), ("attm", 0.05), ("attm", 1.0), ("sbm", 0.01),
         ("sbm", 1.99), ("sbm", 2.0), ("bm", 1.0)]
# the extreme lengths: (T, n) at one alpha per model
LENGTHS = [(2, 100_000), (100_000, 2_000)]
MID = {"fbm": 0.7, "ctrw": 0.5, "lw": 1.5, "attm": 0.5, "sbm": 1.5, "bm": 1.0}
RENEWAL = ("ctrw", "lw", "attm")  # exact curves cost O(T^2) (or O(128 T log T)): cap lags
RENEWAL_MAX_LAG = 2000
Z = 5.0
DIM = 2


def exact_curve(model: str, alpha: float, T: int, lags: np.ndarray):
    """Exact E|x_t|^2 at ``lags`` and a bound on its numerical error."""
    top = int(lags.max()) + 1
    curve = exact_msd(model, top, alpha, DIM)[lags]
    err = 1e-9 * np.abs(curve)
    if model == "ctrw":  # the renewal function's bracket (lattice rounding down vs up)
        _, half = ctrw_renewal_function(top, alpha)
        err = err + DIM * np.abs(np.concatenate([[0.0], half[1:top]])[lags])
    return curve, err


def run_case(model: str, alpha: float, T: int, n: int, chunk: int = 250_000, seed: int = 1,
             progress=None) -> dict:
    """Generate ``n`` trajectories of one case in chunks and check them (see module doc)."""
    hi = T - 1 if model not in RENEWAL else min(T - 1, RENEWAL_MAX_LAG)
    lags = log_lags(1, hi, 12)
    s1 = np.zeros(len(lags))
    s2 = np.zeros(len(lags))
    bad = 0
    biggest = 0.0
    t0 = time.perf_counter()
    for r0 in range(0, n, chunk):
        m = min(chunk, n - r0)
        x = ag.generate(model, m, T, alpha, DIM, seed=seed, start=r0, dtype=np.float32)
        fin = np.isfinite(x)
        bad += int(x.size - fin.sum())
        biggest = max(biggest, float(np.abs(np.where(fin, x, 0)).max()))
        d = x[:, :, lags].astype(np.float64) - x[:, :, :1]
        y = np.sum(d * d, axis=1)
        s1 += y.sum(0)
        s2 += (y * y).sum(0)
        del x, fin, d, y
        if progress:
            progress(r0 + m)
    seconds = time.perf_counter() - t0
    mean = s1 / n
    se = np.sqrt(np.maximum(s2 / n - mean**2, 0.0) / max(n - 1, 1))
    curve, err = exact_curve(model, alpha, T, lags)
    z = np.abs(mean - curve) / np.maximum(se, 1e-300)
    ok_msd = bool(np.all(np.abs(mean - curve) <= Z * se + err))
    worst = int(np.argmax(z))
    return {"model": model, "alpha": alpha, "T": T, "n": n, "dim": DIM, "seed": seed,
            "nonfinite": bad, "max_abs": biggest, "lags": lags.tolist(),
            "msd": mean.tolist(), "se": se.tolist(), "exact": curve.tolist(),
            "exact_err": err.tolist(), "max_z": float(z[worst]), "worst_lag": int(lags[worst]),
            "ok_finite": bad == 0, "ok_msd": ok_msd, "ok": bad == 0 and ok_msd,
            "seconds": round(seconds, 2), "traj_per_s": round(n / seconds)}


def cases(n: int, lengths=True):
    out = [(m, a, 100, n) for m, a in EDGES]
    if lengths:
        out += [(m, MID[m], T, k) for T, k in LENGTHS for m in MID]
    return out


def key(c) -> str:
    return f"{c[0]} alpha={c[1]} T={c[2]} n={c[3]}"


def table(results: list) -> str:
    rows = ["| model | alpha | T | n | NaN/inf | max \\|z\\| (lag) | MSD at the last lag: measured / exact "
            "| traj/s | ok |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r['model']} | {r['alpha']} | {r['T']:,} | {r['n']:,} | {r['nonfinite']} | "
                    f"{r['max_z']:.2f} ({r['worst_lag']}) | {r['msd'][-1]:.5g} / "
                    f"{r['exact'][-1]:.5g} | {r['traj_per_s']:,} | "
                    f"{'yes' if r['ok'] else '**NO**'} |")
    return "\n".join(rows) + "\n"


def figure(results: list, path) -> None:
    from matplotlib.figure import Figure  # lazy: matplotlib

    k = len(results)
    cols = 5
    fig = Figure(figsize=(3.2 * cols, 2.6 * math.ceil(k / cols)))
    for i, r in enumerate(results):
        ax = fig.add_subplot(math.ceil(k / cols), cols, i + 1)
        lags = np.asarray(r["lags"])
        ax.loglog(lags, np.maximum(r["exact"], 1e-12), "k-", marker="_", ms=14, lw=1,
                  label="exact")
        ax.errorbar(lags, np.maximum(r["msd"], 1e-12), yerr=Z * np.asarray(r["se"]), fmt="o",
                    ms=3, color="C0" if r["ok"] else "C3", label=f"n={r['n']:,}")
        ax.set_title(f"{r['model']} a={r['alpha']} T={r['T']:,}", fontsize=8)
        ax.tick_params(labelsize=6)
        if i == 0:
            ax.legend(fontsize=6)
    fig.suptitle("ensemble MSD (2-D) against the exact curve, error bars 5 se", fontsize=9)
    fig.tight_layout()
    atomic_savefig(fig, str(path))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for edges.json / .md / .png")
    p.add_argument("--n", type=int, default=10_000_000, help="trajectories per edge case")
    p.add_argument("--no-lengths", action="store_true", help="skip T = 2 and T = 100,000")
    p.add_argument("--fresh", action="store_true", help="ignore results already in OUT")
    a = p.parse_args(argv)
    if a.n < 2:
        p.error(f"--n must be >= 2, got {a.n}")
    from tqdm import tqdm

    os.makedirs(a.out, exist_ok=True)
    jpath = os.path.join(a.out, "edges.json")
    done = {}
    if os.path.exists(jpath) and not a.fresh:
        with open(jpath) as f:
            done = {r["key"]: r for r in json.load(f)["results"]}
    meta = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "anomgrad": ag.__version__, "numba_threads": _numba_threads()}
    results = []
    for c in cases(a.n, not a.no_lengths):
        if key(c) in done:
            results.append(done[key(c)])
            continue
        with tqdm(total=c[3], unit="traj", unit_scale=True, desc=key(c), leave=False) as bar:
            last = [0]

            def step(k, bar=bar, last=last):
                bar.update(k - last[0])
                last[0] = k

            r = run_case(*c, progress=step)
        r["key"] = key(c)
        results.append(r)
        print(f"{key(c)}: {'ok' if r['ok'] else 'FAILED'} (NaN/inf {r['nonfinite']}, max |z| "
              f"{r['max_z']:.2f} at lag {r['worst_lag']}, {r['seconds']:.1f} s)", flush=True)
        atomic_write_json(jpath, {"meta": meta, "results": results})
    atomic_write_json(jpath, {"meta": meta, "results": results})
    atomic_write_text(os.path.join(a.out, "edges.md"), table(results))
    figure(results, os.path.join(a.out, "edges.png"))
    print(table(results))
    return 0 if all(r["ok"] for r in results) else 1


def _numba_threads():
    import numba

    return numba.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
