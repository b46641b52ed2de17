"""Per-trajectory statistics that compare anomgrad with andi-datasets itself.

numpy only, so the same code runs in the andi-datasets environment (numpy <= 1.26,
`make_andi_reference.py`) and in the test suite (`test_andi_datasets.py`).  Statistics
are taken after AnDi normalization, so the models' overall scales (andi's FBM lives on
[0, 1], its LW speed, ...) drop out.
"""

import numpy as np

# (model, alpha, dim): the configurations stored in data/andi-datasets-2.1.13-stats.npz
CONFIGS = [(m, a, 2) for m, alphas in [
    ("fbm", (0.3, 1.0, 1.7)), ("ctrw", (0.2, 0.5, 0.9)), ("lw", (1.1, 1.5, 2.0)),
    ("attm", (0.3, 0.6, 1.0)), ("sbm", (0.2, 1.0, 1.8))] for a in alphas]
CONFIGS += [(m, a, d) for m, a in [("fbm", 1.0), ("ctrw", 0.5), ("lw", 1.5), ("attm", 0.6),
                                   ("sbm", 0.2)] for d in (1, 3)]
N, T = 2000, 200

NAMES = ["tamsd_slope_1_10", "tamsd_slope_10_50", "kurtosis", "zero_fraction",
         "autocorr_lag1", "max_abs", "first_increment", "first_move", "axis_coupling"]


def normalize(x):
    """AnDi normalization of (n, dim, T) positions, float64."""
    d = np.diff(x.astype(np.float64), axis=-1)
    sd = d.std(axis=-1, keepdims=True)
    sd[sd == 0] = 1
    return np.concatenate([np.zeros(x.shape[:-1] + (1,)), np.cumsum(d / sd, axis=-1)], axis=-1)


def _tamsd(z, lag):
    return ((z[..., lag:] - z[..., :-lag]) ** 2).mean(axis=-1)


def statistics(x):
    """(n, len(NAMES)) statistics of (n, dim, T) trajectories, averaged over axes."""
    z = normalize(x)
    d = np.diff(z, axis=-1)
    n, dim, T = z.shape
    eps = 1e-12
    out = np.empty((n, len(NAMES)))
    m1, m10, m50 = (_tamsd(z, k) + eps for k in (1, 10, 50))
    out[:, 0] = (np.log(m10 / m1) / np.log(10)).mean(axis=1)
    out[:, 1] = (np.log(m50 / m10) / np.log(5)).mean(axis=1)
    dc = d - d.mean(axis=-1, keepdims=True)
    var = (dc**2).mean(axis=-1)
    out[:, 2] = np.where(var > 0, (dc**4).mean(axis=-1) / np.maximum(var, eps) ** 2, 0).mean(axis=1)
    out[:, 3] = (d == 0).mean(axis=(1, 2))
    ac = (dc[..., 1:] * dc[..., :-1]).mean(axis=-1) / np.maximum(var, eps)
    out[:, 4] = ac.mean(axis=1)
    out[:, 5] = np.abs(z).max(axis=-1).mean(axis=1) / np.sqrt(T)
    out[:, 6] = np.abs(d[..., 0]).mean(axis=1)
    moving = np.abs(d).sum(axis=1) > 0  # (n, T-1): any axis moves
    first = np.where(moving.any(axis=1), moving.argmax(axis=1), T - 1)
    out[:, 7] = first / (T - 1)
    if dim == 1:
        out[:, 8] = 0.0
    else:  # correlation of |increments| between axes 0 and 1 (shared D, shared flights)
        a, b = np.abs(d[:, 0]), np.abs(d[:, 1])
        a = a - a.mean(axis=-1, keepdims=True)
        b = b - b.mean(axis=-1, keepdims=True)
        den = np.sqrt((a**2).mean(axis=-1) * (b**2).mean(axis=-1))
        out[:, 8] = np.where(den > 0, (a * b).mean(axis=-1) / np.maximum(den, eps), 0)
    return out


def key(model, alpha, dim):
    return f"{model}_{alpha:g}_{dim}d"
