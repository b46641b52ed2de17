"""ag.generate: shapes, the determinism contract (seed, index) -> trajectory, the
documented draw layout of each model, and clear errors for bad input."""

import math

import numba
import numpy as np
import pytest
from devices import DEVICES, on

import anomgrad as ag
from anomgrad import rng
from anomgrad.config import ALPHA_RANGES

ALPHA = {"fbm": 0.7, "ctrw": 0.8, "lw": 1.5, "attm": 0.6, "sbm": 1.3, "bm": None}
MODELS = list(ALPHA)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_shape_dtype_origin(model, dim):
    x = ag.generate(model, 7, 50, ALPHA[model], dim=dim, seed=1)
    assert x.shape == (7, dim, 50) and x.dtype == np.float32
    assert np.all(x[..., 0] == 0) and np.isfinite(x).all()
    assert np.any(x[..., 1:] != 0)


@pytest.mark.parametrize("model", MODELS)
def test_start_equals_slice(model):
    full = ag.generate(model, 40, 120, ALPHA[model], dim=3, seed=11)
    part = ag.generate(model, 10, 120, ALPHA[model], dim=3, seed=11, start=5)
    np.testing.assert_array_equal(part, full[5:15])


@pytest.mark.parametrize("model", MODELS)
def test_threads_do_not_change_bits(model):
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = ag.generate(model, 30, 200, ALPHA[model], seed=3)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = ag.generate(model, 30, 200, ALPHA[model], seed=3)
    finally:
        numba.set_num_threads(old)
    assert one.tobytes() == many.tobytes()


def test_fbm_batching_does_not_change_bits(monkeypatch):
    from anomgrad.models import fbm

    a = np.linspace(0.2, 1.8, 25)
    ref = ag.generate("fbm", 25, 300, a, seed=4, dtype=np.float64)
    monkeypatch.setattr(fbm, "FBM_CHUNK_BYTES", 1)  # one trajectory per FFT batch
    np.testing.assert_array_equal(ag.generate("fbm", 25, 300, a, seed=4, dtype=np.float64), ref)


@pytest.mark.parametrize("model", MODELS)
def test_float32_is_rounded_float64(model):
    x32 = ag.generate(model, 20, 300, ALPHA[model], seed=5, dtype=np.float32)
    x64 = ag.generate(model, 20, 300, ALPHA[model], seed=5, dtype=np.float64)
    assert x64.dtype == np.float64
    np.testing.assert_array_equal(x32, x64.astype(np.float32))


@pytest.mark.parametrize("model", [m for m in MODELS if m != "bm"])
def test_per_trajectory_alpha_row_by_row(model):
    lo, _, hi, _ = ALPHA_RANGES[model]
    a = np.linspace(lo + 0.05, hi - (0.0 if model in ("lw", "sbm", "ctrw", "attm") else 0.05), 6)
    x = ag.generate(model, 6, 150, a, dim=2, seed=8, dtype=np.float64)
    for i in range(6):
        xi = ag.generate(model, 1, 150, a[i], dim=2, seed=8, start=i, dtype=np.float64)
        np.testing.assert_array_equal(x[i], xi[0])


@pytest.mark.parametrize("model", [m for m in MODELS if m != "bm"])
def test_shared_alphas_row_by_row(model):
    """A batch where trajectories share an alpha (SBM then computes each alpha's scale
    table once) gives each trajectory's bits alone."""
    lo, _, hi, _ = ALPHA_RANGES[model]
    a = np.tile(np.linspace(lo + 0.05, hi - 0.05, 3), 4)
    x = ag.generate(model, 12, 150, a, dim=2, seed=8, dtype=np.float64)
    for i in range(12):
        xi = ag.generate(model, 1, 150, a[i], dim=2, seed=8, start=i, dtype=np.float64)
        np.testing.assert_array_equal(x[i], xi[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("model", MODELS)
def test_out_is_written_whole_and_returned(model, dtype):
    lo, _, hi, _ = ALPHA_RANGES[model]
    alpha = None if model == "bm" else 0.5 * (lo + hi)
    out = np.full((7, 3, 130), np.nan, dtype)
    got = ag.generate(model, 7, 130, alpha, dim=3, seed=2, start=5, dtype=dtype, out=out)
    assert got is out
    np.testing.assert_array_equal(out, ag.generate(model, 7, 130, alpha, dim=3, seed=2,
                                                   start=5, dtype=dtype))


@pytest.mark.parametrize("out,words", [
    (np.empty((4, 2, 50)), "dtype float64 but dtype=float32"),
    (np.empty((4, 2, 51), np.float32), r"shape \(n, dim, T\) = \(4, 2, 50\)"),
    (np.empty((4, 50, 2), np.float32).transpose(0, 2, 1), "C-contiguous"),
    ([[0.0]], "numpy array")])
def test_bad_out_is_refused(out, words):
    with pytest.raises((ValueError, TypeError), match=words):
        ag.generate("bm", 4, 50, out=out)


def test_seed_changes_everything():
    a = ag.generate("fbm", 5, 100, 0.5, seed=0)
    b = ag.generate("fbm", 5, 100, 0.5, seed=1)
    assert not np.any(a[..., 1:] == b[..., 1:])


def test_sbm_at_alpha_one_is_bm():
    s = ag.generate("sbm", 10, 500, 1.0, seed=2, dtype=np.float64)
    b = ag.generate("bm", 10, 500, seed=2, dtype=np.float64)
    np.testing.assert_allclose(s, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", MODELS)
def test_extreme_lengths(model):
    x2 = ag.generate(model, 3, 2, ALPHA[model], seed=0)
    assert x2.shape == (3, 2, 2) and np.all(x2[..., 0] == 0)
    big = ag.generate(model, 1, 100_000, ALPHA[model], seed=0)
    assert big.shape == (1, 2, 100_000) and np.isfinite(big).all()


# ---- the documented draw layout (docs/rng.md), which the GPU kernels reproduce ----


def test_bm_layout():
    x = ag.generate("bm", 2, 30, seed=9, dim=3, start=4, dtype=np.float64)
    for i in range(2):
        for a in range(3):
            z = rng.normals(9, 4 + i, 16 + a, 29)[0]
            np.testing.assert_allclose(np.diff(x[i, a]), z, rtol=1e-12, atol=1e-12)


def test_sbm_layout():
    al = 0.4
    x = ag.generate("sbm", 1, 40, al, dim=1, seed=9, dtype=np.float64)[0, 0]
    t = np.arange(1, 40, dtype=np.float64)
    z = rng.normals(9, 0, 16, 39)[0]
    np.testing.assert_allclose(np.diff(x), np.sqrt((t + 1) ** al - t**al) * z, rtol=1e-12)


def test_ctrw_layout():
    al = 0.6
    x = ag.generate("ctrw", 1, 500, al, dim=2, seed=13, dtype=np.float64)[0]
    u = rng.uniforms(13, 0, 1, 400)[0]
    t = np.cumsum((1 - u) ** (-1 / al))
    J = int(np.searchsorted(t, 500, side="left"))
    ref = np.zeros((2, 500))
    for a in range(2):
        jumps = rng.normals(13, 0, 16 + a, max(J, 1))[0]
        for j in range(J):
            ref[a, int(math.floor(t[j])):] += jumps[j]
    np.testing.assert_allclose(x, ref, rtol=1e-10, atol=1e-10)


def test_lw_layout_speed_and_first_flight():
    al = 1.5
    x = ag.generate("lw", 1, 300, al, dim=2, seed=21, dtype=np.float64)[0]
    v = 10 * rng.uniforms(21, 0, 0, 1)[0, 0]
    steps = np.diff(x, axis=1)
    np.testing.assert_allclose(np.hypot(*steps), v, rtol=1e-9)
    tau = (1 - rng.uniforms(21, 0, 1, 1)[0, 0]) ** (-1 / (3 - al))
    w = rng.words(21, 0, 2, 4)[0, 0]
    th = 2 * np.pi * w / 2**32
    n0 = min(int(math.floor(tau)) if tau <= 300 else 301, 300)
    # steps 1 .. n0-1 belong to flight 0 (step 0 is dropped by andi)
    if n0 > 1:
        np.testing.assert_allclose(steps[:, : n0 - 1].T, v * np.array([np.cos(th), np.sin(th)]) * np.ones((n0 - 1, 1)), rtol=1e-9, atol=1e-9)


def test_attm_layout_sigma_and_first_segment():
    al = 0.5
    x = ag.generate("attm", 1, 400, al, dim=1, seed=31, dtype=np.float64)[0, 0]
    sigma = 0.03 + (min(3.3, al / (1 - al)) - 0.03) * rng.uniforms(31, 0, 0, 1)[0, 0]
    V = 0.9 - 0.89 * rng.uniforms(31, 0, 1, 1)[0, 0]
    D, t = V ** (1 / sigma), min(V ** (-1 / al), 400)
    n0 = min(int(math.floor(t)), 399)
    z = rng.normals(31, 0, 16, 399)[0]
    np.testing.assert_allclose(np.diff(x)[:n0], np.sqrt(2 * D) * z[:n0], rtol=1e-9, atol=1e-300)


def test_fbm_layout_real_and_imaginary_parts():
    """Axis 0 / 1 are Re / Im of one transformed spectrum: regenerate it by hand."""
    from anomgrad.models.fbm import eigenvalues, embedding_size

    T, al = 33, 0.9
    x = ag.generate("fbm", 1, T, al, dim=2, seed=41, dtype=np.float64)[0]
    M = embedding_size(T)
    lam = eigenvalues(np.array([al]), T)[0]
    lam = np.concatenate([lam, lam[M // 2 - 1:0:-1]])
    z = rng.normals(41, 0, 16, 2 * M)[0]
    X = np.fft.fft(np.sqrt(lam / M) * (z[0::2] + 1j * z[1::2]))[: T - 1]
    np.testing.assert_allclose(np.diff(x[0]), X.real, atol=1e-12)
    np.testing.assert_allclose(np.diff(x[1]), X.imag, atol=1e-12)


# ---- bad input ----


@pytest.mark.parametrize("kwargs,exc,words", [
    (dict(model="fmb"), ValueError, ["model", "fbm"]),
    (dict(model=3), TypeError, ["model"]),
    (dict(alpha=2.5), ValueError, ["alpha", "(0, 2)"]),
    (dict(alpha=0.0), ValueError, ["alpha"]),
    (dict(alpha=float("nan")), ValueError, ["alpha", "finite"]),
    (dict(alpha=float("inf")), ValueError, ["alpha", "finite"]),
    (dict(alpha=np.full(4, 0.5)), ValueError, ["alpha", "length"]),
    (dict(alpha="0.5"), TypeError, ["alpha"]),
    (dict(alpha=None), ValueError, ["alpha"]),
    (dict(T=1), ValueError, ["T", "[2,"]),
    (dict(T=10.0), TypeError, ["T", "integer"]),
    (dict(n=0), ValueError, ["n", ">= 1"]),
    (dict(n=-3), ValueError, ["n"]),
    (dict(dim=4), ValueError, ["dim", "(1, 2, 3)"]),
    (dict(dim=2.0), TypeError, ["dim"]),
    (dict(seed=1.5), TypeError, ["seed", "integer"]),
    (dict(seed=-1), ValueError, ["seed"]),
    (dict(seed=2**64), ValueError, ["seed"]),
    (dict(seed=True), TypeError, ["seed"]),
    (dict(start=-1), ValueError, ["start"]),
    (dict(start=2**64 - 2), ValueError, ["start + n must be <= 2**64", "n=3"]),
    (dict(dtype=np.int32), ValueError, ["dtype"]),
    (dict(device="tpu"), ValueError, ["device"]),
])
def test_bad_input(kwargs, exc, words):
    args = dict(model="fbm", n=3, T=10, alpha=0.5, dim=2, seed=0)
    args.update(kwargs)
    with pytest.raises(exc) as e:
        ag.generate(**args)
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize("model,alpha", [("ctrw", 1.2), ("attm", 0.02), ("lw", 0.99), ("lw", 0.5),
                                         ("sbm", 2.1), ("bm", 0.9), ("fbm", 2.0)])
def test_alpha_outside_model_range(model, alpha):
    with pytest.raises(ValueError, match=f"alpha.*{model}"):
        ag.generate(model, 2, 10, alpha)


def test_lw_takes_alpha_1_as_andi_datasets_does():
    """andi-datasets refuses only alpha < 1 for LW; at alpha = 1 (sigma = 2) the flight
    durations have a finite mean and a log-divergent variance, so the MSD grows as t ln t,
    whose log-log slope over t = 10..300 is about 1 + 1 / ln(55) = 1.25."""
    t = np.array([10, 30, 100, 300])
    slope = {}
    for a in (1.0, 1.3):
        x = ag.generate("lw", 3000, 301, a, dim=2, seed=3).astype(np.float64)
        msd = ((x - x[..., :1]) ** 2).sum(1).mean(0)
        slope[a] = np.polyfit(np.log(t), np.log(msd[t]), 1)[0]
    assert abs(slope[1.0] - (1 + 1 / np.log(np.exp(np.log(t).mean())))) < 0.06, slope
    assert slope[1.0] < slope[1.3] - 0.08, slope


@pytest.mark.parametrize("device", DEVICES)
def test_bad_alpha_in_array_is_located(device):
    """On a GPU an alpha tensor already on the device is checked by _core.generate_cuda
    on the values it reads back, with the CPU path's words."""
    a = np.full(5, 0.5)
    a[3] = 1.5
    with pytest.raises(ValueError, match=r"alpha\[3\] = 1.5 is outside the valid range for ctrw: \(0, 1\]"):
        ag.generate("ctrw", 5, 10, on(device, a), device=device)


def test_cuda_without_cuda_is_clear():
    from anomgrad import _core

    if _core.cuda_device_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="CUDA|cuda"):
        ag.generate("bm", 2, 10, device="cuda")


@pytest.mark.parametrize("model", [m for m in MODELS if m != "fbm"])
def test_prefix_does_not_depend_on_T(model):
    short = ag.generate(model, 20, 150, ALPHA[model], dim=2, seed=6, dtype=np.float64)
    long = ag.generate(model, 20, 1000, ALPHA[model], dim=2, seed=6, dtype=np.float64)
    np.testing.assert_array_equal(short, long[..., :150])


# ---------------------------------------------------------------------------------
# The GPU path only (its numbers are compared with the CPU's in test_twins.py)


@pytest.mark.gpu
def test_gpu_runs_on_the_current_stream():
    import torch

    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        x = ag.generate("bm", 100_000, 1000, seed=0, device="cuda")
        y = x.sum()  # same stream: ordered after the kernel without synchronisation
    s.synchronize()
    ref = ag.generate("bm", 100_000, 1000, seed=0, device="cuda")
    assert torch.equal(x, ref) and torch.isfinite(y)


@pytest.mark.gpu
def test_gpu_bad_input():
    import torch

    with pytest.raises(TypeError, match="CPU torch tensor"):
        ag.normalize(torch.zeros(2, 2, 10))
    with pytest.raises(TypeError, match="float32 or float64"):
        ag.normalize(torch.zeros(2, 2, 10, dtype=torch.int32, device="cuda"))
    with pytest.raises(ValueError, match="contiguous"):
        ag.normalize(torch.zeros(2, 10, 2, device="cuda").transpose(1, 2))
    with pytest.raises(ValueError, match="alpha"):
        ag.generate("ctrw", 4, 10, torch.tensor([0.5, 0.5, 1.5, 0.5], device="cuda"),
                    device="cuda")
    with pytest.raises(MemoryError, match="GiB"):
        ag.generate("bm", 10**9, 10_000, device="cuda")
