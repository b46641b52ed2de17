"""Probabilities you can trust: temperature scaling and its measure (issue 20, item 3).

A network trained with cross-entropy is usually over-confident: among the tracks it gives
a top probability of 0.9, fewer than 90 % are right.  Temperature scaling divides the
logits by one number ``T`` fitted on a validation set (minimum negative log-likelihood),
which leaves every prediction as it is and moves the probabilities toward what they
claim.  The expected calibration error (ECE) of the top probability measures what is
left: the mean, over equal-width confidence bins weighted by their share of tracks, of
|accuracy - mean confidence|.

``bench/calibrate.py`` fits the temperatures of the shipped models on their own validation
sets: 0.992 (clean) and 0.991 (robust), so they are not applied (T = 1); the robust model's
ECE is 0.005-0.021 at every noise level as it is.  The clean model is badly calibrated on
noisy tracks (ECE 0.67 at sigma = 1), which no temperature fitted on clean tracks can
repair: that is what the robust model is for (docs/results.md §3).
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15
UNCERTAIN_BELOW = 0.5  # a track is flagged uncertain when its top probability is below this


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64."""
    z = np.asarray(logits, np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    z = np.asarray(logits, np.float64) / float(temperature)
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse - z[np.arange(len(z)), np.asarray(labels, np.int64)]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, lo: float = 0.05,
                    hi: float = 20.0, tol: float = 1e-4) -> float:
    """The temperature that minimizes :func:`nll` on ``(logits, labels)``: a golden-section
    search over log T in [lo, hi] (the NLL is unimodal in T)."""
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels, np.int64)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],) or not len(labels):
        raise ValueError(f"logits must be (n, classes) and labels (n,) with n >= 1, got "
                         f"{logits.shape} and {labels.shape}")
    g = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = np.log(lo), np.log(hi)
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, np.exp(c)), nll(logits, labels, np.exp(d))
    while b - a > tol:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, np.exp(d))
    return float(np.exp((a + b) / 2.0))


def _binned(probs, labels, bins: int):
    """Per equal-width bin of the top probability: tracks, right answers, summed top
    probability."""
    probs = np.asarray(probs, np.float64)
    conf = probs.max(axis=1)
    ok = probs.argmax(axis=1) == np.asarray(labels, np.int64)
    k = np.minimum((conf * bins).astype(np.int64), bins - 1)
    return (np.bincount(k, minlength=bins), np.bincount(k, weights=ok, minlength=bins),
            np.bincount(k, weights=conf, minlength=bins))


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top probability over ``bins`` equal-width bins."""
    n, acc, cs = _binned(probs, labels, bins)
    return float(np.sum(np.abs(acc - cs)) / max(1, len(labels)))


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Per confidence bin: its centre, the number of tracks, their accuracy and mean top
    probability (None where empty): the reliability diagram's points."""
    n, acc, cs = _binned(probs, labels, bins)
    return {"centre": ((np.arange(bins) + 0.5) / bins).tolist(), "n": n.tolist(),
            "accuracy": [a / m if m else None for a, m in zip(acc, n)],
            "confidence": [c / m if m else None for c, m in zip(cs, n)]}


__all__ = ["ECE_BINS", "UNCERTAIN_BELOW", "ece", "fit_temperature", "nll", "reliability",
           "softmax"]
