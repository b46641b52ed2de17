"""Property-based tests of the public API (hypothesis): any input is either accepted and
gives finite output of the documented shape and dtype, or refused with a ValueError or
TypeError that names the argument; never a crash, a hang, a NaN or silent clipping.

The example budget is fixed for CI (profile "ci", tests/conftest.py); set
HYPOTHESIS_PROFILE=long for a longer search.
"""

import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import anomgrad as ag
from anomgrad.config import ALPHA_RANGES, MODELS
from anomgrad.resandi import datasets as D
from anomgrad.resandi.nn import ResAnDi

ARGS = ("model", "n", "T", "alpha", "dim", "seed", "start", "dtype", "device")
VALID = {"fbm": (0.05, 1.95), "ctrw": (0.05, 1.0), "lw": (1.05, 2.0), "attm": (0.1, 1.0),
         "sbm": (0.05, 2.0), "bm": (1.0, 1.0)}


def names_an_argument(e: Exception, names=ARGS) -> bool:
    return any(re.search(rf"\b{n}\b", str(e)) for n in names)


def inside(model, a):
    lo, lo_in, hi, hi_in = ALPHA_RANGES[model]
    return ((a >= lo) if lo_in else (a > lo)) and ((a <= hi) if hi_in else (a < hi))


anything = st.one_of(st.none(), st.booleans(), st.text(max_size=3),
                     st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 2**65))


@given(model=st.one_of(st.sampled_from(MODELS), st.sampled_from(["FBM ", "fmb", ""]), anything),
       n=st.one_of(st.integers(-2, 30), anything), T=st.one_of(st.integers(-1, 200), anything),
       alpha=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none(),
                       st.lists(st.floats(0, 2.5), max_size=4)),
       dim=st.one_of(st.integers(0, 4), anything),
       seed=st.one_of(st.integers(-1, 2**64), anything),
       start=st.one_of(st.integers(-1, 2**64), anything),
       dtype=st.sampled_from([np.float32, np.float64, "float64", np.int32, "float16", None]))
def test_generate_accepts_or_names_the_argument(model, n, T, alpha, dim, seed, start, dtype):
    try:
        x = ag.generate(model, n, T, alpha, dim=dim, seed=seed, start=start, dtype=dtype)
    except (ValueError, TypeError) as e:
        assert names_an_argument(e), f"{type(e).__name__}: {e}"
        return
    assert isinstance(x, np.ndarray) and x.shape == (n, dim, T)
    assert x.dtype == np.dtype(dtype) and np.isfinite(x).all()
    assert (x[..., 0] == 0).all()
    a = np.broadcast_to(np.asarray(1.0 if alpha is None else alpha, float), (n,))
    assert all(inside(model.strip().lower(), v) for v in a)  # nothing outside was clipped in


@st.composite
def model_and_alpha(draw):
    model = draw(st.sampled_from(MODELS))
    lo, hi = VALID[model]
    per_traj = draw(st.booleans())
    n = draw(st.integers(1, 12))
    alpha = (np.array([draw(st.floats(lo, hi)) for _ in range(n)]) if per_traj and hi > lo
             else draw(st.floats(lo, hi)))
    return model, n, alpha


@given(ma=model_and_alpha(), T=st.integers(2, 120), dim=st.integers(1, 3),
       seed=st.integers(0, 2**64 - 1), k=st.integers(0, 11))
def test_shards_and_dtypes_agree(ma, T, dim, seed, k):
    """start= gives the rows of the longer call; float32 is the float64 result rounded."""
    model, n, alpha = ma
    x64 = ag.generate(model, n, T, alpha, dim=dim, seed=seed, dtype=np.float64)
    k = min(k, n - 1)
    a_tail = alpha[k:] if np.ndim(alpha) else alpha
    tail = ag.generate(model, n - k, T, a_tail, dim=dim, seed=seed, start=k, dtype=np.float64)
    np.testing.assert_array_equal(tail, x64[k:])
    x32 = ag.generate(model, n, T, alpha, dim=dim, seed=seed, dtype=np.float32)
    np.testing.assert_array_equal(x32, x64.astype(np.float32))


floats_array = st.integers(1, 6).flatmap(lambda n: st.integers(2, 60).flatmap(
    lambda T: st.lists(st.floats(-1e6, 1e6), min_size=n * 2 * T, max_size=n * 2 * T).map(
        lambda v: np.asarray(v, np.float64).reshape(n, 2, T))))


@given(x=floats_array)
def test_normalize_is_idempotent_and_minmax_in_unit_range(x):
    try:
        z = ag.normalize(x)
    except ValueError as e:  # only rows that barely move (their squares underflow)
        assert names_an_argument(e, ("x",)), str(e)
        sd = np.diff(x, axis=-1).std(-1)
        assert ((sd > 0) & (sd < 1e-130)).any(), str(e)
        return
    assert z.shape == x.shape and np.isfinite(z).all() and (z[..., 0] == 0).all()
    np.testing.assert_allclose(ag.normalize(z), z, rtol=1e-9, atol=1e-9 * (1 + np.abs(z).max()))
    m = D.minmax(z.astype(np.float32))
    assert m.dtype == np.float32 and m.min() >= 0 and m.max() <= 1


@given(x=floats_array, sigma=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                       st.lists(st.floats(-1, 2), min_size=1, max_size=7)),
       seed=st.integers(-1, 2**64))
def test_add_noise_accepts_or_names_the_argument(x, sigma, seed):
    try:
        y = ag.add_noise(x, sigma, seed=seed)
    except (ValueError, TypeError) as e:
        assert names_an_argument(e, ("sigma", "seed", "x")), str(e)
        return
    assert y.shape == x.shape and np.isfinite(y).all()
    if np.all(np.asarray(sigma) == 0):
        np.testing.assert_array_equal(y, x)  # no noise asked, none added


@given(x=floats_array, factor=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                                        st.lists(st.floats(-3, 3), min_size=1, max_size=7)))
def test_scale_diffusion_accepts_or_names_the_argument(x, factor):
    try:
        y = ag.scale_diffusion(x, factor=factor)
    except (ValueError, TypeError) as e:
        assert names_an_argument(e, ("factor", "x")), str(e)
        return
    assert y.shape == x.shape and np.isfinite(y).all() and (y[..., 0] == 0).all()


@given(x=floats_array, data=st.data())
def test_cut_keeps_lengths_or_names_them(x, data):
    n, T = x.shape[0], x.shape[-1]
    L = data.draw(st.lists(st.integers(-1, T + 1), min_size=n, max_size=n))
    try:
        Lo, p = ag.cut(x, np.array(L))
    except (ValueError, TypeError) as e:
        assert names_an_argument(e, ("lengths",)), str(e)
        assert min(L) < 1 or max(L) > T
        return
    np.testing.assert_array_equal(Lo, L)
    for i in range(n):
        assert (p[i, :, :T - L[i]] == 0).all()
        np.testing.assert_array_equal(p[i, :, T - L[i]:], x[i, :, :L[i]])


@given(family=st.sampled_from(D.FAMILIES), split=st.sampled_from(D.FILE_SPLITS),
       n=st.integers(1, 3), classes=st.sets(st.integers(0, 7), min_size=1, max_size=3),
       seed=st.integers(0, 2**64 - 1))
def test_dataset_rows_are_finite_balanced_inputs(family, split, n, classes, seed):
    d = D.resandi(family, split, n, seed, classes=sorted(classes))
    assert d["x"].shape == (n * len(classes), 2, D.LENGTH) and d["x"].dtype == np.float32
    assert np.isfinite(d["x"]).all() and d["x"].min() >= 0 and d["x"].max() <= 1
    assert sorted(np.unique(d["label"])) == sorted(classes)
    assert np.bincount(d["label"])[sorted(classes)].tolist() == [n] * len(classes)
    assert (d["x"].max(axis=(1, 2)) == 1).all()  # every row moves (no all-zero input)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return ResAnDi(width=4).eval()


@given(n=st.integers(0, 3), C=st.integers(1, 3), T=st.sampled_from([999, 1000, 1001]),
       layer=st.sampled_from(["layer4", "layer2", "stem", "layer5", ""]),
       target=st.one_of(st.none(), st.integers(-1, 9), st.just("predicted"), st.just("true")),
       bad=st.sampled_from([None, np.nan, np.inf]), relu=st.booleans(),
       upsample=st.sampled_from(["nearest", "linear", "cubic"]))
def test_gradcam_accepts_or_names_the_argument(net, n, C, T, layer, target, bad, relu, upsample):
    x = torch.rand(n, C, T)
    if bad is not None and n:
        x[0, 0, 5] = bad
    try:
        cam = ag.gradcam(net, x, layer, target, relu=relu, upsample=upsample)
    except (ValueError, TypeError) as e:
        assert names_an_argument(e, ("x", "layer", "target", "upsample", "input", "block")), str(e)
        return
    assert cam.shape == (n, T) and torch.isfinite(cam).all()


track = st.integers(0, 40).flatmap(lambda T: st.integers(1, 3).flatmap(
    lambda d: st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32),
                       min_size=T * d, max_size=T * d).map(
        lambda v: np.asarray(v, np.float64).reshape(T, d))))


@given(tracks=st.lists(track, max_size=5))
def test_classify_lists_every_track(net, tracks):
    res = ag.classify(tracks, model=net, device="cpu")
    assert len(res.ids) == len(res.status) == len(tracks)
    ok = np.array([s == "ok" for s in res.status], bool)
    assert np.isfinite(res.probabilities[ok]).all() and np.isnan(res.probabilities[~ok]).all()
    assert all(bool(m) == (s != "ok") for s, m in zip(res.status, res.message))
    for i, t in enumerate(tracks):
        if res.status[i] == "ok":
            assert t.shape[1] == 2 and len(t) >= 10 and np.isfinite(t).all()
