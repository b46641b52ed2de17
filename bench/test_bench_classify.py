"""``ag.classify`` end to end on a trackpy-style CSV (issue #19): reading, checks,
preprocessing, the shipped model (fp32 and amp auto) and the output tables; and reading
a frame-ordered trackpy CSV in chunks of tracks, spilled to disk (issue #20, item 9),
beside ``pandas.read_csv`` of the same file (the parser alone: the baseline).  The
figures in docs/benchmarks.md are 10,000 and 20,000 tracks of 200 frames through
``anomgrad classify`` (bench/experiment_csv.py); here 1,000 tracks keep the groups
short."""

import numpy as np
import pytest

import anomgrad as ag
from anomgrad.io.tracking import scan_tracking_csv
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
        outputs.write(str(tmp_path), res, str(csv_file))
        return res

    res = benchmark.pedantic(fn, rounds=3, warmup_rounds=1, iterations=1)
    if benchmark.stats is not None:
        benchmark.extra_info["tracks_per_s"] = round(1000 / benchmark.stats.stats.median)
    assert res.n_classified == 1000


@pytest.fixture(scope="module")
def trackpy_file(tmp_path_factory):
    import experiment_csv

    path = str(tmp_path_factory.mktemp("exp") / "exp.csv")
    experiment_csv.make(path, 1000, 200, by_track=False)
    return path


@pytest.mark.parametrize("how", ["pandas.read_csv", "scan, in memory", "scan, spilled"])
def test_read_trackpy_csv(benchmark, trackpy_file, tmp_path, how):
    benchmark.group = "read a trackpy CSV of 1,000 tracks x 200 frames (rows by frame)"

    def fn():
        if how == "pandas.read_csv":
            import pandas as pd

            return len(pd.read_csv(trackpy_file))
        spill = how.endswith("spilled")
        with scan_tracking_csv(trackpy_file, chunk_tracks=250, memory_rows=0 if spill else 10**9,
                               spill_dir=tmp_path) as chunks:
            return sum(len(t) for t in chunks)

    n = benchmark.pedantic(fn, rounds=3, warmup_rounds=1, iterations=1)
    assert n == (200_000 if how == "pandas.read_csv" else 1000)
