"""CUDA kernels against the CPU path.  Run on a GPU machine with `pytest -m gpu`;
skipped elsewhere (tests/conftest.py says why)."""

import numpy as np
import pytest

import anomgrad as ag

pytestmark = pytest.mark.gpu
torch = pytest.importorskip("torch")

CASES = [("bm", None), ("sbm", 0.3), ("sbm", 1.7), ("fbm", 0.4), ("fbm", 1.6), ("ctrw", 0.7),
         ("lw", 1.5), ("lw", 2.0), ("attm", 0.5), ("attm", 1.0)]
EVENT_MODELS = ("ctrw", "lw", "attm")


def same_fraction(x, y, atol):
    """Fraction of trajectories whose every position agrees within atol."""
    return float(np.mean(np.all(np.abs(x - y) <= atol, axis=(1, 2))))


@pytest.mark.parametrize("model,alpha", CASES, ids=[f"{m}-{a}" for m, a in CASES])
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_gpu_equals_cpu(model, alpha, dim):
    n, T = 4000, 1000
    cpu = ag.generate(model, n, T, alpha, dim=dim, seed=3, start=11, dtype=np.float64)
    gpu = ag.generate(model, n, T, alpha, dim=dim, seed=3, start=11, dtype=np.float64, device="cuda")
    assert isinstance(gpu, torch.Tensor) and gpu.is_cuda and gpu.shape == (n, dim, T)
    g = gpu.cpu().numpy()
    if model in EVENT_MODELS:
        # the shared header gives identical doubles; the contract promises >= 99.9 %
        frac = same_fraction(g, cpu, 0.0)
        print(f"{model} {alpha} dim {dim}: identical trajectories {frac:.6f}")
        assert frac >= 0.999
    elif model == "fbm":
        np.testing.assert_allclose(g, cpu, rtol=0, atol=1e-9)
    else:
        np.testing.assert_array_equal(g, cpu)


@pytest.mark.parametrize("model", ["fbm", "ctrw", "lw", "attm", "sbm"])
def test_gpu_per_trajectory_alpha_from_cuda_tensor(model):
    lo, hi = {"ctrw": (0.1, 1.0), "lw": (1.1, 2.0), "attm": (0.1, 1.0), "sbm": (0.1, 2.0),
              "fbm": (0.1, 1.9)}[model]
    a = np.random.default_rng(0).uniform(lo, hi, 3000)
    cpu = ag.generate(model, 3000, 500, a, seed=4, dtype=np.float64)
    gpu = ag.generate(model, 3000, 500, torch.as_tensor(a, device="cuda"), seed=4,
                      dtype=np.float64, device="cuda").cpu().numpy()
    assert same_fraction(gpu, cpu, 1e-9) >= 0.999


def test_gpu_float32_and_long_T():
    cpu = ag.generate("fbm", 3, 100_000, 0.7, seed=1)
    gpu = ag.generate("fbm", 3, 100_000, 0.7, seed=1, device="cuda").cpu().numpy()
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-3)
    for m, a in [("lw", 1.5), ("ctrw", 0.9), ("attm", 0.7), ("sbm", 0.5), ("bm", None)]:
        c = ag.generate(m, 8, 100_000, a, seed=1)
        g = ag.generate(m, 8, 100_000, a, seed=1, device="cuda").cpu().numpy()
        assert same_fraction(g, c, 0.0) >= 0.75, m  # 8 trajectories: allow one rounding flip


def test_gpu_processing_equals_cpu():
    x = ag.generate("ctrw", 500, 300, 0.6, seed=1)
    L, p = ag.cut(x, seed=2)
    xt = torch.as_tensor(p, device="cuda")
    Lt = torch.as_tensor(L, device="cuda")
    np.testing.assert_array_equal(ag.normalize(xt, lengths=Lt).cpu().numpy(), ag.normalize(p, lengths=L))
    np.testing.assert_array_equal(ag.add_noise(xt, 0.5, seed=3, lengths=Lt).cpu().numpy(),
                                  ag.add_noise(p, 0.5, seed=3, lengths=L))
    np.testing.assert_array_equal(ag.scale_diffusion(xt, seed=4, lengths=Lt).cpu().numpy(),
                                  ag.scale_diffusion(p, seed=4, lengths=L))
    L2, p2 = ag.cut(torch.as_tensor(x, device="cuda"), seed=2)
    np.testing.assert_array_equal(L2.cpu().numpy(), L)
    np.testing.assert_array_equal(p2.cpu().numpy(), p)


def test_gpu_runs_on_the_current_stream():
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        x = ag.generate("bm", 100_000, 1000, seed=0, device="cuda")
        y = x.sum()  # same stream: ordered after the kernel without synchronisation
    s.synchronize()
    ref = ag.generate("bm", 100_000, 1000, seed=0, device="cuda")
    assert torch.equal(x, ref) and torch.isfinite(y)


def test_gpu_bad_input():
    with pytest.raises(TypeError, match="CPU torch tensor"):
        ag.normalize(torch.zeros(2, 2, 10))
    with pytest.raises(TypeError, match="float32 or float64"):
        ag.normalize(torch.zeros(2, 2, 10, dtype=torch.int32, device="cuda"))
    with pytest.raises(ValueError, match="contiguous"):
        ag.normalize(torch.zeros(2, 10, 2, device="cuda").transpose(1, 2))
    with pytest.raises(ValueError, match="alpha"):
        ag.generate("ctrw", 4, 10, torch.tensor([0.5, 0.5, 1.5, 0.5], device="cuda"), device="cuda")
    with pytest.raises(MemoryError, match="GiB"):
        ag.generate("bm", 10**9, 10_000, device="cuda")


def test_gpu_gradcam_kernel_equals_cpu():
    from anomgrad import cam

    g = torch.Generator().manual_seed(0)
    for L, T in [(32, 1000), (500, 1000), (7, 100), (1, 10)]:
        A, w = torch.randn(300, 64, L, generator=g), torch.randn(300, 64, generator=g)
        for up in ("nearest", "linear"):
            c_cpu = cam.fused(A, w, T, upsample=up, normalize=True, cells=True, nbands=10)
            c_gpu = cam.fused(A.cuda(), w.cuda(), T, upsample=up, normalize=True, cells=True, nbands=10)
            for a, b in zip(c_cpu, c_gpu):
                assert torch.equal(a, b.cpu())  # same header, same bits


def test_gpu_gradcam_end_to_end():
    from anomgrad.nn import ResAnDi

    torch.manual_seed(0)
    m = ResAnDi().eval()
    x = torch.rand(64, 2, 1000)
    y = torch.randint(0, 8, (64,))
    for layer in ("layer4", "layer2"):
        a = ag.gradcam(m, x, layer, y, normalize=True)
        b = ag.gradcam(m.cuda(), x.cuda(), layer, y.cuda(), normalize=True).cpu()
        m.cpu()
        torch.testing.assert_close(a, b, rtol=0, atol=1e-4)
