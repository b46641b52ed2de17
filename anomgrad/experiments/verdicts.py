"""One word per finding of the paper: reproduced, not reproduced or inconclusive (issue 21).

The rules are fixed here, before any run, and the report prints each one beside its
table.  A finding is a statistic of our run (``estimate``) with a 95 % interval
(``low``, ``high``: from a standard error, or a bootstrap over test tracks and, where
networks are trained per arm, over networks) and the paper's number.  Two kinds:

* ``value`` (the paper reports a level: test accuracy, the share of sub-ATTM read as
  BM).  **Reproduced** when our estimate is within ``tolerance`` of the paper's number;
  **not reproduced** when the whole interval lies farther than ``tolerance`` from it;
  **inconclusive** otherwise (the estimate is outside, the interval reaches inside).
* ``direction`` (the paper reports an effect with a sign: band 0-10 minus band 90-100,
  targeted minus random, a correlation).  **Reproduced** when the interval excludes 0 on
  the paper's side; **not reproduced** when the interval excludes a quarter of the
  paper's effect (``fraction``) on the paper's side -- the effect is absent, reversed, or
  far smaller than published; **inconclusive** otherwise.  An effect the paper reports
  as zero cannot be judged by this rule and is refused.

Both rules are tested on synthetic results that must come out each way
(``tests/experiments/test_verdicts.py``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
Z95 = 1.959963984540054  # the two-sided 95 % normal quantile


@dataclasses.dataclass(frozen=True)
class Rule:
    kind: str  # "value" or "direction"
    tolerance: float = 0.0  # value: how far from the paper's number still counts
    fraction: float = 0.25  # direction: the share of the paper's effect that must be excluded

    def __post_init__(self):
        if self.kind not in ("value", "direction"):
            raise ValueError(f"kind must be 'value' or 'direction', got {self.kind!r}")
        if not (self.tolerance >= 0 and 0 < self.fraction < 1):
            raise ValueError(f"tolerance must be >= 0 and fraction in (0, 1), got "
                             f"{self.tolerance} and {self.fraction}")

    def text(self) -> str:
        """The rule in words, for the report."""
        if self.kind == "value":
            t = f"{self.tolerance:g}"
            return (f"reproduced if ours is within {t} of the paper's number; not reproduced "
                    f"if our whole 95 % interval is more than {t} away; else inconclusive")
        return (f"reproduced if our 95 % interval excludes 0 on the paper's side; not "
                f"reproduced if it excludes {self.fraction:g} of the paper's effect on that "
                f"side (absent, reversed or much smaller); else inconclusive")


# Decided before the cpu profile's run (issue 21); accuracies in percentage points,
# correlations as r.
RULES = {
    "accuracy": Rule("value", tolerance=2.0),  # per family (width 16 against the paper's 64)
    "accuracy_per_class": Rule("value", tolerance=5.0),
    "attm_as_bm": Rule("value", tolerance=5.0),  # % of sub-ATTM predicted BM
    "erasure_extremes": Rule("direction"),  # band 0-10 minus band 90-100
    "erasure_vs_random": Rule("direction"),  # each band minus a random baseline
    "augment": Rule("direction"),  # targeted minus random accuracy under noise
    "probes": Rule("direction"),  # probe accuracy minus chance (1 / groups)
    "relevance": Rule("direction"),  # Pearson r of a statistic with Grad-CAM
}


def decide(rule: Rule, estimate: float, low: float, high: float, paper: float) -> str:
    """The verdict of ``rule`` for our ``estimate`` with 95 % interval [``low``, ``high``]
    against the paper's ``paper`` (a level for ``value``, a signed effect for
    ``direction``)."""
    vals = (estimate, low, high, paper)
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"estimate, low, high and paper must be finite, got {vals}")
    if not low <= estimate <= high:
        raise ValueError(f"the interval [{low}, {high}] must contain the estimate {estimate}")
    if rule.kind == "value":
        if abs(estimate - paper) <= rule.tolerance:
            return REPRODUCED
        if low > paper + rule.tolerance or high < paper - rule.tolerance:
            return NOT_REPRODUCED
        return INCONCLUSIVE
    if paper == 0:
        raise ValueError("a direction rule needs the paper's effect to have a sign, got 0")
    s = math.copysign(1.0, paper)  # on the paper's side: s * x > threshold
    lo, hi = sorted((s * low, s * high))
    if lo > 0:
        return REPRODUCED
    if hi < rule.fraction * abs(paper):
        return NOT_REPRODUCED
    return INCONCLUSIVE


def normal_interval(estimate: float, se: float) -> tuple[float, float]:
    """``estimate`` +- 1.96 ``se``."""
    if not (se >= 0 and math.isfinite(se)):
        raise ValueError(f"se must be a finite number >= 0, got {se}")
    return estimate - Z95 * se, estimate + Z95 * se


def t_interval(estimate: float, se: float, df: float) -> tuple[float, float]:
    """``estimate`` +- t(0.975, ``df``) ``se``: for a mean over a few networks."""
    from scipy.stats import t  # lazy: scipy

    if not df >= 1:
        raise ValueError(f"df must be >= 1, got {df}")
    q = float(t.ppf(0.975, df))
    if not (se >= 0 and math.isfinite(se)):
        raise ValueError(f"se must be a finite number >= 0, got {se}")
    return estimate - q * se, estimate + q * se


def correlation_interval(r: float, n: int) -> tuple[float, float]:
    """The 95 % Fisher-z interval of a correlation ``r`` over ``n`` independent units."""
    if not (n > 3 and -1 < r < 1):
        raise ValueError(f"need n > 3 and -1 < r < 1, got n={n}, r={r}")
    z, h = math.atanh(r), Z95 / math.sqrt(n - 3)
    return math.tanh(z - h), math.tanh(z + h)


def proportion_interval(k: int, n: int) -> tuple[float, float, float]:
    """A share ``k / n`` in % with its 95 % Wilson interval: ``(estimate, low, high)``."""
    if not (0 <= k <= n and n > 0):
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    p, z2 = k / n, Z95 * Z95
    mid = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return 100 * p, 100 * max(0.0, mid - half), 100 * min(1.0, mid + half)


def bootstrap_interval(stat, *samples, n_boot: int = 2000, seed: int = 0):
    """``(estimate, low, high)``: ``stat(*samples)`` and its 95 % percentile bootstrap
    interval, resampling the rows (the first axis, shared by every sample: paired) with
    replacement, ``n_boot`` times from ``seed``; widened to contain the estimate where a
    skewed bootstrap leaves it outside."""
    n = len(samples[0])
    if n < 2 or any(len(s) != n for s in samples):
        raise ValueError("samples must share their length (>= 2 rows)")
    g = np.random.default_rng(seed)
    est = float(stat(*samples))
    boots = np.empty(n_boot)
    for b in range(n_boot):
        idx = g.integers(0, n, n)
        boots[b] = stat(*(s[idx] for s in samples))
    low, high = np.percentile(boots, [2.5, 97.5])
    return est, float(min(low, est)), float(max(high, est))


__all__ = ["INCONCLUSIVE", "NOT_REPRODUCED", "REPRODUCED", "RULES", "Rule", "VERDICTS", "Z95",
           "bootstrap_interval", "correlation_interval", "decide", "normal_interval",
           "proportion_interval", "t_interval"]
