"""``ag.classify`` end to end on a trackpy-style CSV (issue #19): reading, checks,
preprocessing, the shipped model (fp32 and amp auto) and the output tables.  The
figure in docs/benchmarks.md is 10,000 tracks of 200 frames through ``anomgrad
classify``; here 1,000 tracks keep the group short."""

import numpy as np
import pytest

import anomgrad as ag
from anomgrad.tracks import outputs
from anomgrad.tracks.classify import classify


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    n, T = 1000, 200
    rng = np.random.default_rng(0)
    x = ag.generate("fbm", n=n, T=T, alpha=rng.uniform(0.2, 1.8, n), dim=2, seed=1)
    table = np.column_stack([np.tile(np.arange(T), n), np.repeat(np.arange(n), T),
                             50 + 0.1 * x.transpose(0, 2, 1).reshape(-1, 2)])
    path = tmp_path_factory.mktemp("classify") / "tracks.csv"
    np.savetxt(path, table, fmt=["%d", "%d", "%.4f", "%.4f"], delimiter=",",
               header="frame,particle,x,y", comments="")
    return path


@pytest.mark.parametrize("amp", ["none", "auto"])
def test_classify_csv(benchmark, csv_file, tmp_path, amp):
    benchmark.group = "classify 1,000 tracks of 200 frames from a CSV, cpu"

    def fn():
        res = classify(csv_file, amp=amp, device="cpu")
        outputs.write_tables(str(tmp_path), res, str(csv_file))
        return res

    res = benchmark.pedantic(fn, rounds=3, warmup_rounds=1, iterations=1)
    if benchmark.stats is not None:
        benchmark.extra_info["tracks_per_s"] = round(1000 / benchmark.stats.stats.median)
    assert res.n_classified == 1000
