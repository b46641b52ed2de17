"""Tracks longer than the network's 1000 steps (issue 20, item 4): which rule turns the
answers of a track's windows into one class.

Per class, ``--per-class`` tracks of T = 1000, 2000 and 5000 positions (2-D, alpha
uniform in the class's range, made by ``ag.generate``); every track is classified window
by window (``anomgrad.tracks.checks.windows``) with a shipped model, and the track's class
is decided by each rule:

* ``mean``: the mean of the windows' probabilities (the rule before issue 20);
* ``first``: the first window alone (positions 0-999);
* ``confident``: the window with the highest top probability;
* ``log``: the sum of the windows' log-probabilities (independent evidence).

    python bench/long_tracks.py --per-class 300 --out long/

Writes ``long.json`` (accuracy per rule, T and class, and per window position).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import anomgrad as ag
from anomgrad.io.atomic import atomic_write_json
from anomgrad.resandi.task import CLASS_ALPHA, CLASS_MODELS, CLASS_NAMES

RULES = ("mean", "first", "confident", "log")
LENGTHS = (1000, 2000, 5000)


def decide(windows: list, rule: str) -> int:
    p = np.array([w["probabilities"] for w in windows])
    if rule == "mean":
        return int(p.mean(0).argmax())
    if rule == "first":
        return int(p[0].argmax())
    if rule == "confident":
        return int(p[p.max(1).argmax()].argmax())
    return int(np.log(np.clip(p, 1e-12, None)).sum(0).argmax())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-class", type=int, default=300)
    p.add_argument("--model", default="clean")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    rng = np.random.default_rng(20)
    res = {"per_class": a.per_class, "model": a.model, "rules": list(RULES), "T": {}}
    for T in LENGTHS:
        tracks, labels = [], []
        for c, (model, (lo, hi)) in enumerate(zip(CLASS_MODELS, CLASS_ALPHA)):
            alpha = None if model == "bm" else rng.uniform(lo, hi, a.per_class)
            x = ag.generate(model, a.per_class, T, alpha, dim=2, seed=100 + c)
            tracks += list(x.transpose(0, 2, 1))
            labels += [c] * a.per_class
        labels = np.array(labels)
        r = ag.classify(tracks, model=a.model, device="cpu")
        ok = np.array([s == "ok" for s in r.status])
        out = {"n": int(ok.sum())}
        for rule in RULES:
            pred = np.array([decide(w, rule) if s == "ok" else -1
                             for w, s in zip(r.windows, r.status)])
            hit = pred[ok] == labels[ok]
            out[rule] = {"accuracy": float(hit.mean()),
                         "per_class": {n: float(hit[labels[ok] == c].mean())
                                       for c, n in enumerate(CLASS_NAMES)}}
        nwin = len(r.windows[int(np.flatnonzero(ok)[0])])
        out["per_window"] = [float(np.mean([int(np.argmax(w[k]["probabilities"])) == lab
                                            for w, lab, o in zip(r.windows, labels, ok) if o]))
                             for k in range(nwin)]
        res["T"][str(T)] = out
        print(f"T {T}: " + ", ".join(f"{rule} {100 * out[rule]['accuracy']:.2f} %"
                                       for rule in RULES)
              + f"; per window {[round(100 * v, 1) for v in out['per_window']]}", flush=True)
    os.makedirs(a.out, exist_ok=True)
    atomic_write_json(os.path.join(a.out, "long.json"), res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
