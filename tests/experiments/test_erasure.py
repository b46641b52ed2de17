"""Targeted erasure: the machinery (which steps are erased, how many at random) and the
result's structure.  The 'erasing the least relevant band hurts least' property on a
trained model is checked by the reproduce --quick test."""

import numpy as np
import pytest
import torch

from anomgrad.experiments import erasure as E
from anomgrad.cam import cam_nearest_index, fused
from anomgrad.resandi.nn import ResAnDi


def test_erase_zeroes_exactly_the_cells_steps():
    x = torch.ones(2, 2, 1000)
    mask = torch.zeros(2, 32, dtype=torch.bool)
    mask[0, 3] = True
    mask[1, [0, 31]] = True
    idx = cam_nearest_index(32, 1000)
    e = E._erase(x, mask, idx)
    assert torch.equal(e[0, :, idx == 3], torch.zeros(2, int((idx == 3).sum())))
    assert int((e[0] == 0).sum()) == 2 * int((idx == 3).sum())
    assert int((e[1] == 0).sum()) == 2 * int(((idx == 0) | (idx == 31)).sum())


def test_random_baseline_erases_as_many_cells():
    g = torch.Generator().manual_seed(0)
    m = torch.rand(500, 32, generator=g) < 0.2
    r = E._random_like(m, torch.Generator().manual_seed(1))
    assert torch.equal(r.sum(1), m.sum(1))
    # uniform over cells: every cell chosen about equally often
    counts = E._random_like(torch.ones(4000, 32, dtype=torch.bool) & (torch.arange(32) < 4),
                            torch.Generator().manual_seed(2)).sum(0).float()
    assert counts.std() / counts.mean() < 0.1


def test_random_runs_keep_the_run_lengths_and_spare_the_last_cell():
    """The published code's other baseline: the targeted runs' lengths, placed at random
    without overlap and never on the last cell."""
    g = np.random.default_rng(0)
    m = np.zeros((2000, 32), bool)
    for i in range(len(m)):  # a few runs per row, as a decile band gives
        for _ in range(g.integers(0, 3)):
            s = g.integers(0, 32)
            m[i, s:s + g.integers(1, 5)] = True
    r, fallback = E.random_runs_like(m, np.random.default_rng(1))
    assert fallback == 0
    np.testing.assert_array_equal(r.sum(1), m.sum(1))  # as many cells
    assert not r[:, 31].any()  # the published placement never reaches the last cell
    # a row's runs, merged where they touch, cover its lengths: each placed run is whole
    for i in np.flatnonzero(m.any(1))[:300]:
        got, want = E._runs(r[i]), E._runs(m[i])
        assert sum(got) == sum(want) and len(got) <= len(want)
    # starts are uniform: every cell but the last is hit about equally often by 1-runs
    one = np.zeros((20000, 32), bool)
    one[:, 5] = True
    hits = E.random_runs_like(one, np.random.default_rng(2))[0].sum(0)
    assert hits[31] == 0 and hits[:31].std() / hits[:31].mean() < 0.1
    # 31 cells fit only as cells 0..30; all 32 cannot avoid the last cell: random cells
    m31 = np.zeros((3, 32), bool)
    m31[:, 1:] = True
    r, fallback = E.random_runs_like(m31, np.random.default_rng(3))
    assert fallback == 0 and r[:, :31].all() and not r[:, 31].any()
    r, fallback = E.random_runs_like(np.ones((3, 32), bool), np.random.default_rng(3))
    assert fallback == 3 and r.all()


def test_bands_partition_cells_for_nearest():
    g = torch.Generator().manual_seed(3)
    _, _, b = fused(torch.randn(300, 64, 32, generator=g), torch.randn(300, 64, generator=g),
                    1000, cam=False, nbands=10)
    assert b.sum(1).max() <= 1  # a cell has one value, so at most one band


def test_erasure_result_structure():
    torch.manual_seed(0)
    model = ResAnDi(width=8).eval()
    x = torch.rand(24, 2, 1000)
    y = torch.randint(0, 8, (24,))
    r = E.erasure(model, x, y, batch_size=10, progress=False)
    assert r["bands"][0] == "0-10"
    assert len(r["targeted"]) == len(r["random"]) == len(r["random_runs"]) == 10
    assert all(0 <= a <= 100 for a in r["targeted"] + r["random"] + r["random_runs"])
    assert np.array(r["targeted_per_class"]).shape == (10, 8)
    assert np.array(r["random_runs_per_class"]).shape == (10, 8)
    assert sum(r["mean_cells_erased"]) <= 32 and r["random_runs_fallback"] == [0] * 10
    again = E.erasure(model, x, y, batch_size=10, progress=False)  # seeded
    assert again["random"] == r["random"] and again["random_runs"] == r["random_runs"]
    assert E.erasure(model, x, y, batch_size=7, progress=False)["targeted"] == r["targeted"]


def test_erasure_bad_input():
    model = ResAnDi(width=8)
    with pytest.raises(ValueError, match="y"):
        E.erasure(model, torch.rand(4, 2, 1000), torch.zeros(3, dtype=torch.long), progress=False)
