"""The fused Grad-CAM kernel (C++ with OpenMP on the CPU, CUDA on the GPU:
csrc/include/anomgrad/gradcam.h): weighted sum of the activations, ReLU, upsampling to
the input length, min-max scaling, per-cell scores and the percentile-band cell masks
in one pass; and the same map from plain torch ops, the reference it is tested
against."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._native import core as _core

UPSAMPLE = ("nearest", "linear")



def cam_nearest_index(L: int, T: int) -> torch.Tensor:
    """Cell of every step under nearest upsampling (torch's rule, as the kernel uses):
    min(floor(t * float32(L / T)), L - 1), with the exact cases T == L and T == 2L."""
    t = np.arange(T)
    if T == L:
        return torch.from_numpy(t)
    if T == 2 * L:
        return torch.from_numpy(t >> 1)
    scale = np.float32(L) / np.float32(T)
    return torch.from_numpy(np.minimum(np.floor(t.astype(np.float32) * scale).astype(np.int64), L - 1))



def fused(activations: torch.Tensor, weights: torch.Tensor, T: int, *, relu: bool = False,
          upsample: str = "nearest", normalize: bool = False, cam: bool = True,
          cells: bool = False, nbands: int = 0):
    """Fused map from activations (n, K, L) and channel weights (n, K), on their device.

    Returns ``(cam (n, T) | None, cells (n, L) | None, bands (n, nbands, L) bool | None)``.
    """
    if upsample not in UPSAMPLE:
        raise ValueError(f"upsample must be one of {UPSAMPLE}, got {upsample!r}")
    if activations.ndim != 3:
        raise ValueError(f"activations must be (n, K, L), got shape {tuple(activations.shape)}")
    n, K, L = activations.shape
    if weights.shape != (n, K):
        raise ValueError(f"weights must be (n, K) = ({n}, {K}), got {tuple(weights.shape)}")
    if weights.device != activations.device:
        raise ValueError(f"weights on {weights.device} but activations on {activations.device}")
    if not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T must be an integer >= 1, got {T!r}")
    A = activations.detach().float().contiguous()
    w = weights.detach().float().contiguous()
    linear = upsample == "linear"
    if A.is_cuda:
        from .._cuda import _stream, require  # lazy: the GPU path only

        require()
        out_cam = torch.empty((n, T), device=A.device) if cam else None
        out_cells = torch.empty((n, L), device=A.device) if cells else None
        out_bands = torch.empty((n, nbands, L), dtype=torch.uint8, device=A.device) if nbands else None
        ptr = lambda t: 0 if t is None else t.data_ptr()  # noqa: E731
        with torch.cuda.device(A.device):
            _core.gradcam_cuda(A.data_ptr(), w.data_ptr(), n, K, L, int(T), relu, linear, normalize,
                               ptr(out_cam), ptr(out_cells), ptr(out_bands), nbands,
                               _stream(A.device))
    else:
        c, s, b = _core.gradcam_cpu(A.numpy(), w.numpy(), int(T), relu, linear, normalize, cam,
                                    cells, nbands)
        out_cam = None if c is None else torch.from_numpy(c)
        out_cells = None if s is None else torch.from_numpy(s)
        out_bands = None if b is None else torch.from_numpy(b)
    return out_cam, out_cells, None if out_bands is None else out_bands.bool()



def torch_composition(activations, weights, T, *, relu=False, upsample="nearest",
                      normalize=False):
    """The same map from plain torch ops (the reference the kernel is tested against)."""
    cells = (weights[:, :, None].float() * activations.float()).sum(1)
    if relu:
        cells = cells.clamp_min(0)
    kw = {"align_corners": False} if upsample == "linear" else {}
    cam = nn.functional.interpolate(cells[:, None], size=T, mode=upsample, **kw)[:, 0]
    if normalize:
        lo = cam.amin(1, keepdim=True)
        hi = cam.amax(1, keepdim=True)
        cam = torch.where(hi > lo, (cam - lo) / (hi - lo).clamp_min(1e-30), torch.zeros_like(cam))
    return cam, cells


__all__ = ["UPSAMPLE", "cam_nearest_index", "fused", "torch_composition"]
