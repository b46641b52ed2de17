"""Window statistics (Numba) against a plain numpy transcription of their definitions,
and the correlation table's properties."""

import numpy as np
import pytest

import anomgrad as ag
from anomgrad.experiments import relevance as R


def np_windows(x):
    return np.stack([x[:, :, 25 * i: 25 * i + 225] for i in range(32)], axis=1)  # (n, 32, 2, 225)


def np_kurt(d):
    m = d.mean(-1, keepdims=True)
    s = d.std(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s != 0, ((d - m) ** 4).mean(-1) / s**4 - 3, 0)


def np_raw(x):
    d = np.diff(np_windows(x), axis=-1)  # (n, 32, 2, 224)
    a = d - d.mean(-1, keepdims=True)
    num = (a[..., :-1] * a[..., 1:]).sum(-1)
    den = np.sqrt((a[..., :-1] ** 2).sum(-1) * (a[..., 1:] ** 2).sum(-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ac = np.where(den != 0, num / den, 1).mean(-1)
    q = [slice(int(56 * k), int(56 * (k + 1))) for k in range(4)]
    kurt = np.mean([np_kurt(d[..., s]).mean(-1) for s in q], axis=0)
    ratio = (np.abs(d[..., 1:]) + 1e-6) / np.abs(d[..., :-1] + 1e-6)
    jump = ratio.std(-1).max(-1)
    num = ((-d[..., q[0]].std(-1) + d[..., q[3]].std(-1)).mean(-1)) / 4
    den = d.std(-1).mean(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        vd = np.where(den != 0, num / den, 0)
    vx, vy = d[:, :, 0], d[:, :, 1]
    c_num = vx[..., :-1] * vx[..., 1:] + vy[..., :-1] * vy[..., 1:]
    c_den = np.sqrt((vx[..., :-1] ** 2 + vy[..., :-1] ** 2) * (vx[..., 1:] ** 2 + vy[..., 1:] ** 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        turn = np.nan_to_num(np.arccos(c_num / c_den) / np.pi, nan=0.0).std(-1)
    return np.stack([ac, kurt, jump, vd, turn], axis=-1)


@pytest.fixture(scope="module")
def trajectories():
    xs = [ag.generate(m, 6, 1000, a, seed=1) for m, a in
          [("fbm", 0.3), ("ctrw", 0.5), ("lw", 1.5), ("attm", 0.6), ("sbm", 1.5), ("bm", None)]]
    x = ag.normalize(np.concatenate(xs)).astype(np.float64)
    lo, hi = x.min(-1, keepdims=True), x.max(-1, keepdims=True)
    return (x - lo) / np.where(hi > lo, hi - lo, 1)


def test_window_statistics_match_numpy(trajectories):
    got = R.window_statistics(trajectories)
    ref = np_raw(trajectories)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def test_features_combination(trajectories):
    f = R.features(trajectories)
    raw = np_raw(trajectories)

    def mm(v):
        v = np.abs(v)
        r = v.max(1, keepdims=True) - v.min(1, keepdims=True)
        return (v - v.min(1, keepdims=True)) / np.where(r == 0, 1, r)

    ac, kurt, jump, vd, turn = (raw[..., k] for k in range(5))
    ref = np.stack([ac, ac * mm(turn), mm(jump) * mm(kurt), vd * mm(kurt)], -1)
    np.testing.assert_allclose(f, ref, rtol=1e-9, atol=1e-12)
    assert f.shape == (36, 32, 4)


def test_statistics_see_the_physics(trajectories):
    raw = np_raw(trajectories)
    ac = raw[..., 0].mean(1)
    # sub-FBM (H = 0.15) anti-persistent, LW strongly persistent, BM near 0
    assert ac[:6].mean() < -0.2 and ac[12:18].mean() > 0.5 and abs(ac[30:].mean()) < 0.1


def test_correlations_recover_a_planted_relation(trajectories):
    f = R.features(trajectories)
    labels = np.repeat(np.arange(6), 6)
    rng = np.random.default_rng(0)
    cells = rng.normal(size=(36, 32))
    cells[labels == 2] = 3 * f[labels == 2, :, 0] + 0.1 * rng.normal(size=(6, 32))
    rows = R.correlations(f, cells, labels)
    r = {(d["class"], d["statistic"]): d["pearson"] for d in rows}
    assert r[(2, "AC")] > 0.9
    assert abs(r[(0, "AC")]) < 0.3
    assert len(rows) == 6 * 4


def test_bad_input():
    with pytest.raises(ValueError, match="T >= 1000"):
        R.features(np.zeros((2, 2, 500)))
    with pytest.raises(ValueError, match="cells"):
        R.correlations(np.zeros((3, 32, 4)), np.zeros((3, 31)), np.zeros(3))
