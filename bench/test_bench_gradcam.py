"""Grad-CAM: the fused kernel against the torch composition (cell sums, interpolate,
min-max), and end-to-end Grad-CAM of a test batch at layer4 against captum's pipeline.
CPU groups run everywhere; GPU groups need a CUDA device."""

import pytest
import torch
from conftest import run

import anomgrad as ag
from anomgrad import cam
from anomgrad.resandi.nn import ResAnDi

K, L, T = 512, 32, 1000


def _gpu_ok():
    from anomgrad import _core

    return _core.built_with_cuda and _core.cuda_device_available() and torch.cuda.is_available()


DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not _gpu_ok(), reason="needs a CUDA device and a CUDA build")])]


def sync(dev):
    if dev == "cuda":
        torch.cuda.synchronize()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["fused", "torch"])
def test_kernel(benchmark, device, impl):
    n = 4096 if device == "cpu" else 65536
    benchmark.group = f"gradcam kernel {device} n={n} K={K} L={L} T={T}"
    g = torch.Generator(device=device).manual_seed(0)
    A = torch.randn(n, K, L, device=device, generator=g)
    w = torch.randn(n, K, device=device, generator=g)

    def fn():
        if impl == "fused":
            out = cam.fused(A, w, T, normalize=True, cells=True)
        else:
            out = cam.torch_composition(A, w, T, normalize=True)
        sync(device)
        return out

    out = run(benchmark, fn, n, rounds=5)
    if benchmark.stats is not None:  # bytes moved: read A and w, write maps and cells
        moved = (A.numel() + w.numel() + n * (T + L)) * 4
        benchmark.extra_info["GB_per_s"] = round(moved / benchmark.stats.stats.median / 1e9, 1)
    assert out[0].shape == (n, T)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["anomgrad", "captum"])
def test_end_to_end_layer4(benchmark, device, impl):
    n = 64 if device == "cpu" else 16384
    benchmark.group = f"gradcam end-to-end layer4 {device} n={n}"
    torch.manual_seed(0)
    model = ResAnDi().to(device).eval()
    x = torch.rand(n, 2, T, device=device)
    y = torch.randint(0, 8, (n,), device=device)

    if impl == "anomgrad":
        def fn():
            out = ag.gradcam(model, x, "layer4", y, normalize=True, batch_size=4096)
            sync(device)
            return out
    else:
        from captum.attr import LayerAttribution, LayerGradCam

        lgc = LayerGradCam(model, model.layer4)

        def fn():
            outs = []
            for lo in range(0, n, 1024):
                a = lgc.attribute(x[lo:lo + 1024], target=y[lo:lo + 1024])
                up = LayerAttribution.interpolate(a, (T,), interpolate_mode="nearest")[:, 0]
                mn, mx = up.amin(1, keepdim=True), up.amax(1, keepdim=True)
                outs.append((up - mn) / (mx - mn))
            sync(device)
            return torch.cat(outs)

    out = run(benchmark, fn, n, rounds=3)
    assert out.shape == (n, T)
