"""The devices a test runs on: ``@pytest.mark.parametrize("device", DEVICES)`` runs the
CPU path everywhere and the CUDA path of the same test where a GPU is there (skipped
with the reason elsewhere), so every function's GPU path is tested by its CPU test."""

import pytest


def cuda_missing() -> str | None:
    """Why the CUDA path cannot run here (None: it can)."""
    try:
        from anomgrad import _core

        if not _core.built_with_cuda:
            return "anomgrad was built without CUDA"
        if not _core.cuda_device_available():
            return "no CUDA device"
        import torch

        if not torch.cuda.is_available():
            return "torch cannot see the GPU"
    except Exception as e:  # pragma: no cover
        return f"CUDA unavailable: {e}"
    return None


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu, id="cuda")]


def on(device, x):
    """``x`` (numpy) on ``device``: the array itself for "cpu", a CUDA tensor for "cuda"."""
    if device == "cpu":
        return x
    import torch

    return torch.as_tensor(x, device=device)


def host(x):
    """A result of either path as a numpy array."""
    return x.cpu().numpy() if hasattr(x, "cpu") else x
