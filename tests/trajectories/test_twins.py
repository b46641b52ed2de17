"""The C++ host build of the shared model and processing headers (the code the CUDA
kernels compile) against the public functions on every device: on the CPU that is
Numba = C++ bit for bit (FBM to rounding: pocketfft against the shared radix-2 FFT); on
a GPU it is CUDA = its C++ host twin (the contract promises >= 99.9 % identical
event-driven trajectories, identical SBM/BM and processing)."""

import numpy as np
import pytest
from devices import DEVICES, on
from devices import host as to_host

import anomgrad as ag
from anomgrad import _core
from anomgrad.config import ALPHA_RANGES

CASES = [("bm", 1.0), ("sbm", 0.3), ("sbm", 1.7), ("ctrw", 0.7), ("ctrw", 1.0), ("lw", 1.3),
         ("lw", 2.0), ("attm", 0.5), ("attm", 1.0), ("fbm", 0.4), ("fbm", 1.6)]


def host(model, n, T, alpha, dim, seed, start, dtype):
    out = np.empty((n, dim, T), dtype)
    _core.host.generate_cpu(_core.Model.__members__[model], out, np.atleast_1d(np.asarray(alpha, float)), seed, start)
    return out


EVENT_MODELS = ("ctrw", "lw", "attm")


def identical_fraction(x, y) -> float:
    return float(np.mean(np.all(x == y, axis=(1, 2))))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model,alpha", CASES, ids=[f"{m}-{a}" for m, a in CASES])
@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_generate_equals_host_build(device, model, alpha, dim, dtype):
    n, T = (64, 257) if device == "cpu" else (4000, 1000)
    x = to_host(ag.generate(model, n, T, alpha if model != "bm" else None, dim=dim, seed=5,
                            start=9, dtype=dtype, device=device))
    y = host(model, n, T, alpha, dim, 5, 9, dtype)
    if model == "fbm":  # pocketfft (CPU) or the device FFT against the shared radix-2 FFT
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-10 if dtype == np.float64 else 2e-5)
    elif device == "cuda" and model in EVENT_MODELS:
        frac = identical_fraction(x, y)
        print(f"{model} {alpha} dim {dim} {np.dtype(dtype).name}: identical {frac:.6f}")
        assert frac >= 0.999
    else:
        assert x.tobytes() == y.tobytes()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", ["ctrw", "lw", "attm", "sbm", "fbm"])
def test_per_trajectory_alpha_equals_host_build(device, model):
    """alpha as an array (on the device for the GPU path: a CUDA tensor)."""
    lo, hi = {"ctrw": (0.05, 1.0), "lw": (1.01, 2.0), "attm": (0.05, 1.0), "sbm": (0.05, 2.0),
              "fbm": (0.05, 1.95)}[model]
    a = np.random.default_rng(3).uniform(lo, hi, 300)
    a[::11] = hi if model != "fbm" else a[::11]
    x = to_host(ag.generate(model, 300, 1000, on(device, a), dim=2, seed=2, dtype=np.float64,
                            device=device))
    y = host(model, 300, 1000, a, 2, 2, 0, np.float64)
    if model == "fbm":
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-9)
    elif device == "cuda" and model in EVENT_MODELS:
        assert identical_fraction(x, y) >= 0.999
    else:
        np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("device", DEVICES)
def test_long_trajectories_equal_host_build(device):
    """T = 5000 in float64 (FBM beyond one block's shared memory), and T = 100,000 in
    float32 for every model."""
    x = to_host(ag.generate("fbm", 2, 5000, 0.3, dim=2, seed=1, dtype=np.float64,
                            device=device))
    np.testing.assert_allclose(host("fbm", 2, 5000, 0.3, 2, 1, 0, np.float64), x, rtol=0,
                               atol=1e-9)
    for m, a in [("lw", 1.5), ("ctrw", 0.9), ("attm", 0.7), ("sbm", 0.5), ("bm", 1.0),
                 ("fbm", 0.7)]:
        x = to_host(ag.generate(m, 4, 100_000, a, seed=1, device=device))
        y = host(m, 4, 100_000, a, 2, 1, 0, np.float32)
        if m == "fbm":
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-3)
        else:
            assert identical_fraction(x, y) >= 0.75, m  # 4 rows: allow one rounding flip


@pytest.fixture(scope="module")
def padded():
    x = ag.generate("ctrw", 40, 120, 0.6, seed=1, dtype=np.float64)
    L, p = ag.cut(x, seed=2, low=1)
    return x, L, p


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_processing_equals_host_build(device, padded, dtype):
    x, L, p = padded
    x, p = x.astype(dtype), p.astype(dtype)
    off = (p.shape[-1] - L).astype(np.int64)
    P, Ld = on(device, p), on(device, L)
    out = np.empty_like(p)
    _core.host.normalize_cpu(p, out, off)
    assert out.tobytes() == to_host(ag.normalize(P, lengths=Ld)).tobytes()
    sig = np.linspace(0, 1, len(p))
    _core.host.add_noise_cpu(p, out, off, sig, 7, 3)
    assert out.tobytes() == to_host(ag.add_noise(P, sig, seed=7, start=3, lengths=Ld)).tobytes()
    g = ag.diffusion_factors(len(p), seed=4)
    _core.host.scale_cpu(p, out, off, g)
    assert out.tobytes() == to_host(ag.scale_diffusion(P, seed=4, lengths=Ld)).tobytes()
    _core.host.cut_cpu(x, out, off)
    Lc, c = ag.cut(on(device, x), lengths=Ld)
    assert out.tobytes() == to_host(c).tobytes()
    np.testing.assert_array_equal(to_host(Lc), L)
    L2, c2 = ag.cut(on(device, x), seed=2, low=1)  # drawn lengths: the same on every device
    np.testing.assert_array_equal(to_host(L2), L)
    assert to_host(c2).tobytes() == p.tobytes()


def test_host_generate_checks_arrays():
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.host.generate_cpu(_core.Model.fbm, np.empty((2, 2, 10), np.int32), np.array([0.5]), 0, 0)
    with pytest.raises(ValueError, match="alpha"):
        _core.host.generate_cpu(_core.Model.ctrw, np.empty((3, 2, 10)), np.array([0.5, 0.5]), 0, 0)
    with pytest.raises(ValueError, match="contiguous"):
        _core.host.generate_cpu(_core.Model.ctrw, np.empty((3, 2, 10))[:, :, ::2], np.array([0.5]), 0, 0)


@pytest.mark.parametrize("model", list(ALPHA_RANGES))
def test_native_alpha_ranges_are_the_configs(model):
    """The native bindings refuse an alpha outside config.ALPHA_RANGES themselves (models.h
    alpha_range; generate_cuda on a read-back copy, tests/emulation gen_alpha), with the
    Python layer's message:
    each bound accepted when inclusive and refused when exclusive, the nearest doubles
    beyond it refused, NaN and inf refused, the bad entry of a per-trajectory array named."""
    lo, lo_in, hi, hi_in = ALPHA_RANGES[model]

    def run(values):
        a = np.asarray(values, np.float64)
        _core.host.generate_cpu(_core.Model.__members__[model], np.empty((len(a), 1, 4)), a, 0, 0)

    bad = [np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf), np.nan, np.inf, -np.inf]
    bad += [lo] if not lo_in else []
    bad += [hi] if not hi_in else []
    for b in bad:
        with pytest.raises(ValueError) as e:
            run([b])
        if np.isfinite(b):  # the Python layer's wording, the range printed alike
            with pytest.raises(ValueError) as want:
                ag.generate(model, 1, 4, b, dim=1)
            assert str(e.value).replace("alpha[0]", "alpha", 1).startswith(str(want.value))
        else:
            assert "is outside the valid range for " + model in str(e.value)
    good = [v for v in (lo, hi) if (v == lo and lo_in) or (v == hi and hi_in)]
    good += [np.nextafter(lo, np.inf), np.nextafter(hi, -np.inf)] if lo < hi else []
    run(good or [lo])
    mid = 0.5 * (lo + hi)
    with pytest.raises(ValueError, match=r"^alpha\[2\] = nan is outside the valid range for "
                                         + model + ": "):
        run([mid, mid, np.nan, mid])
