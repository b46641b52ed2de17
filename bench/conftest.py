import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

# Trajectories per call; the figures in docs/benchmarks.md use ANOMGRAD_BENCH_N=100000.
N = int(os.environ.get("ANOMGRAD_BENCH_N", "20000"))


@pytest.fixture
def n_traj():
    return N


def run(benchmark, fn, n, rounds=3):
    """Time fn() (warm-up excluded); record trajectories per second."""
    result = benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1, iterations=1)
    if benchmark.stats is not None:
        benchmark.extra_info["traj_per_s"] = round(n / benchmark.stats.stats.median)
    return result
