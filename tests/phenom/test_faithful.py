"""anomgrad's state models against andi-datasets 2.1.13 itself.

tests/data/andi-datasets-2.1.13-phenom.npz holds per-trajectory statistics of 2000
trajectories per configuration drawn with andi-datasets' ``models_phenom``
(tests/make_andi_phenom_reference.py; the statistics are tests/phenom_stats.py):
displacements at lags 1, 10 and 50, squared displacements from the start (the
ensemble MSD), the alpha and D labels at two frames, the kind label, the first dwell
time and the number of switches, the start inside a box.  Each must be
indistinguishable from andi's by a two-sample KS test, and the ensemble MSD must agree
within its error bars.
"""

import os

import numpy as np
import pytest
from scipy.stats import ks_2samp

import anomgrad as ag
from phenom_stats import CONFIGS, MSD_T, N, NAMES, T, statistics

DATA = np.load(os.path.join(os.path.dirname(__file__), "..", "data",
                            "andi-datasets-2.1.13-phenom.npz"))
# 6 configurations x 16 statistics: the chance that a correct generator fails somewhere
# stays below 1e-4, while a transition probability off by 0.05 or an alpha off by 0.1
# fails (test_a_wrong_parameter_is_detected)
P_MIN = 1e-6
Z_MAX = 4.5  # ensemble MSD: |difference| / its standard error, 18 comparisons


def ours(model, params, seed=3):
    return statistics(*ag.generate(model, N, T, seed=seed, dtype=np.float64, **params))


def fields(s, model, params):
    """dimerization's particles interact within a field of N: compare the fields'
    means (independent), not the particles (correlated; their KS p-values would be too
    small: between two seeds of anomgrad itself they reach 0.008 for 2000 particles)."""
    if model != "dimerization":
        return s
    return s.reshape(-1, params["N"], s.shape[1]).mean(axis=1)


def pvalues(name, s):
    model, params = next((m, p) for n, m, p in CONFIGS if n == name)
    s, ref = fields(s, model, params), fields(DATA[name], model, params)
    return {k: ks_2samp(s[:, j], ref[:, j], method="asymp").pvalue
            for j, k in enumerate(NAMES)
            if not (np.all(s[:, j] == s[0, j]) and np.all(ref[:, j] == s[0, j]))}


@pytest.mark.parametrize("name,model,params", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_same_distribution_as_andi_datasets(name, model, params):
    s = ours(model, params)
    p = pvalues(name, s)
    bad = {k: v for k, v in p.items() if v < P_MIN}
    assert not bad, f"differs from andi-datasets: {bad}"
    s, ref = fields(s, model, params), fields(DATA[name], model, params)
    for t in MSD_T:
        j = NAMES.index(f"sq_disp_{t}")
        se = np.sqrt(s[:, j].var() / len(s) + ref[:, j].var() / len(ref))
        z = abs(s[:, j].mean() - ref[:, j].mean()) / se
        assert z < Z_MAX, f"ensemble MSD at t = {t}: {s[:, j].mean():.4g} against andi's " \
                          f"{ref[:, j].mean():.4g} ({z:.1f} standard errors)"


@pytest.mark.parametrize("name,change", [
    ("multi-two", {"M": [[0.9, 0.1], [0.1, 0.9]]}),
    ("multi-two", {"alphas": [[0.5, 0.01], [1.4, 0.01]]}),
    ("single-spread", {"alphas": [0.6, 0.1]}),
    ("single-box", {"L": 22.0}),
    ("dimer-dense", {"Pb": 0.2}),
    ("dimer-eps", {"epsilon_a": 0.0}),  # the constraint ignored
])
def test_a_wrong_parameter_is_detected(name, change):
    """The comparison has power: one parameter moved a little fails it."""
    model, params = next((m, p) for n, m, p in CONFIGS if n == name)
    p = pvalues(name, ours(model, {**params, **change}))
    assert min(p.values()) < P_MIN, p
