"""Statistics helpers for the faithfulness tests.

* Exact ensemble MSD curves E|x_t|^2 (summed over axes) of the six models as defined in
  docs/method.md section 1, including andi's discrete-time details, so that an exponent fit
  can be compared with what theory says on the *same* finite window (the asymptotic
  t^alpha is only reached slowly for CTRW, ATTM and LW).
* Exponent fits with standard errors from the per-trajectory influence function.
* Per-trajectory statistics and two-sample KS comparisons.

Every check returns ``(ok, detail)`` so tests can assert both that a correct
generator passes and that a wrong one fails.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

# --------------------------------------------------------------------------------------
# Lags and fits


def log_lags(lo, hi, k=12):
    """About k integer lags spaced evenly in log between lo and hi (inclusive)."""
    return np.unique(np.round(np.geomspace(lo, hi, k)).astype(np.int64))


def loglog_slope(t, y):
    """Least-squares slope of log y against log t."""
    lt = np.log(np.asarray(t, np.float64))
    return float(np.polyfit(lt, np.log(np.asarray(y, np.float64)), 1)[0])


def _slope_weights(t):
    lt = np.log(np.asarray(t, np.float64))
    c = lt - lt.mean()
    return c / np.sum(c * c)


def squared_displacement(x, lags):
    """|x_t - x_0|^2 summed over axes, per trajectory, at times ``lags``: (n, len(lags))."""
    x = np.asarray(x, np.float64)
    d = x[:, :, lags] - x[:, :, :1]
    return np.sum(d * d, axis=1)


def tamsd(x, lags):
    """Time-averaged MSD (summed over axes) per trajectory at the given lags: (n, len(lags))."""
    x = np.asarray(x, np.float64)
    out = np.empty((x.shape[0], len(lags)))
    for j, L in enumerate(lags):
        d = x[:, :, L:] - x[:, :, :-L]
        out[:, j] = np.mean(np.sum(d * d, axis=1), axis=1)
    return out


def ensemble_exponent(y, lags, offset=0.0, t_shift=0):
    """Fit log(mean_n y[:, j] + offset) = const + beta log(lags[j] + t_shift).

    ``offset``/``t_shift`` allow the transformed estimator log(MSD + c) against
    log(t + 1) (SBM's exact (t+1)^alpha - 1, and CTRW's m(t) + 1 ~ A t^alpha).
    Returns (beta, se): se from the influence function of beta on the trajectory
    level, sum_j w_j (y_nj - M_j) / (M_j + offset), whose std / sqrt(n) is the
    delta-method standard error (trajectories are independent; lags within one are not).
    """
    y = np.asarray(y, np.float64)
    M = y.mean(axis=0)
    w = _slope_weights(np.asarray(lags) + t_shift)
    beta = float(np.sum(w * np.log(M + offset)))
    infl = ((y - M) / (M + offset)) @ w
    se = float(infl.std(ddof=1) / math.sqrt(y.shape[0]))
    return beta, se


# --------------------------------------------------------------------------------------
# Exact ensemble MSD, E|x_t|^2 summed over axes, t = 0..T-1 (docs/method.md section 1).


def msd_fbm(T, alpha, dim):
    t = np.arange(T, dtype=np.float64)
    return dim * t**alpha


def msd_bm(T, alpha, dim):
    return dim * np.arange(T, dtype=np.float64)


def msd_sbm(T, alpha, dim):
    """Var x_k = sum_{t=1..k} ((t+1)^a - t^a) = (k+1)^a - 1 per axis (first increment dropped)."""
    t = np.arange(T, dtype=np.float64)
    return dim * ((t + 1.0) ** alpha - 1.0)


def _renewal_density_lattice(p, N):
    """u_k = sum_{j>=1} P(S_j = k), k < N, for iid lattice steps with pmf p (p[0] = 0).

    Solves u = p + p * u with FFTs after exponential tilting (weights r^k), which makes
    the circular wrap-around negligible (r^L = e^-36) while the untilting amplifies
    rounding by at most e^18."""
    L = 2 * N
    r = math.exp(-18.0 / N)
    pk = np.zeros(L)
    m = min(len(p), L)
    pk[:m] = p[:m] * r ** np.arange(m)
    P = np.fft.rfft(pk)
    u = np.fft.irfft(P / (1.0 - P), L)[:N]
    return u / r ** np.arange(N)


def ctrw_renewal_function(s_max, alpha, h=1.0 / 128):
    """m(s) = E #{j : t_j <= s} at s = 1..s_max (integers) for Pareto waiting times
    P(tau > u) = u^-alpha, u >= 1.

    Waiting times are put on the lattice h Z twice, rounded down (events earlier:
    an upper bound on m) and rounded up (a lower bound); their mean is returned with
    the half-width of the bracket (a strict bound on the discretisation error)."""
    K = int(round(1.0 / h))
    N = int(s_max * K) + 2
    edges = (np.arange(N + 1) * h).clip(min=1.0)
    sf = edges ** (-alpha)  # P(tau > edge)
    pmf = sf[:-1] - sf[1:]  # P(tau in [k h, (k+1) h))
    cdf_lo = np.cumsum(_renewal_density_lattice(pmf, N))  # rounded down
    up = np.concatenate([[0.0], pmf[:-1]])
    cdf_hi = np.cumsum(_renewal_density_lattice(up, N))  # rounded up
    s = np.arange(1, s_max + 1)
    idx = s * K
    return 0.5 * (cdf_lo[idx] + cdf_hi[idx]), 0.5 * (cdf_lo[idx] - cdf_hi[idx])


def msd_ctrw(T, alpha, dim):
    """E|x_t|^2 = (jump second moment) E #{j : floor(t_j) <= t} = c m(t + 1);
    c = dim for independent N(0,1) jumps per axis, 1 in 3D (N(0,1) length)."""
    m, _ = ctrw_renewal_function(T, alpha)
    c = 1.0 if dim == 3 else float(dim)
    return c * np.concatenate([[0.0], m[1:T]])  # t = 0..T-1  <->  m(t + 1) = m[t]


def _lattice_renewal_sum_sq(p, T):
    """g(t) = E sum_flights (steps of the flight among the first t steps)^2 for a fresh
    walk of iid integer flight lengths with pmf p (p[0] = 0), t = 0..T."""
    tail = 1.0 - np.cumsum(p)  # tail[l] = P(L > l)
    g = np.zeros(T + 1)
    ell = np.arange(len(p), dtype=np.float64)
    for t in range(1, T + 1):
        l = np.arange(1, t)
        g[t] = np.sum(p[1:t] * (ell[1:t] ** 2 + g[t - l])) + tail[t - 1] * t * t
    return g


def _msd_lw_sigma(T, sigma):
    l = np.arange(0, T + 2, dtype=np.float64)
    sf = np.where(l >= 1, np.maximum(l, 1.0) ** (-sigma), 1.0)  # P(L >= l)
    p = np.zeros(T + 2)
    p[1:] = sf[1:] - np.append(sf[2:], 0.0)  # P(L = l); p[T+1] gets the rest
    g = _lattice_renewal_sum_sq(p, T)
    out = np.zeros(T)
    for k in range(1, T):
        ls = np.arange(1, k + 1)  # first flight ends within steps 0..k
        first = np.sum(p[1 : k + 1] * ((ls - 1.0) ** 2 + g[k + 1 - ls]))
        out[k] = first + sf[k + 1] * k * k
    return (100.0 / 3.0) * out


def msd_lw(T, alpha, dim, n_sigma=64):
    """Levy walk: with independent zero-mean unit directions per flight and speed v,
    E|x_k|^2 = E[v^2] E sum_f (observed steps of flight f)^2, v = 10 U: E v^2 = 100/3.
    Flight lengths L = floor(tau), P(L >= l) = l^-sigma with sigma = 3 - alpha; x_k uses
    unit steps 1..k, so the first flight loses one step.  (The cap T+1 never matters for
    k < T.)  At alpha = 2 andi draws sigma ~ U(0, 1) per trajectory: the curve is the
    mean over sigma (Gauss-Legendre; smooth in sigma)."""
    if alpha != 2.0:
        return _msd_lw_sigma(T, 3.0 - alpha)
    xs, ws = np.polynomial.legendre.leggauss(n_sigma)
    return sum(w / 2 * _msd_lw_sigma(T, (x + 1) / 2) for x, w in zip(xs, ws))


def _attm_sigma_bounds(alpha):
    """andi draws sigma = 3 U(0.01, 1.1) until sigma <= sigma/alpha <= sigma + 1; for
    alpha <= 1 the condition is sigma <= alpha / (1 - alpha): sigma ~ U(0.03, hi)."""
    hi = 3.3 if alpha >= 1.0 else min(3.3, alpha / (1.0 - alpha))
    return 0.03, hi


def msd_attm(T, alpha, dim, n_sigma=96):
    """ATTM: V = 1 - U(0.1, 0.99) ~ U(0.01, 0.9), D = V^(1/sigma), duration V^(-1/alpha)
    (capped at T), L = floor(duration) steps of variance 2 D per axis.  With
    h(t) = E sum_{steps k < t} D_k (a renewal sum, linear in E[D; L = l]),
    E|x_t|^2 = 2 h(t) dim (3D: 2 h(t), the N(0,1) length carries all the variance)."""
    lo, hi = _attm_sigma_bounds(alpha)
    # P(L = l) and E[D 1{L = l}] for l = 1..T-1, and l = T for "duration >= T".
    l = np.arange(1, T + 1, dtype=np.float64)
    b = np.minimum(l ** (-alpha), 0.9)  # V <= b  <=>  duration >= l
    a = np.maximum((l + 1) ** (-alpha), 0.01)
    a[-1] = 0.01  # l = T collects every duration >= T
    b = np.maximum(b, a)
    pL = (b - a) / 0.89
    xs, ws = np.polynomial.legendre.leggauss(n_sigma)
    sig = lo + (hi - lo) * (xs + 1) / 2
    ws = ws / 2
    q = 1.0 / sig[:, None] + 1.0
    dL = np.sum(ws[:, None] * (b[None, :] ** q - a[None, :] ** q) / q, axis=0) / 0.89
    p = np.concatenate([[0.0], pL])
    d = np.concatenate([[0.0], dL])
    hh = np.zeros(T)
    for t in range(1, T):
        ls = np.arange(1, t)
        hh[t] = np.sum(d[1:t] * ls + p[1:t] * hh[t - ls]) + np.sum(d[t:]) * t
    c = 1.0 if dim == 3 else float(dim)
    return 2.0 * c * hh


EXACT_MSD = {"fbm": msd_fbm, "ctrw": msd_ctrw, "lw": msd_lw, "attm": msd_attm,
             "sbm": msd_sbm, "bm": msd_bm}


def exact_msd(model, T, alpha, dim):
    return EXACT_MSD[model](T, alpha, dim)


# --------------------------------------------------------------------------------------
# Checks returning (ok, detail)


def check_msd_exponent(y, lags, expected_curve, offset=0.0, t_shift=0, z=4.0, tol_floor=0.01):
    """Ensemble-MSD exponent from squared displacements ``y`` (n, len(lags)) against the
    exponent of ``expected_curve`` (exact E|x_t|^2, t = 0..T-1) fitted on the same lags
    with the same transform.  Passes when |difference| <= max(z se, tol_floor); the
    floor absorbs the (much smaller) numerical error of the exact curves."""
    beta, se = ensemble_exponent(y, lags, offset, t_shift)
    expect = loglog_slope(np.asarray(lags) + t_shift, expected_curve[lags] + offset)
    tol = max(z * se, tol_floor)
    ok = abs(beta - expect) <= tol
    return ok, (f"fitted {beta:.4f} +- {se:.4f}, expected {expect:.4f}, "
                f"|diff| {abs(beta - expect):.4f} vs tol {tol:.4f}")


def check_msd_curve(y, lags, expected_curve, z=5.0):
    """Ensemble MSD (squared displacements ``y``, (n, len(lags))) at each lag against the
    exact curve: passes when max |z| of (mean - exact) / se <= z."""
    y = np.asarray(y, np.float64)
    mean = y.mean(axis=0)
    se = y.std(axis=0, ddof=1) / math.sqrt(y.shape[0])
    zs = (mean - expected_curve[lags]) / se
    worst = int(np.argmax(np.abs(zs)))
    ok = bool(np.all(np.abs(zs) <= z))
    return ok, (f"max |z| {abs(zs[worst]):.2f} at t={lags[worst]} "
                f"(mean {mean[worst]:.4g}, exact {expected_curve[lags][worst]:.4g})")


def check_proportions(counts_hit, counts_total, p_expected, z=5.0, labels=None):
    """Binomial proportions hit/total against p_expected: max |z| <= z."""
    hit = np.asarray(counts_hit, np.float64)
    tot = np.asarray(counts_total, np.float64)
    p = np.asarray(p_expected, np.float64)
    se = np.sqrt(np.clip(p * (1 - p), 0.0, None) / tot)
    se = np.where(se > 0, se, 1.0 / tot)
    zs = (hit / tot - p) / se
    worst = int(np.argmax(np.abs(zs)))
    lab = labels[worst] if labels is not None else worst
    ok = bool(np.all(np.abs(zs) <= z))
    return ok, (f"max |z| {abs(zs[worst]):.2f} at {lab}: observed {hit[worst] / tot[worst]:.4f} "
                f"(n={int(tot[worst])}), expected {p[worst]:.4f}")


def check_means(samples, expected, z=5.0, labels=None):
    """Means of columns of samples (n, k) against expected (k,), z from column std."""
    s = np.asarray(samples, np.float64)
    mean = s.mean(axis=0)
    se = s.std(axis=0, ddof=1) / math.sqrt(s.shape[0])
    expected = np.asarray(expected, np.float64)
    zs = (mean - expected) / se
    worst = int(np.argmax(np.abs(zs)))
    lab = labels[worst] if labels is not None else worst
    ok = bool(np.all(np.abs(zs) <= z))
    return ok, (f"max |z| {abs(zs[worst]):.2f} at {lab}: mean {mean[worst]:.5f}, "
                f"expected {expected[worst]:.5f}")


# --------------------------------------------------------------------------------------
# Per-trajectory statistics and KS


def _safe(v, fill=0.0):
    v = np.asarray(v, np.float64)
    return np.where(np.isfinite(v), v, fill)


def increments(x):
    return np.diff(np.asarray(x, np.float64), axis=2)


def trajectory_statistics(x):
    """A dict of per-trajectory statistics (each an array of n).

    Chosen to be sensitive to the exponent, the waiting/flight-time law, the jump law,
    the first-step conventions and the coupling of the axes."""
    x = np.asarray(x, np.float64)
    n, dim, T = x.shape
    dx = increments(x)
    sq = np.sum(dx * dx, axis=1)  # |dx_t|^2, (n, T-1)
    lag_mid = max(2, (T - 1) // 8)
    ta = tamsd(x, [1, lag_mid])
    out = {
        "tamsd_1": ta[:, 0],
        f"tamsd_{lag_mid}": ta[:, 1],
        "final_sq": np.sum(x[:, :, -1] ** 2, axis=1),
        "max_abs": np.max(np.sqrt(np.sum(x * x, axis=1)), axis=1),
        "early_sq": np.sum(x[:, :, min(5, T - 1)] ** 2, axis=1),
        "zero_frac": np.mean(sq == 0.0, axis=1),
    }
    # kurtosis of the axis-0 increments (0 when they are all equal)
    d0 = dx[:, 0, :]
    c = d0 - d0.mean(axis=1, keepdims=True)
    m2 = np.mean(c * c, axis=1)
    m4 = np.mean(c**4, axis=1)
    # (all increments equal up to rounding, e.g. one LW flight: degenerate, set to 0)
    degenerate = m2 <= 1e-18 * np.mean(d0 * d0, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["kurtosis"] = np.where(degenerate, 0.0, _safe(m4 / (m2 * m2)))
        # lag-1 autocorrelation of the increments, pooled over axes
        num = np.sum(dx[:, :, 1:] * dx[:, :, :-1], axis=(1, 2))
        den = np.sum(dx * dx, axis=(1, 2))
        out["ac1"] = _safe(num / den)
        # share of the total square displacement carried by axis 0 (dim > 1)
        if dim > 1:
            out["axis0_share"] = _safe(np.sum(dx[:, 0] ** 2, axis=1) / den, 1.0 / dim)
    # fraction of consecutive increments that are equal (LW flights), relative 1e-9
    scale = np.sqrt(np.max(sq, axis=1, keepdims=True)) + 1e-300
    same = np.all(np.abs(dx[:, :, 1:] - dx[:, :, :-1]) <= 1e-9 * scale[:, :, None], axis=1)
    out["repeat_frac"] = np.mean(same & (sq[:, 1:] > 0), axis=1)
    return out


def ks_compare(x, y, alpha_level=1e-3):
    """Two-sample KS of every trajectory statistic; Bonferroni over the statistics.

    Returns (ok, detail): ok when min p * (number of statistics) >= alpha_level."""
    sx = trajectory_statistics(x)
    sy = trajectory_statistics(y)
    pv = {}
    for k in sx:
        pv[k] = float(sps.ks_2samp(sx[k], sy[k], method="asymp").pvalue)
    worst = min(pv, key=pv.get)
    m = len(pv)
    ok = pv[worst] * m >= alpha_level
    return ok, f"worst {worst}: p={pv[worst]:.3g} (x{m} stats); " + ", ".join(
        f"{k}={v:.2g}" for k, v in pv.items())


def first_two_runs(x, tol=1e-9):
    """Runs of equal consecutive increments (all axes equal to tol times the largest
    |increment| of the trajectory).  Returns (R1, R2, m): the observed length of the
    first run, of the second run (0 if none; censored at the end), and the number of
    increments m = T - 1.  Run 2 starts at increment R1."""
    dx = increments(x)
    n, dim, m = dx.shape
    scale = np.max(np.abs(dx), axis=(1, 2)) + 1e-300
    same = np.all(np.abs(dx[:, :, 1:] - dx[:, :, :-1]) <= tol * scale[:, None, None], axis=1)
    nb = np.cumsum(~same, axis=1)  # breaks between increments k and k+1, cumulated
    b1 = np.argmax(nb >= 1, axis=1)
    b2 = np.argmax(nb >= 2, axis=1)
    R1 = np.where(nb[:, -1] >= 1, b1 + 1, m)
    R2 = np.where(nb[:, -1] >= 2, b2 - b1, m - R1)
    return R1, R2, m


def first_event_index(x):
    """First time index k >= 1 with x_k != 0 on some axis (T if none)."""
    nz = np.any(np.asarray(x) != 0.0, axis=1)
    T = nz.shape[1]
    return np.where(nz.any(axis=1), np.argmax(nz, axis=1), T)


def check_ks_1samp(sample, cdf, alpha_level=1e-3, label=""):
    """One-sample KS of ``sample`` against a scipy cdf callable."""
    r = sps.kstest(np.asarray(sample, np.float64), cdf)
    ok = r.pvalue >= alpha_level
    return ok, f"{label} KS D={r.statistic:.4f}, p={r.pvalue:.3g} (n={len(sample)})"
