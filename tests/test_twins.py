"""The C++ host build of the shared model and processing headers (the code the CUDA
kernels compile) against the Numba CPU path: bit for bit, FBM to rounding."""

import numpy as np
import pytest

import anomgrad as ag
from anomgrad import _core

CASES = [("bm", 1.0), ("sbm", 0.3), ("sbm", 1.7), ("ctrw", 0.7), ("ctrw", 1.0), ("lw", 1.3),
         ("lw", 2.0), ("attm", 0.5), ("attm", 1.0), ("fbm", 0.4), ("fbm", 1.6)]


def host(model, n, T, alpha, dim, seed, start, dtype):
    out = np.empty((n, dim, T), dtype)
    _core.host.generate_cpu(_core.Model.__members__[model], out, np.atleast_1d(np.asarray(alpha, float)), seed, start)
    return out


@pytest.mark.parametrize("model,alpha", CASES, ids=[f"{m}-{a}" for m, a in CASES])
@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_host_build_equals_numba(model, alpha, dim, dtype):
    x = ag.generate(model, 64, 257, alpha if model != "bm" else None, dim=dim, seed=5, start=9,
                    dtype=dtype)
    y = host(model, 64, 257, alpha, dim, 5, 9, dtype)
    if model == "fbm":  # pocketfft vs the shared radix-2 FFT
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-10 if dtype == np.float64 else 2e-5)
    else:
        assert x.tobytes() == y.tobytes()


@pytest.mark.parametrize("model", ["ctrw", "lw", "attm", "sbm", "fbm"])
def test_host_build_per_trajectory_alpha(model):
    lo, hi = {"ctrw": (0.05, 1.0), "lw": (1.01, 2.0), "attm": (0.05, 1.0), "sbm": (0.05, 2.0),
              "fbm": (0.05, 1.95)}[model]
    a = np.random.default_rng(3).uniform(lo, hi, 300)
    a[::11] = hi if model != "fbm" else a[::11]
    x = ag.generate(model, 300, 1000, a, dim=2, seed=2, dtype=np.float64)
    y = host(model, 300, 1000, a, 2, 2, 0, np.float64)
    if model == "fbm":
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-9)
    else:
        np.testing.assert_array_equal(y, x)


def test_host_build_long_fbm():
    x = ag.generate("fbm", 2, 5000, 0.3, dim=2, seed=1, dtype=np.float64)
    y = host("fbm", 2, 5000, 0.3, 2, 1, 0, np.float64)
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def padded():
    x = ag.generate("ctrw", 40, 120, 0.6, seed=1, dtype=np.float64)
    L, p = ag.cut(x, seed=2, low=1)
    return x, L, p


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_host_processing_equals_numba(padded, dtype):
    x, L, p = padded
    x, p = x.astype(dtype), p.astype(dtype)
    off = (p.shape[-1] - L).astype(np.int64)
    out = np.empty_like(p)
    _core.host.normalize_cpu(p, out, off)
    assert out.tobytes() == ag.normalize(p, lengths=L).tobytes()
    sig = np.linspace(0, 1, len(p))
    _core.host.add_noise_cpu(p, out, off, sig, 7, 3)
    assert out.tobytes() == ag.add_noise(p, sig, seed=7, start=3, lengths=L).tobytes()
    g = ag.diffusion_factors(len(p), seed=4)
    _core.host.scale_cpu(p, out, off, g)
    assert out.tobytes() == ag.scale_diffusion(p, seed=4, lengths=L).tobytes()
    _core.host.cut_cpu(x, out, off)
    assert out.tobytes() == ag.cut(x, lengths=L)[1].tobytes()


def test_host_generate_checks_arrays():
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.host.generate_cpu(_core.Model.fbm, np.empty((2, 2, 10), np.int32), np.array([0.5]), 0, 0)
    with pytest.raises(ValueError, match="alpha"):
        _core.host.generate_cpu(_core.Model.ctrw, np.empty((3, 2, 10)), np.array([0.5, 0.5]), 0, 0)
    with pytest.raises(ValueError, match="contiguous"):
        _core.host.generate_cpu(_core.Model.ctrw, np.empty((3, 2, 10))[:, :, ::2], np.array([0.5]), 0, 0)
