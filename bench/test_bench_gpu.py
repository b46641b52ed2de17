"""GPU throughput (2-D, T = 1000, float32) with plain PyTorch baselines in the same
group: Davies-Harte through torch.fft for FBM, cumsum of scaled normals for SBM/BM.
Needs a CUDA device (skipped elsewhere).  Records trajectories/s and bytes written/s."""

import math

import pytest

import anomgrad as ag
from torch_baselines import BASELINES

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.gpu

T = 1000
N = 1_000_000


@pytest.fixture(autouse=True)
def _need_gpu():
    from anomgrad import _core

    if not (_core.built_with_cuda and _core.cuda_device_available() and torch.cuda.is_available()):
        pytest.skip("needs a CUDA device and a CUDA build")


def timed(benchmark, fn, n=N):
    def run():
        out = fn()
        torch.cuda.synchronize()
        return out

    out = benchmark.pedantic(run, rounds=5, warmup_rounds=1, iterations=1)
    if benchmark.stats is not None:
        t = benchmark.stats.stats.median
        benchmark.extra_info["traj_per_s"] = round(n / t)
        benchmark.extra_info["GB_written_per_s"] = round(out.numel() * out.element_size() / t / 1e9, 1)
    return out


CASES = [("fbm", 0.7), ("sbm", 0.5), ("bm", None), ("ctrw", 0.9), ("lw", 1.5), ("attm", 0.7)]


@pytest.mark.parametrize("model,alpha", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("impl", ["anomgrad", "torch"])
def test_gpu_generate(benchmark, model, alpha, impl):
    if impl == "torch" and model not in BASELINES:
        pytest.skip("no plain-torch baseline for this model")
    benchmark.group = f"gpu generate {model} 2D T={T}"
    if impl == "torch":
        fn = lambda: BASELINES[model](N, T, alpha)  # noqa: E731
    else:
        fn = lambda: ag.generate(model, N, T, alpha, dim=2, seed=0, device="cuda")  # noqa: E731
    out = timed(benchmark, fn)
    assert out.shape == (N, 2, T)
    del out


def test_gpu_copy_bandwidth(benchmark):
    """The card's device-to-device copy bandwidth, for the table's last column."""
    benchmark.group = "gpu copy bandwidth"
    src = torch.empty(N * 2 * T, device="cuda")
    dst = torch.empty_like(src)
    timed(benchmark, lambda: dst.copy_(src))
    if benchmark.stats is not None:
        benchmark.extra_info["GB_per_s_read_plus_write"] = round(
            2 * src.numel() * 4 / benchmark.stats.stats.median / 1e9, 1)
    assert math.isfinite(float(dst[0]))
