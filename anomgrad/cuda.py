"""GPU dispatch (``device="cuda"``): checks what is missing and says so.

The CUDA generators come as C++/CUDA kernels in ``anomgrad._core`` that write into
torch tensors through device pointers on the current torch stream.
"""

from __future__ import annotations


def require() -> None:
    """Raise RuntimeError naming what is missing for ``device='cuda'``."""
    from . import _core

    if not _core.built_with_cuda:
        raise RuntimeError(
            "device='cuda' needs anomgrad built with CUDA; this build has no CUDA kernels "
            "(it was built with ANOMGRAD_CUDA=OFF or without nvcc on PATH). Reinstall with "
            "nvcc available: ANOMGRAD_CUDA=ON pip install .")
    if not _core.cuda_device_available():
        raise RuntimeError("device='cuda' but no CUDA device is visible (no NVIDIA driver, "
                           "or CUDA_VISIBLE_DEVICES hides every GPU)")
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise RuntimeError("device='cuda' returns torch tensors; install torch") from e


def generate(model, n, T, alpha, dim, seed, start, dtype, device):
    require()
    raise NotImplementedError(
        "the CUDA generators are not implemented in this version; use device='cpu'")
