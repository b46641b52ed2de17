"""The verdict rules of the reproduction (issue 21): each rule gives the word written in
its docstring on synthetic results made to come out each way."""

from __future__ import annotations

import numpy as np
import pytest

from anomgrad.experiments import paper
from anomgrad.experiments.verdicts import (INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, RULES, Rule,
                                           bootstrap_interval, decide, normal_interval,
                                           proportion_interval)

VALUE = Rule("value", tolerance=2.0)
DIRECTION = Rule("direction")


@pytest.mark.parametrize("est,low,high,want", [
    (89.0, 88.5, 89.5, REPRODUCED),  # 1.4 below the paper's 90.36
    (92.3, 91.9, 92.7, REPRODUCED),  # within 2 above
    (85.0, 84.0, 86.0, NOT_REPRODUCED),  # the whole interval more than 2 below
    (95.0, 92.5, 97.0, NOT_REPRODUCED),  # more than 2 above
    (88.0, 86.0, 88.5, INCONCLUSIVE),  # outside, but the interval reaches 88.36
])
def test_value_rule(est, low, high, want):
    assert decide(VALUE, est, low, high, 90.36) == want


@pytest.mark.parametrize("paper_effect", [20.99, -0.357])
@pytest.mark.parametrize("est,low,high,want", [
    (0.5, 0.2, 0.8, REPRODUCED),  # excludes 0 on the paper's side
    (-0.5, -0.8, -0.2, NOT_REPRODUCED),  # reversed
    (0.0, -0.01, 0.01, NOT_REPRODUCED),  # absent: excludes a quarter of the effect
    (0.02, -0.1, 20.0, INCONCLUSIVE),  # too wide to tell
])
def test_direction_rule_on_the_papers_side(paper_effect, est, low, high, want):
    s = np.sign(paper_effect)
    scale = abs(paper_effect)  # the same situation at the paper's scale and sign
    lo, hi = sorted((s * low * scale, s * high * scale))
    assert decide(DIRECTION, s * est * scale, lo, hi, paper_effect) == want


def test_a_synthetic_erasure_result_comes_out_each_way():
    """Per-track right/wrong after erasing band 0-10 and band 90-100, paired bootstrap of
    the difference, against the paper's 44.74 - 23.75 points."""
    effect = paper.ERASURE["targeted"][0] - paper.ERASURE["targeted"][-1]
    g = np.random.default_rng(4)
    rule = RULES["erasure_extremes"]
    diff = lambda a, b: 100 * (a.mean() - b.mean())  # noqa: E731
    # the paper's effect, 2,000 tracks: reproduced
    a, b = g.random(2000) < 0.447, g.random(2000) < 0.238
    assert decide(rule, *bootstrap_interval(diff, a, b, n_boot=500), effect) == REPRODUCED
    # no effect, 20,000 tracks: not reproduced (the interval stays below a quarter of it)
    a, b = g.random(20000) < 0.30, g.random(20000) < 0.30
    assert decide(rule, *bootstrap_interval(diff, a, b, n_boot=500), effect) == NOT_REPRODUCED
    # a weaker effect on 100 tracks: inconclusive
    a, b = g.random(100) < 0.33, g.random(100) < 0.27
    assert decide(rule, *bootstrap_interval(diff, a, b, n_boot=500), effect) == INCONCLUSIVE


def test_a_synthetic_augmentation_result_over_networks():
    """Targeted minus random accuracy at the paper's largest gap (+3.82 at sigma 0.742),
    3 networks per arm: s.e. of the difference from both arms' spreads."""
    p = paper.AUGMENT["targeted"][5] - paper.AUGMENT["random"][5]
    for t, r, want in (([49.1, 49.6, 49.3], [45.4, 45.9, 45.6], REPRODUCED),
                       ([46.0, 45.4, 45.7], [45.9, 45.5, 45.6], NOT_REPRODUCED),
                       ([49.0, 44.0, 47.0], [45.0, 47.5, 44.0], INCONCLUSIVE)):
        t, r = np.array(t), np.array(r)
        est = t.mean() - r.mean()
        se = np.hypot(t.std(ddof=1) / np.sqrt(3), r.std(ddof=1) / np.sqrt(3))
        assert decide(RULES["augment"], est, *normal_interval(est, se), p) == want, (t, r)


def test_intervals():
    est, lo, hi = proportion_interval(0, 50)
    assert est == 0 and abs(lo) < 1e-12 and 0 < hi < 10  # Wilson: never below 0, not empty
    est, lo, hi = proportion_interval(125, 1000)
    assert lo < est == 12.5 < hi and abs((hi - lo) / 2 - 1.96 * np.sqrt(0.125 * 0.875 / 1000) * 100) < 0.1
    assert normal_interval(1.0, 0.5) == pytest.approx((0.02, 1.98), abs=1e-3)
    x = np.random.default_rng(0).normal(3.0, 1.0, 400)
    est, lo, hi = bootstrap_interval(np.mean, x, n_boot=1000)
    assert lo < est < hi and abs((hi - lo) / 2 - 1.96 / 20) < 0.02  # the s.e. of the mean


def test_bad_input():
    with pytest.raises(ValueError, match="kind must be"):
        Rule("level")
    with pytest.raises(ValueError, match="interval .* must contain the estimate"):
        decide(VALUE, 5.0, 6.0, 7.0, 5.0)
    with pytest.raises(ValueError, match="needs the paper's effect to have a sign"):
        decide(DIRECTION, 1.0, 0.5, 1.5, 0.0)
    with pytest.raises(ValueError, match="must be finite"):
        decide(VALUE, float("nan"), 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="share their length"):
        bootstrap_interval(np.mean, np.zeros(3), np.zeros(4))
    assert "within 2 of the paper's number" in RULES["accuracy"].text()
    assert "excludes 0.25 of the paper's effect" in RULES["relevance"].text()


def _write(path, obj):
    import json
    import os

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def test_the_report_applies_the_rules_as_written(tmp_path):
    """Synthetic outputs of a run: a varying-T accuracy at the paper's, a T = 1000 one far
    below it, an erasure with the paper's effect and relevance with and without it."""
    from anomgrad.experiments.profiles import paths, profile
    from anomgrad.experiments.report import (_section_verdicts, _verdict_rows, _verdicts,
                                             verdict_figure)
    from anomgrad.resandi.task import CLASS_NAMES

    p = paths(str(tmp_path), profile(name="cpu"))
    cm = np.diag([1800] * 8) + 25  # 8 x 8: 1825 right of 2000 per class (91.25 %)
    cm[0] = [1700, 10, 10, 10, 10, 10, 0, 250]  # sub-ATTM read as BM: 250 of 2000 (12.5 %)
    n = int(cm.sum())
    _write(f"{p['varying_eval']}/metrics.json",
           {"accuracy": float(np.trace(cm)) / n, "n": n, "confusion": cm.tolist()})
    _write(f"{p['fixed_eval']}/metrics.json",
           {"accuracy": 0.80, "n": 16000, "confusion": (np.eye(8, dtype=int) * 1600).tolist()})
    t = list(paper.ERASURE["targeted"])
    _write(f"{p['erasure']}/erasure.json",
           {"n": 16000, "bands": paper.ERASURE["bands"], "targeted": t,
            "random": [27.2] * 10, "random_runs": [t[0]] * 10})
    rows = [{"name": c, "statistic": st, "pearson": r, "pairs": 2000 * 32}
            for c, st, r in (("sub-CTRW", "AC", -0.30), ("sub-SBM", "VD", 0.0))]
    _write(f"{p['relevance']}/relevance.json", {"rows": rows})
    rows = _verdicts(_verdict_rows(p))
    text = "\n".join(_section_verdicts(rows))
    line = {ln.split(" | ")[0][2:]: ln for ln in text.splitlines() if ln.startswith("| ")}
    assert f"**{REPRODUCED}**" in line["test accuracy, varying"]  # 90.8 against 90.36
    assert f"**{NOT_REPRODUCED}**" in line["test accuracy, fixed"]  # 80 against 94.89
    assert f"**{REPRODUCED}**" in line["sub-ATTM read as BM (%)"]
    assert f"**{REPRODUCED}**" in line["erasure: band 0-10 minus band 90-100"]
    assert f"**{REPRODUCED}**" in line["erasure band 0-10 minus random cells"]
    # random runs erase as much as band 0-10 does: no gap where the paper has 16.9 points
    assert f"**{NOT_REPRODUCED}**" in line["erasure band 0-10 minus random runs"]
    assert f"**{REPRODUCED}**" in line["relevance: sub-CTRW AC (Pearson r)"]
    assert f"**{NOT_REPRODUCED}**" in line["relevance: sub-SBM VD (Pearson r)"]
    assert "accuracy, sub-ATTM (varying)" in line and len(CLASS_NAMES) == 8
    assert "* `accuracy`: reproduced if ours is within 2" in text
    # the figure draws them; nothing to draw, no figure
    assert verdict_figure(rows, tmp_path / "v.png") and (tmp_path / "v.png").stat().st_size > 5000
    assert not verdict_figure([], tmp_path / "none.png") and not (tmp_path / "none.png").exists()
