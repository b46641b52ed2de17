"""Per-trajectory statistics of the AnDi 2 state models (single_state, multi_state) that
compare anomgrad with andi-datasets 2.1.13 itself.

numpy only, so the same code runs in the andi-datasets environment
(`make_andi_phenom_reference.py`, numpy <= 1.26) and in the test suite
(`tests/phenom/test_faithful.py`).  One value per trajectory and statistic, so that a
two-sample KS test compares independent samples.
"""

import numpy as np

N, T = 2000, 200
# (name, model, parameters as andi-datasets takes them)
CONFIGS = [
    ("single-default", "single_state", {}),
    ("single-spread", "single_state", {"alphas": [0.5, 0.1], "Ds": [1.0, 0.2]}),
    ("single-box", "single_state", {"alphas": [1.5, 0.05], "Ds": [0.5, 0.01], "L": 20.0}),
    ("multi-default", "multi_state", {}),
    ("multi-two", "multi_state", {"M": [[0.95, 0.05], [0.1, 0.9]],
                                  "alphas": [[0.4, 0.01], [1.4, 0.01]],
                                  "Ds": [[1.0, 0.1], [0.1, 0.01]]}),
    ("multi-three-box", "multi_state", {
        "M": [[0.9, 0.05, 0.05], [0.02, 0.96, 0.02], [0.1, 0.0, 0.9]],
        "alphas": [[1.5, 0.02], [1.0, 0.02], [0.5, 0.02]], "epsilon_a": [0.2, 0.2],
        "Ds": [[1.0, 0.02], [0.5, 0.01], [0.1, 0.001]], "gamma_d": [0.8, 0.8], "L": 50.0}),
]
LAGS = (1, 10, 50)
T0 = 100  # displacements from frame T0
MSD_T = (10, 50, 199)
NAMES = ([f"disp_x_lag{k}" for k in LAGS] + ["disp_y_lag1_at1"] +
         [f"sq_disp_{t}" for t in MSD_T] +
         ["alpha_0", "alpha_100", "D_0", "D_100", "kind_100", "first_dwell", "switches",
          "start_x"])


def statistics(x, lab):
    """(N, len(NAMES)) from positions (N, dim, T) and labels (N, 4, T): alpha, D, kind,
    state per frame."""
    x = np.asarray(x, np.float64)
    lab = np.asarray(lab, np.float64)
    state = lab[:, 3]
    change = state[:, 1:] != state[:, :-1]
    first = np.where(change.any(axis=1), change.argmax(axis=1) + 1, x.shape[-1])
    cols = [x[:, 0, T0 + k] - x[:, 0, T0] for k in LAGS] + [x[:, 1, 2] - x[:, 1, 1]]
    cols += [((x[:, :, t] - x[:, :, 0]) ** 2).sum(axis=1) for t in MSD_T]
    cols += [lab[:, 0, 0], lab[:, 0, 100], lab[:, 1, 0], lab[:, 1, 100], lab[:, 2, 100],
             first, change.sum(axis=1), x[:, 0, 0]]
    return np.stack(cols, axis=1)


def from_andi(trajs, labels):
    """andi's (T, N, 2) trajectories and (T, N, 3 or 4) labels as (N, 2, T), (N, 4, T)."""
    lab = np.zeros((labels.shape[1], 4, labels.shape[0]))
    lab[:, :labels.shape[2]] = labels.transpose(1, 2, 0)
    return trajs.transpose(1, 2, 0), lab
