"""Generator throughput, 2-D, T = 1000, float32: anomgrad (scalar and per-trajectory
alpha) against a plain vectorised numpy implementation in the same group."""

import numpy as np
import pytest
from conftest import run

import anomgrad as ag
from numpy_baselines import BASELINES

T = 1000
CASES = [("fbm", 0.7, (0.1, 1.9)), ("ctrw", 0.9, (0.1, 0.9)), ("lw", 1.5, (1.1, 1.9)),
         ("attm", 0.7, (0.1, 1.0)), ("sbm", 0.5, (0.1, 1.9)), ("bm", 1.0, (1.0, 1.0))]


@pytest.mark.parametrize("model,alpha,arange", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("impl", ["anomgrad", "anomgrad_alpha_array", "numpy"])
def test_generate(benchmark, n_traj, model, alpha, arange, impl):
    benchmark.group = f"generate {model} 2D T={T}"
    if impl == "numpy":
        rng = np.random.default_rng(0)
        fn = lambda: BASELINES[model](n_traj, T, alpha, 2, rng)  # noqa: E731
    else:
        a = alpha if impl == "anomgrad" else np.random.default_rng(1).uniform(*arange, n_traj)
        if model == "bm":
            a = None
        fn = lambda: ag.generate(model, n_traj, T, a, dim=2, seed=0)  # noqa: E731
    x = run(benchmark, fn, n_traj, rounds=3 if impl == "numpy" else 7)
    assert x.shape == (n_traj, 2, T) and x.dtype == np.float32


@pytest.mark.parametrize("model,alpha", [("ctrw", 1.0), ("lw", 1.05), ("attm", 1.0)],
                         ids=["ctrw-a1.0", "lw-a1.05", "attm-a1.0"])
def test_generate_slowest_alpha(benchmark, n_traj, model, alpha):
    """The alphas at which andi-datasets is slowest (most events per trajectory)."""
    benchmark.group = "generate worst-case alpha 2D T=1000"
    x = run(benchmark, lambda: ag.generate(model, n_traj, T, alpha, dim=2, seed=0), n_traj, 7)
    assert x.shape == (n_traj, 2, T)
