"""Targeted augmentation: rotation, selection per class, the augmented files, and the
noise sweep's clean copies.  The whole experiment runs in tests/test_reproduce.py."""

import math
import os

import h5py
import numpy as np
import pytest
from scipy import stats

import anomgrad as ag
from anomgrad.experiments import augment as A
from anomgrad.experiments import noise as N
from anomgrad.resandi import datasets as D


@pytest.fixture(scope="module")
def small():
    """A small varying-T dataset in memory: z, x, label, T."""
    return D.resandi("varying", "train", 24, seed=3)


def increments(z, T):
    """Valid increments of each left-padded row: list of (2, T-1) arrays."""
    return [np.diff(z[i][:, -T[i]:].astype(np.float64), axis=-1) for i in range(len(T))]


# ---- rotation ---------------------------------------------------------------------


def test_rotation_preserves_increment_statistics(small):
    z, T = small["z"], small["T"]
    ang = A.rotation_angles(len(T), seed=5)
    r = A.rotate(z, ang)
    assert r.shape == z.shape and r.dtype == np.float32
    for i, (d0, d1) in enumerate(zip(increments(z, T), increments(r, T))):
        # every step keeps its length ...
        tol = 8 * np.finfo(np.float32).eps * max(1.0, np.abs(z[i]).max())  # float32 positions
        np.testing.assert_allclose(np.hypot(*d1), np.hypot(*d0), rtol=0, atol=tol)
        # ... so the total increment variance (trace of the covariance, 2 after AnDi
        # normalization) is unchanged, while the per-axis split changes
        if T[i] > 2:
            v0 = d0.var(-1)  # 1 per axis after AnDi normalization (0: a walk that never moved)
            np.testing.assert_allclose(v0, np.round(v0), atol=1e-4)
            assert d1.var(-1).sum() == pytest.approx(v0.sum(), rel=1e-4, abs=1e-9)
        # the padding stays exactly zero and the start at the origin
        assert not r[i][:, :-T[i]].any()
        assert np.abs(r[i][:, -T[i]]).max() == 0
    # the displacement vector turns by the angle
    end0, end1 = z[:, :, -1].astype(np.float64), r[:, :, -1].astype(np.float64)
    turned = np.angle(end1[:, 0] + 1j * end1[:, 1]) - np.angle(end0[:, 0] + 1j * end0[:, 1])
    ok = np.hypot(*end0.T) > 1e-3
    np.testing.assert_allclose(np.exp(1j * turned[ok]), np.exp(1j * ang[ok]), atol=1e-4)


def test_rotation_special_angles(small):
    z = small["z"][:5]
    np.testing.assert_array_equal(A.rotate(z, np.zeros(5)), z)
    q = A.rotate(z, np.full(5, np.pi / 2))  # (x, y) -> (-y, x)
    np.testing.assert_allclose(q[:, 0], -z[:, 1], atol=1e-6)
    np.testing.assert_allclose(q[:, 1], z[:, 0], atol=1e-6)
    back = A.rotate(A.rotate(z, np.full(5, 1.234)), np.full(5, -1.234))
    np.testing.assert_allclose(back, z, atol=1e-5)


def test_rotation_bad_input(small):
    with pytest.raises(ValueError, match="angles"):
        A.rotate(small["z"][:3], np.zeros(2))
    with pytest.raises(ValueError, match="angles"):
        A.rotate(small["z"][:2], np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="two-dimensional"):
        A.rotate(np.zeros((2, 3, 10), np.float32), np.zeros(2))


def test_angles_uniform_and_seeded():
    a = A.rotation_angles(20000, seed=1)
    assert a.min() >= 0 and a.max() < 2 * np.pi
    assert stats.kstest(a / (2 * np.pi), "uniform").pvalue > 1e-3
    np.testing.assert_array_equal(a, A.rotation_angles(20000, seed=1))
    assert not np.array_equal(a, A.rotation_angles(20000, seed=1, arm=1))
    assert not np.array_equal(a, A.rotation_angles(20000, seed=2))


# ---- selection ------------------------------------------------------------------------


def test_extra_counts_scale_with_the_class():
    assert A.extra_count(10000) == 6000  # the paper: 6,000 of 10,000 per class
    assert A.extra_count(256) == 153
    assert A.extra_count(5) == 3 and A.extra_count(1) == 0
    assert A.extra_count(100, 1.0) == 100
    for bad in (0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="fraction"):
            A.extra_count(10, bad)


def test_targeted_selection_is_the_top_share_of_every_class(rng):
    sizes = {0: 50, 3: 37, 7: 80}
    labels = rng.permutation(np.concatenate([np.full(n, c) for c, n in sizes.items()]))
    scores = rng.normal(size=labels.size) + labels  # classes on different scales
    rows = A.select_targeted(scores, labels, 0.6)
    assert len(set(rows.tolist())) == rows.size
    for c, n in sizes.items():
        mine = rows[labels[rows] == c]
        assert mine.size == int(0.6 * n)
        rest = np.setdiff1d(np.flatnonzero(labels == c), mine)
        assert scores[mine].min() > scores[rest].max()  # the top 60 % of *this* class
        assert np.all(np.diff(scores[mine]) <= 0)  # highest first
    # ranking is within classes: a global top 60 % would take almost only class 7
    assert (labels[rows] == 0).sum() == 30


def test_random_arm_has_the_targeted_counts(rng):
    labels = np.repeat(np.arange(8), 40)
    scores = rng.normal(size=labels.size)
    sel = A.selection(scores, labels, 0.6, seed=4)
    t, r = sel["targeted"][0], sel["random"][0]
    np.testing.assert_array_equal(np.bincount(labels[t], minlength=8),
                                  np.bincount(labels[r], minlength=8))
    assert np.all(np.bincount(labels[t], minlength=8) == 24)
    assert sel["targeted"][1].shape == t.shape and sel["random"][1].shape == r.shape
    # with replacement: a large draw from a small class repeats rows
    big = A.select_random(labels, {c: 400 for c in range(8)}, seed=1)
    assert np.unique(big).size < big.size
    for c in range(8):
        assert np.all(labels[big[labels[big] == c]] == c)
    np.testing.assert_array_equal(big, A.select_random(labels, {c: 400 for c in range(8)}, 1))
    # uniform over the class
    counts = np.bincount(big[labels[big] == 2] - 80, minlength=40)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_selection_bad_input():
    with pytest.raises(ValueError, match="scores"):
        A.select_targeted([1.0, 2.0], [0], 0.6)
    with pytest.raises(ValueError, match="finite"):
        A.select_targeted([1.0, np.nan], [0, 0], 0.6)
    with pytest.raises(ValueError, match="counts"):
        A.select_random(np.zeros(4, int), {0: -1}, 0)


def test_gradcam_scores_are_the_mean_signed_map():
    import torch

    from anomgrad.resandi.nn import ResAnDi

    torch.manual_seed(0)
    m = ResAnDi(width=4).eval()
    x = torch.rand(10, 2, 1000).numpy()
    y = np.arange(10) % 8
    s = A.gradcam_scores(m, x, y, batch_size=4, chunk=6)
    ref = ag.gradcam(m, x, "layer4", target=y).astype(np.float64).mean(-1)
    np.testing.assert_allclose(s, ref, rtol=1e-5, atol=1e-7)
    relu = ag.gradcam(m, x, "layer4", target=y, relu=True).astype(np.float64).mean(-1)
    assert np.abs(s - relu).max() > 1e-3 * np.abs(relu).max()  # signed: no ReLU applied


# ---- augmented files ------------------------------------------------------------------


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    p = tmp_path_factory.mktemp("aug") / "train_0.h5"
    D.write(p, "varying", "train", 10, seed=2, progress=False)
    return p


def test_augmented_file(source, tmp_path, rng):
    src = D.load(source)
    scores = rng.normal(size=src["label"].size)
    sel = A.selection(scores, src["label"], 0.6, seed=0)
    rows, ang = sel["targeted"]
    out = A.write_set(source, rows, ang, tmp_path / "t.h5", arm="targeted", chunk=7,
                      progress=False)
    info = D.inspect(out, family="varying", split="train")  # what ag.train accepts
    n0 = src["label"].size
    assert info["n"] == n0 + rows.size == 8 * 16
    d = D.load(out)
    assert np.all(np.bincount(d["label"]) == 16)
    for k in ("x", "z", "label", "alpha", "T", "index"):
        np.testing.assert_array_equal(d[k][:n0], src[k])
        if k not in ("x", "z"):
            np.testing.assert_array_equal(d[k][n0:], src[k][rows])
    np.testing.assert_array_equal(d["z"][n0:], A.rotate(src["z"][rows], ang))
    np.testing.assert_array_equal(d["x"][n0:], D.minmax(d["z"][n0:]))
    assert not np.array_equal(d["x"][n0:], src["x"][rows])
    with h5py.File(out) as f:
        assert "targeted" in f.attrs["augmentation"]
    # a complete file with the same contents is left alone; another one is refused
    mtime = os.path.getmtime(out)
    A.write_set(source, rows, ang, out, arm="targeted", progress=False)
    assert os.path.getmtime(out) == mtime
    with pytest.raises(ValueError, match="another augmented set"):
        A.write_set(source, rows, ang + 0.1, out, arm="targeted", progress=False)


def test_augmented_file_resumes(source, tmp_path, monkeypatch):
    src = D.load(source, fields=("label",))
    sel = A.selection(np.arange(80.0), src["label"], 0.6, seed=1)
    rows, ang = sel["random"]
    ref = A.write_set(source, rows, ang, tmp_path / "ref.h5", arm="random", chunk=16,
                      progress=False)
    real = D.load
    calls = {"n": 0}

    def dying(*a, **k):
        if k.get("rows") is not None and not isinstance(k["rows"], slice):
            calls["n"] += 1
            if calls["n"] == 4:
                raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(A.D, "load", dying)  # the module augment reads through
    out = tmp_path / "r.h5"
    with pytest.raises(KeyboardInterrupt):
        A.write_set(source, rows, ang, out, arm="random", chunk=16, progress=False)
    with h5py.File(str(out) + ".partial") as f:
        assert int(f["progress"][0]) == 48
    monkeypatch.setattr(A.D, "load", real)
    A.write_set(source, rows, ang, out, arm="random", chunk=16, progress=False)
    a, b = D.load(ref), D.load(out)
    for k in ("x", "z", "label", "T", "index"):
        np.testing.assert_array_equal(a[k], b[k])


# ---- noise ----------------------------------------------------------------------------


def test_noise_goes_to_clean_copies(small):
    z, T = small["z"], small["T"]
    z0 = z.copy()
    valid = np.arange(D.LENGTH)[None, :] >= (D.LENGTH - T)[:, None]
    sigmas = (0.0, 0.3, 0.6, 1.0)
    got = []
    for i, s, zn in N.noise_levels(z, T, sigmas, seed=7):
        d = (zn.astype(np.float64) - z)  # the noise of this level alone
        assert not np.where(valid[:, None, :], 0.0, d).any()  # padding untouched
        sd = d[np.broadcast_to(valid[:, None, :], d.shape)].std()
        # an accumulating sweep would give sqrt(sum of squares): 1.17 at the last level
        assert sd == pytest.approx(s, rel=0.03, abs=1e-12)
        got.append(zn)
    np.testing.assert_array_equal(z, z0)  # the clean set is never modified
    assert not np.shares_memory(got[0], z)
    # every level uses its own seed, the same for every model
    assert N.noise_seed(7, 1) != N.noise_seed(7, 2) == N.noise_seed(7, 2)
    np.testing.assert_array_equal(N.noisy_inputs(z, T, 0.3, N.noise_seed(7, 1)),
                                  D.minmax(got[1]))
    np.testing.assert_array_equal(N.noisy_inputs(z, T, 0.0, 0), small["x"])


def test_noise_bad_sigma(small):
    with pytest.raises(ValueError, match="sigma"):
        N.noisy_positions(small["z"][:2], small["T"][:2], -0.1, 0)
    with pytest.raises(ValueError, match="sigmas"):
        N.check_sigmas([0.1, float("inf")])
    with pytest.raises(ValueError, match="sigmas"):
        N.check_sigmas([])


def test_summary_statistics():
    acc = {"targeted": [[80, 60], [82, 64], [84, 62]], "random": [[80, 50], [81, 52], [79, 54]]}
    s = N.summarize(acc, (0.0, 0.5))
    assert s["targeted"] == [82, 62] and s["random"] == [80, 52]
    assert s["targeted_sem"][0] == pytest.approx(2 / math.sqrt(3))
    assert s["difference"] == [2, 10]
    assert s["difference_unc"][1] == pytest.approx(math.sqrt(4 / 3 + 4 / 3))
    assert s["paired_difference"] == [2, 10]
    one = N.summarize({"targeted": [[1, 2]], "random": [[1, 1]]}, (0, 1))
    assert all(math.isnan(v) for v in one["targeted_sem"] + one["difference_unc"])


def test_paper_reference_numbers():
    # docs/method.md §5 quotes these of the published means
    i = N.PAPER["sigma"].index(0.5)
    assert N.PAPER["targeted"][i] == 49.43 and N.PAPER["random"][i] == 45.61
    assert N.PAPER["effective_sigma"][-1] == pytest.approx(math.sqrt(3.85), abs=1e-3)


def test_default_levels_are_the_papers_effective_noise():
    """The published sweep added noise in place level after level: its nominal sigma_k is
    noise of std sqrt(sum_{j<=k} sigma_j^2).  Independent Gaussians add in variance, so
    adding that std once to a clean copy is the same protocol in distribution."""
    want = (0, 0.1, 0.224, 0.374, 0.548, 0.742, 0.954, 1.183, 1.428, 1.688, 1.962)
    assert N.SIGMAS == N.EFFECTIVE == N.GRIDS["effective"]
    np.testing.assert_allclose(N.SIGMAS, want, atol=5e-4)
    acc = np.cumsum(np.square(N.NOMINAL))  # what in-place accumulation gives
    np.testing.assert_allclose(N.EFFECTIVE, np.sqrt(acc), atol=5e-4)
    assert N.NOMINAL == tuple(round(0.1 * k, 1) for k in range(11))
    # the paper's "+3.8 points at 0.5" is at an effective 0.742: that is where it is compared
    j = N.paper_level(0.742)
    assert N.PAPER["sigma"][j] == 0.5
    assert N.PAPER["targeted"][j] - N.PAPER["random"][j] == pytest.approx(3.82)
    assert N.paper_level(0.5) is None and N.paper_level(0.1) == 1  # nominal grid: no match
    from anomgrad.experiments.profiles import profile

    assert profile(True).augment.noise_grid == "effective"
    assert profile(True, {"augment": {"noise_grid": "nominal"}}).augment.noise_grid == "nominal"
    with pytest.raises(ValueError, match="noise_grid"):
        profile(True, {"augment": {"noise_grid": "accumulated"}})
