"""Per-trajectory statistics of the AnDi 2 state models (single_state, multi_state) that
compare anomgrad with andi-datasets 2.1.13 itself.

numpy only, so the same code runs in the andi-datasets environment
(`make_andi_phenom_reference.py`, numpy <= 1.26) and in the test suite
(`tests/phenom/test_faithful.py`).  One value per trajectory and statistic, so that a
two-sample KS test compares independent samples.
"""

import numpy as np

N, T = 2000, 200
# fixed trap fields (andi-datasets draws one per call; the comparison needs the same one)
TRAPS_20 = [[12.502, 17.944], [15.514, 4.504], [6.003, 17.471], [0.105, 16.425], [15.941, 9.359], [6.061, 5.569], [5.097, 8.902], [10.091, 11.07], [19.91, 15.853], [12.444, 19.779], [4.306, 3.204], [12.251, 0.879], [0.714, 10.298], [9.324, 18.343], [12.585, 10.282], [9.937, 4.95], [0.236, 3.848], [13.841, 4.012], [7.391, 0.075], [16.601, 3.089], [5.352, 17.607], [10.196, 16.943], [12.794, 14.835], [1.83, 10.823], [10.155, 17.427], [7.225, 11.964], [1.185, 7.753], [6.461, 3.004], [16.327, 7.589], [19.575, 11.8]]
CENTERS = [[4.0, 4.0], [10.0, 5.0], [16.0, 4.5], [5.0, 14.0], [11.0, 11.5], [15.5, 16.0]]
TRAPS_10 = [[6.051, 6.38], [6.765, 1.508], [4.403, 2.396], [4.025, 0.967], [9.678, 2.15]]
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
    ("traps-fgn", "immobile_traps", {"L": 20.0, "r": 1.0, "Pb": 0.3, "Pu": 0.05,
                                     "alphas": [0.6, 0.01], "Ds": [1.0, 0.1],
                                     "traps_pos": TRAPS_20}),
    ("traps-white", "immobile_traps", {"L": 10.0, "r": 1.5, "Pb": 0.5, "Pu": 0.2,
                                       "traps_pos": TRAPS_10}),
    ("conf-fixed", "confinement", {"L": 20.0, "r": 2.5, "trans": 0.1,
                                   "Ds": [[1.0, 0.0], [0.2, 0.0]], "comp_center": CENTERS}),
    ("conf-drawn", "confinement", {"L": 40.0, "Nc": 15, "r": 3.0, "trans": 0.3,
                                   "Ds": [[1.0, 0.02], [0.1, 0.001]],
                                   "alphas": [[1.2, 0.01], [0.6, 0.01]], "epsilon_a": [0.3],
                                   "gamma_d": [0.5]}),
    ("dimer-dense", "dimerization", {"N": 50, "L": 15.0, "r": 1.0, "Pb": 0.5, "Pu": 0.05}),
    ("dimer-stokes", "dimerization", {"N": 50, "L": 20.0, "r": 1.0, "Pb": 0.3, "Pu": 0.1,
                                      "Ds": [[1.0, 0.1], [0.5, 0.01]],
                                      "alphas": [[0.8, 0.01], [0.4, 0.01]], "stokes": True}),
    ("dimer-eps", "dimerization", {"N": 50, "L": 15.0, "r": 1.0, "Pb": 0.5, "Pu": 0.05,
                                   "alphas": [[1.2, 0.01], [0.8, 0.04]], "epsilon_a": 0.3}),
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


def from_andi(trajs, labels, model=None):
    """andi's (T, N, 2) trajectories and (T, N, 3 or 4) labels as (N, 2, T), (N, 4, T);
    immobile_traps' state (1 trapped) is where its alpha label is 0."""
    lab = np.zeros((labels.shape[1], 4, labels.shape[0]))
    lab[:, :labels.shape[2]] = labels.transpose(1, 2, 0)
    if model == "immobile_traps":
        lab[:, 3] = lab[:, 0] == 0
    return trajs.transpose(1, 2, 0), lab
