"""The TA-MSD power-law fit (the alpha baseline and the diffusion coefficient in physical
units): against a plain numpy reference, and against theory for BM and FBM."""

import numpy as np
import pytest

import anomgrad as ag
from anomgrad.tracks.msd import check_scale, fit_lags, fit_power_law, fit_tracks, ta_msd


def test_ta_msd_by_hand():
    p = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0], [4.0, 2.0]])
    # lag 1: 1, 4, 9 -> 14/3; lag 2: 1+4, 9+4 -> 9
    np.testing.assert_allclose(ta_msd(p, 2), [14 / 3, 9.0])


def test_fit_lags():
    assert [fit_lags(T) for T in (3, 4, 10, 50, 200, 5000)] == [0, 3, 3, 5, 20, 100]


def test_parallel_fit_equals_the_plain_one(rng):
    tracks = [np.cumsum(rng.normal(size=(T, 2)), 0) for T in rng.integers(2, 400, 40)]
    a, K = fit_tracks(tracks, pixel_size=0.16, frame_interval=0.05)
    for i, p in enumerate(tracks):
        ra, rK = fit_power_law(p, pixel_size=0.16, frame_interval=0.05)
        if np.isnan(ra):
            assert np.isnan(a[i]) and len(p) < 4
        else:
            assert a[i] == pytest.approx(ra, rel=1e-9) and K[i] == pytest.approx(rK, rel=1e-9)


def test_brownian_motion_gives_alpha_1_and_its_diffusion_coefficient_in_units():
    # ag.generate("bm"): N(0, 1) steps per axis, so 2 D dt = 1 in input units and frames;
    # at 0.1 um per unit and 0.02 s per frame, D = 0.5 * 0.1**2 / 0.02 = 0.25 um^2/s
    x = ag.generate("bm", 400, 1000, dim=2, seed=3)
    a, K = fit_tracks(list(x.transpose(0, 2, 1)), pixel_size=0.1, frame_interval=0.02)
    assert np.median(a) == pytest.approx(1.0, abs=0.03)
    assert np.median(K) == pytest.approx(0.25, rel=0.05)


@pytest.mark.parametrize("alpha", [0.4, 1.6])
def test_fbm_exponent_is_recovered_on_average(alpha):
    x = ag.generate("fbm", 300, 1000, alpha, dim=2, seed=4)
    a, _ = fit_tracks(list(x.transpose(0, 2, 1)))
    assert np.mean(a) == pytest.approx(alpha, abs=0.06)


def test_still_and_short_tracks_give_nan():
    a, K = fit_tracks([np.zeros((50, 2)), np.ones((3, 2)), np.arange(20.0).reshape(10, 2)])
    assert np.isnan(a[:2]).all() and np.isnan(K[:2]).all()
    assert a[2] == pytest.approx(2.0)  # ballistic


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "x"])
def test_bad_scales_are_refused(bad):
    with pytest.raises((ValueError, TypeError), match="pixel_size"):
        check_scale("pixel_size", bad)


def test_classify_reports_K_in_the_units_given(tmp_path):
    from anomgrad.cli import main

    x = ag.generate("bm", 40, 500, dim=2, seed=5)
    res = ag.classify(list(x.transpose(0, 2, 1)), device="cpu", pixel_size=0.1,
                      frame_interval=0.02)
    assert res.K_unit == "um^2/s^alpha"
    assert np.median(res.K) == pytest.approx(0.25, rel=0.1)
    assert np.median(res.alpha_msd) == pytest.approx(1.0, abs=0.06)
    row = res.rows()[0]
    assert row["K_unit"] == "um^2/s^alpha" and row["K"] == pytest.approx(res.K[0], rel=1e-4)
    plain = ag.classify(list(x.transpose(0, 2, 1)), device="cpu")
    assert plain.K_unit == "unit^2/frame^alpha"
    np.testing.assert_allclose(res.alpha_msd, plain.alpha_msd, rtol=1e-9)
    np.testing.assert_allclose(res.K, plain.K * 0.1**2 / 0.02**plain.alpha_msd, rtol=1e-9)
    np.savez(tmp_path / "a.npz", x)  # (n, 2, T) array file
    np.save(tmp_path / "a.npy", x)
    assert main(["classify", str(tmp_path / "a.npy"), "--pixel-size", "abc", "-q"]) == 2
    assert main(["classify", str(tmp_path / "a.npy"), "--pixel-size", "-1", "-q",
                 "--out", str(tmp_path / "o")]) == 2
