"""AnDi 2 state models, 2-D, T = 200, float32: anomgrad against a plain vectorised
numpy implementation in the same group (andi-datasets itself needs numpy <= 1.26 and
runs in its own venv: bench/phenom_speed.py --andi; docs/benchmarks.md has both)."""

import os
import sys

import numpy as np
import pytest
from conftest import run

import anomgrad as ag
from numpy_baselines import multi_state

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from phenom_stats import CONFIGS  # noqa: E402

T = 200


@pytest.mark.parametrize("impl", ["anomgrad", "numpy"])
def test_multi_state_defaults(benchmark, n_traj, impl):
    benchmark.group = f"generate multi_state defaults 2D T={T}"
    if impl == "numpy":
        rng = np.random.default_rng(0)
        fn = lambda: multi_state(n_traj, T, rng)  # noqa: E731
    else:
        fn = lambda: ag.generate("multi_state", n_traj, T, seed=0)  # noqa: E731
    x, lab = run(benchmark, fn, n_traj)
    assert x.shape == (n_traj, 2, T) and lab.shape == (n_traj, 4, T)


@pytest.mark.parametrize("case", ["single-spread", "multi-two"])
def test_correlated_states(benchmark, n_traj, case):
    """Correlated steps (alpha != 1): the FBM path of single_state, Durbin-Levinson runs
    of multi_state (tests/phenom_stats.py's configurations)."""
    benchmark.group = f"generate state models, correlated steps, 2D T={T}"
    model, params = next((m, p) for n, m, p in CONFIGS if n == case)
    x, lab = run(benchmark, lambda: ag.generate(model, n_traj, T, seed=0, **params), n_traj)
    assert x.shape == (n_traj, 2, T)
