"""AnDi processing against plain numpy compositions."""

import numpy as np
import pytest

import anomgrad as ag

from devices import DEVICES, cuda_missing, host, on


def np_normalize(x):
    """andi-datasets' normalize, per trajectory and axis (numpy reference)."""
    d = np.diff(x.astype(np.float64), axis=-1)
    sd = d.std(axis=-1, keepdims=True)
    sd[sd == 0] = 1
    z = np.cumsum(d / sd, axis=-1)
    return np.concatenate([np.zeros(x.shape[:-1] + (1,)), z], axis=-1)


@pytest.fixture(scope="module")
def traj():
    return np.concatenate([ag.generate("fbm", 50, 200, 0.6, seed=1),
                           ag.generate("ctrw", 50, 200, 0.3, seed=2)])


def test_normalize_matches_numpy(traj):
    z = ag.normalize(traj)
    assert z.dtype == np.float32 and z.shape == traj.shape
    np.testing.assert_allclose(z, np_normalize(traj), rtol=1e-5, atol=1e-5)
    d = np.diff(z.astype(np.float64), axis=-1)
    moving = np.diff(traj, axis=-1).std(axis=-1) > 0  # CTRW at alpha 0.3 may never jump
    assert moving.sum() > 60
    np.testing.assert_allclose(d.std(axis=-1)[moving], 1, atol=1e-5)
    assert np.all(d[~moving] == 0)


@pytest.mark.parametrize("device", DEVICES)
def test_normalize_refuses_rows_too_still_for_float64(device):
    """Steps of 1e-150 square to below float64's range: refused, naming the row and axis,
    on both paths; steps of 1e-100 are fine."""
    if device == "cuda" and cuda_missing():
        pytest.skip(cuda_missing())
    x = ag.generate("bm", 3, 50, dim=2, seed=0, dtype=np.float64)
    ok = x.copy()
    ok[1, 1] *= 1e-100
    np.testing.assert_allclose(host(ag.normalize(on(device, ok))), np_normalize(ok), atol=1e-9)
    bad = x.copy()
    bad[1, 1] *= 1e-150
    with pytest.raises(ValueError, match=r"x: row 1, axis 1 moves by about .*e-15\d, too little"):
        ag.normalize(on(device, bad))


def test_increment_sd_of_the_gpu_check_equals_the_cpu_kernel():
    """The torch statistics behind the GPU path's refusal equal the Numba kernel's, padding
    (lengths) included."""
    import torch

    from anomgrad import processing as P

    x = ag.generate("fbm", 6, 40, 0.4, dim=2, seed=3, dtype=np.float64)
    lengths = np.array([40, 2, 1, 17, 39, 25])
    x = np.where(np.arange(40) < (40 - lengths)[:, None, None], 0.0, x)  # left-padded
    off = P._offsets(x, lengths)
    sds = np.empty((6, 2))
    P._normalize(x, off, np.empty_like(x), sds)
    got = P._increment_sd(torch.from_numpy(x), torch.from_numpy(off.astype(np.int64)))
    np.testing.assert_allclose(got.numpy(), sds, rtol=1e-12, atol=0)
    assert (got[2] == 0).all() and (got[0] > 0).all()


def test_normalize_zero_std_counts_as_one():
    x = np.zeros((2, 2, 30), np.float32)
    x[1, 0] = np.arange(30)  # constant increments: std 0 -> divided by 1
    z = ag.normalize(x)
    np.testing.assert_array_equal(z[0], 0)
    np.testing.assert_array_equal(z[1, 0], np.arange(30))


def test_normalize_float64_and_2d_input(traj):
    x = traj[:, 0].astype(np.float64)
    z = ag.normalize(x)
    assert z.dtype == np.float64 and z.shape == x.shape
    np.testing.assert_allclose(z, np_normalize(x), rtol=1e-12, atol=1e-12)


def test_normalize_with_lengths_equals_normalize_of_cut(traj):
    L, p = ag.cut(traj, seed=5, low=2)
    z = ag.normalize(p, lengths=L)
    for i in range(0, len(L), 7):
        o = 200 - L[i]
        assert np.all(z[i, :, :o] == 0)
        np.testing.assert_allclose(z[i, :, o:], np_normalize(traj[i, :, : L[i]]), rtol=1e-5, atol=1e-5)


def test_add_noise_statistics_and_determinism(traj):
    z = ag.normalize(traj)
    w = ag.add_noise(z, 0.5, seed=3)
    e = (w - z).astype(np.float64)
    assert abs(e.std() - 0.5) < 0.01 and abs(e.mean()) < 0.01
    np.testing.assert_array_equal(w, ag.add_noise(z, 0.5, seed=3))
    part = ag.add_noise(z[10:20], 0.5, seed=3, start=10)
    np.testing.assert_array_equal(part, w[10:20])
    # per-trajectory sigma, zero sigma leaves the trajectory alone
    s = np.zeros(len(z))
    s[::2] = 1.0
    w2 = ag.add_noise(z, s, seed=3)
    np.testing.assert_array_equal(w2[1::2], z[1::2])
    assert abs((w2[::2] - z[::2]).std() - 1.0) < 0.02


def test_add_noise_respects_padding(traj):
    L, p = ag.cut(traj, seed=7)
    w = ag.add_noise(p, 1.0, seed=4, lengths=L)
    full = ag.add_noise(traj, 1.0, seed=4)
    for i in range(0, len(L), 9):
        o = 200 - L[i]
        assert np.all(w[i, :, :o] == 0)
        # the noise of valid position p does not depend on the padding
        np.testing.assert_allclose(w[i, :, o:], full[i, :, : L[i]], rtol=1e-6, atol=1e-6)


def test_scale_diffusion(traj):
    g = ag.diffusion_factors(len(traj), seed=6)
    assert abs(g.mean()) < 0.3 and 0.7 < g.std() < 1.3
    s = ag.scale_diffusion(traj, seed=6)
    ref = g[:, None, None] * (traj.astype(np.float64) - traj[..., :1])
    np.testing.assert_allclose(s, ref, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(ag.scale_diffusion(traj, factor=2.0), 2.0 * traj, rtol=1e-6)
    np.testing.assert_array_equal(ag.diffusion_factors(5, seed=6, start=3), g[3:8])


def test_cut_and_random_lengths(traj):
    L = ag.random_lengths(20000, 10, 1000, seed=1)
    assert L.min() == 10 and L.max() == 1000
    counts = np.bincount(L - 10, minlength=991)
    assert counts.std() < 3 * np.sqrt(20000 / 991)  # roughly uniform
    L2, p = ag.cut(traj, lengths=np.full(len(traj), 17))
    assert np.all(L2 == 17)
    np.testing.assert_array_equal(p[:, :, -17:], traj[:, :, :17])
    assert np.all(p[:, :, :-17] == 0)


@pytest.mark.parametrize("call,exc,words", [
    (lambda x: ag.normalize(x.astype(np.int32)), TypeError, ["x", "float"]),
    (lambda x: ag.normalize(x[0, 0]), ValueError, ["x", "dimensions"]),
    (lambda x: ag.normalize(x, lengths=np.full(3, 5)), ValueError, ["lengths", "length n"]),
    (lambda x: ag.normalize(x, lengths=np.full(len(x), 0)), ValueError, ["lengths", "[1, T=200]"]),
    (lambda x: ag.add_noise(x, -0.1), ValueError, ["sigma", ">= 0"]),
    (lambda x: ag.add_noise(x, np.nan), ValueError, ["sigma", "finite"]),
    (lambda x: ag.add_noise(x, np.ones(3)), ValueError, ["sigma", "length"]),
    (lambda x: ag.add_noise(x, 0.1, seed=-2), ValueError, ["seed"]),
    (lambda x: ag.cut(x, high=500), ValueError, ["high", "T=200"]),
    (lambda x: ag.random_lengths(10, 20, 5), ValueError, ["high", ">= 20"]),
])
def test_bad_input(traj, call, exc, words):
    with pytest.raises(exc) as e:
        call(traj)
    for w in words:
        assert w in str(e.value)
