"""GPU path (``device="cuda"``, or torch CUDA tensors given to the processing functions).
Imported only when one is used: it imports torch.

The kernels are C++/CUDA in ``anomgrad._core`` (csrc/cuda/); they write into torch
tensors through their device pointers, on the current torch stream of the tensor's
device, so results need no host round trip and order correctly with other torch work.
The model code is the same header the CPU twin compiles (csrc/include/anomgrad/), so
the GPU reproduces the CPU trajectories (docs/rng.md).
"""

from __future__ import annotations

import numpy as np
import torch

from . import _validate as V
from ._native import core as _core


def require() -> None:
    """Raise RuntimeError naming what is missing for the CUDA path."""
    if not _core.built_with_cuda:
        raise RuntimeError(
            "device='cuda' needs anomgrad built with CUDA; this build has no CUDA kernels "
            "(it was built with ANOMGRAD_CUDA=OFF or without nvcc on PATH). Reinstall with "
            "nvcc available: ANOMGRAD_CUDA=ON pip install .")
    if not _core.cuda_device_available():
        raise RuntimeError("device='cuda' but no CUDA device is visible (no NVIDIA driver, "
                           "or CUDA_VISIBLE_DEVICES hides every GPU)")
    if not torch.cuda.is_available():
        raise RuntimeError("device='cuda': the GPU is visible to anomgrad but not to torch "
                           f"(torch {torch.__version__} is a CPU build?)")


def _device(device):
    dev = torch.device(device)
    if dev.type != "cuda":
        raise ValueError(f"device must be a CUDA device, got {device!r}")
    if dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    if dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    return dev


def _stream(dev) -> int:
    return torch.cuda.current_stream(dev).cuda_stream


def alpha_tensor(model: str, alpha, n: int, dev):
    """alpha as a contiguous float64 CUDA tensor of 1 or n values; its shape and dtype
    validated here, its range by ``_core.generate_cuda`` (one read-back, same message
    as the CPU path's)."""
    if V.is_tensor(alpha):
        if alpha.device.type != "cuda":
            alpha = alpha.detach().cpu().numpy()
        else:
            if alpha.device != dev:
                raise ValueError(f"alpha is on {alpha.device} but the output goes to {dev}")
            if alpha.ndim > 1 or (alpha.ndim == 1 and alpha.shape[0] != n):
                raise ValueError(f"alpha must be a scalar or a 1-D array of length n={n}, "
                                 f"got shape {tuple(alpha.shape)}")
            if alpha.is_complex() or alpha.dtype == torch.bool:
                raise TypeError(f"alpha must be real, got {alpha.dtype}")
            # the range: checked by _core.generate_cuda on the values it reads
            return alpha.detach().to(torch.float64).reshape(-1).contiguous()
    a = V.check_alpha(model, alpha, n)
    if np.all(a == a[0]):
        a = a[:1]
    return torch.as_tensor(a, dtype=torch.float64).to(dev, non_blocking=False)


def _empty(shape, dtype, dev):
    try:
        return torch.empty(shape, dtype=dtype, device=dev)
    except torch.OutOfMemoryError:
        need = int(np.prod(shape)) * torch.empty((), dtype=dtype).element_size()
        free, total = torch.cuda.mem_get_info(dev)
        raise MemoryError(
            f"output of shape {tuple(shape)} needs {need / 2**30:.1f} GiB on {dev}, "
            f"{free / 2**30:.1f} GiB free of {total / 2**30:.1f}; generate fewer "
            f"trajectories per call (use start= for the next chunk)") from None


def generate(model, n, T, alpha, dim, seed, start, dtype, device):
    """``ag.generate(..., device="cuda")``: a torch tensor (n, dim, T) on the GPU."""
    require()
    dev = _device(device)
    a = alpha_tensor(model, alpha, n, dev)
    tdtype = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
    out = _empty((n, dim, T), tdtype, dev)
    with torch.cuda.device(dev):
        scratch, nbytes = _fbm_scratch(model, n, T, dev)
        _core.generate_cuda(_core.Model.__members__[model], out.data_ptr(), n, dim, T, tdtype == torch.float64,
                            a.data_ptr(), a.numel() > 1, seed, start,
                            0 if scratch is None else scratch.data_ptr(), nbytes, _stream(dev))
    return out


def _fbm_scratch(model, n, T, dev):
    """Work memory of the CUDA FBM kernel: a status word, plus one FFT work area per
    resident block when the embedding does not fit in shared memory (T > 4097).  It comes
    from torch's caching allocator on the current stream, like every other buffer, so it
    is reused and ordered with the caller's work; returns (tensor or None, bytes)."""
    if model != "fbm":
        return None, 0
    nbytes = int(_core.fbm_scratch_bytes(n, T))
    if nbytes == 0:
        return None, 0
    return _empty((nbytes,), torch.uint8, dev), nbytes


# ---- processing ------------------------------------------------------------------------


def check_tensor(name: str, x):
    """A contiguous float32/float64 CUDA tensor (n, dim, T); returns it as 3-D."""
    if x.device.type != "cuda":
        raise TypeError(f"{name} is a CPU torch tensor; pass a numpy array (CPU path) or a "
                        f"CUDA tensor (GPU path)")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
    if x.ndim not in (2, 3):
        raise ValueError(f"{name} must have 2 or 3 dimensions (n, dim, T), got shape "
                         f"{tuple(x.shape)}")
    if not x.is_contiguous():
        raise ValueError(f"{name} must be contiguous (call .contiguous())")
    if x.shape[-1] < 1:
        raise ValueError(f"{name} has no positions (T = 0); T must be >= 1")
    require()
    return x[:, None, :] if x.ndim == 2 else x


def per_traj(name: str, value, n: int, dev, low: float = 0.0):
    """A float64 CUDA tensor of n values (scalar broadcast), finite and >= low."""
    if V.is_tensor(value):
        v = value.detach().to(dev, torch.float64).reshape(-1)
        if v.numel() == 1:
            v = v.expand(n)
        if v.numel() != n:
            raise ValueError(f"{name} must be a scalar or have n={n} values, got {v.numel()}")
        bad = ~torch.isfinite(v) | (v < low)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(f"{name} must be finite and >= {low:g}, got {name}[{i}] = {float(v[i])}")
        return v.contiguous()
    return torch.as_tensor(V.check_per_traj(name, value, n, low), dtype=torch.float64).to(dev)


def offsets(x, lengths, dev):
    """First valid index per row (T - L) as an int64 CUDA tensor."""
    n, T = x.shape[0], x.shape[-1]
    if lengths is None:
        return torch.zeros(n, dtype=torch.int64, device=dev)
    L = lengths.detach().to(dev) if V.is_tensor(lengths) else torch.as_tensor(np.asarray(lengths), device=dev)
    if L.ndim != 1 or L.shape[0] != n:
        raise ValueError(f"lengths must be a 1-D array of length n={n}, got shape {tuple(L.shape)}")
    if L.is_floating_point() or L.dtype == torch.bool:
        raise TypeError(f"lengths must be integers, got {L.dtype}")
    bad = (L < 1) | (L > T)
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(f"lengths must be in [1, T={T}], got lengths[{i}] = {int(L[i])}")
    return (T - L).to(torch.int64).contiguous()


def process(kind: str, x, lengths=None, **kw):
    """Run one processing kernel on a CUDA tensor; returns a new tensor like x."""
    x3 = check_tensor("x", x)
    dev = x3.device
    n, dim, T = x3.shape
    off = offsets(x3, lengths, dev)
    out = torch.empty_like(x3)
    args = (x3.data_ptr(), out.data_ptr(), n, dim, T, x3.dtype == torch.float64, off.data_ptr())
    with torch.cuda.device(dev):
        s = _stream(dev)
        if kind == "normalize":
            _core.normalize_cuda(*args, s)
        elif kind == "noise":
            sig = per_traj("sigma", kw["sigma"], n, dev)
            _core.add_noise_cuda(*args, sig.data_ptr(), kw["seed"], kw["start"], s)
        elif kind == "scale":
            g = per_traj("factor", kw["factor"], n, dev, low=-np.inf)
            _core.scale_cuda(*args, g.data_ptr(), s)
        elif kind == "cut":
            _core.cut_cuda(*args, s)
        else:  # pragma: no cover
            raise ValueError(kind)
    return out.reshape(x.shape), off
