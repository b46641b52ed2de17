"""A CI-sized sample of bench/edges.py: every model at the edges of its alpha range (and
at T = 2 and T = 100,000) gives finite positions and the exact mean-squared
displacement within its error bar.  The full sweep (10 M per case) is recorded in
docs/benchmarks.md; this runs the same checks on fewer trajectories, fixed seeds."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import edges  # noqa: E402

SAMPLE = {100: 20_000, 2: 20_000, 100_000: 200}


@pytest.mark.parametrize("model, alpha, T", [(m, a, 100) for m, a in edges.EDGES]
                         + [(m, edges.MID[m], T) for T, _ in edges.LENGTHS for m in edges.MID])
def test_edge_case(model, alpha, T):
    r = edges.run_case(model, alpha, T, SAMPLE[T], chunk=10_000)
    assert r["nonfinite"] == 0, r
    assert r["ok_msd"], (f"{model} alpha={alpha} T={T}: max |z| {r['max_z']:.2f} at lag "
                         f"{r['worst_lag']}")


def test_the_checks_catch_a_wrong_generator(monkeypatch):
    real = edges.ag.generate
    monkeypatch.setattr(edges.ag, "generate", lambda *a, **k: real(*a, **k) * 1.05)
    assert not edges.run_case("fbm", 1.0, 100, 20_000)["ok_msd"]  # MSD 10 % off
    monkeypatch.setattr(edges.ag, "generate", lambda *a, **k: real(*a[:3], 0.95, *a[4:], **k))
    assert not edges.run_case("fbm", 1.0, 100, 20_000)["ok_msd"]  # alpha 0.95, not 1

    def with_nan(*a, **k):
        x = real(*a, **k)
        x[0, 0, -1] = np.nan
        return x

    monkeypatch.setattr(edges.ag, "generate", with_nan)
    r = edges.run_case("bm", 1.0, 100, 1000)
    assert r["nonfinite"] >= 1 and not r["ok"]
