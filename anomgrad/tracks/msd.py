"""The time-averaged mean squared displacement of a track, and the power law fitted to it:
the anomalous exponent and the generalized diffusion coefficient in the track's units
(issue 20, items 2 and 5).

For a track of T positions r_t in d dimensions, the time-averaged MSD at lag n is

    MSD(n) = 1 / (T - n) * sum_{t < T - n} |r_{t+n} - r_t|^2.

The fit is the AnDi 2020 baseline: a least-squares line through (log n, log MSD(n)) for
lags 1 .. :func:`fit_lags` (a tenth of the track, at least 3 and at most 100 lags), so
``MSD(n) = 2 d K (n dt)^alpha`` with ``alpha`` the slope and ``K`` the generalized
diffusion coefficient.  With positions in micrometres (``pixel_size``: micrometres per
unit of the input) and lags in seconds (``frame_interval``), K is in um^2 / s^alpha;
where alpha = 1 it is the diffusion coefficient D in um^2 / s.

Caveats, measured in docs/results.md §3: localization noise adds 2 d sigma^2 to every
lag, which flattens the log-log line at short lags (alpha and K biased low for short,
noisy tracks), and a single track's TA-MSD scatters (CTRW and ATTM are not ergodic).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

MIN_LAGS, MAX_LAGS = 3, 100


def fit_lags(T: int) -> int:
    """Number of lags the fit uses for a track of ``T`` positions (0 when T < 4)."""
    return 0 if T < MIN_LAGS + 1 else int(min(MAX_LAGS, T - 1, max(MIN_LAGS, T // 10)))


def ta_msd(positions: np.ndarray, lags: int) -> np.ndarray:
    """MSD(1 .. lags) of one track, ``positions`` (T, d)."""
    p = np.asarray(positions, np.float64)
    return np.array([np.mean(np.sum((p[n:] - p[:-n]) ** 2, axis=1)) for n in range(1, lags + 1)])


def fit_power_law(positions: np.ndarray, *, pixel_size: float = 1.0,
                  frame_interval: float = 1.0) -> tuple[float, float]:
    """``(alpha, K)`` of one track (T, d) from its TA-MSD (module docstring); NaN where the
    track is too short or does not move."""
    p = np.asarray(positions, np.float64)
    L = fit_lags(len(p))
    if L == 0:
        return np.nan, np.nan
    m = ta_msd(p * float(pixel_size), L)
    if not np.all(m > 0):
        return np.nan, np.nan
    t = np.log(np.arange(1, L + 1) * float(frame_interval))
    alpha, c = np.polyfit(t, np.log(m), 1)
    return float(alpha), float(np.exp(c) / (2 * p.shape[1]))


@njit(parallel=True, cache=True)
def _fit_all(pos, starts, ends, scale, dt, alpha, K):
    for i in prange(len(starts)):
        a, b = starts[i], ends[i]
        T, d = b - a, pos.shape[1]
        L = 0 if T < MIN_LAGS + 1 else min(MAX_LAGS, T - 1, max(MIN_LAGS, T // 10))
        alpha[i] = np.nan
        K[i] = np.nan
        if L == 0:
            continue
        sx = sy = sxx = sxy = 0.0
        ok = True
        for n in range(1, L + 1):
            acc = 0.0
            for t in range(a, b - n):
                for k in range(d):
                    v = (pos[t + n, k] - pos[t, k]) * scale
                    acc += v * v
            m = acc / (T - n)
            if not (m > 0) or not np.isfinite(m):
                ok = False
                break
            x, y = np.log(n * dt), np.log(m)
            sx += x
            sy += y
            sxx += x * x
            sxy += x * y
        if ok:
            slope = (L * sxy - sx * sy) / (L * sxx - sx * sx)
            alpha[i] = slope
            K[i] = np.exp((sy - slope * sx) / L) / (2 * d)


def fit_tracks(positions: list, *, pixel_size: float = 1.0,
               frame_interval: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fit_power_law` of every track of ``positions`` (a list of (T_i, d) arrays
    of one d), in parallel: ``(alpha, K)`` arrays."""
    n = len(positions)
    alpha, K = np.full(n, np.nan), np.full(n, np.nan)
    if n == 0:
        return alpha, K
    lengths = np.array([len(p) for p in positions], np.int64)
    ends = np.cumsum(lengths)
    pos = np.ascontiguousarray(np.concatenate([np.asarray(p, np.float64) for p in positions]))
    _fit_all(pos, ends - lengths, ends, float(pixel_size), float(frame_interval), alpha, K)
    return alpha, K


def check_scale(name: str, value) -> float:
    """A pixel size or frame interval: a finite number > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number > 0, got {value!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


__all__ = ["MAX_LAGS", "MIN_LAGS", "check_scale", "fit_lags", "fit_power_law", "fit_tracks",
           "ta_msd"]
