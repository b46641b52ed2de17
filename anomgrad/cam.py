"""Grad-CAM over time (method.md §4).

``ag.gradcam(model, x, layer="layer4", target=y)`` returns one map per trajectory over
its T time steps.  For a target class c and the activation A (K channels x L cells) of
a block, the channel weights are ``alpha_k = mean over cells of dy_c / dA_k`` and the map
over cells is ``sum_k alpha_k A_k`` (signed by default, as in the paper's experiments;
``relu=True`` for the usual Grad-CAM), upsampled to T ("nearest", each cell covering
31 or 32 steps at L = 32, T = 1000, as in the paper, or "linear" with
align_corners=False) and optionally min-max scaled per trajectory.

Two ways to the channel weights:

* the closed form for the block that feeds a global-average-pool -> Linear head
  (ResAnDi's ``layer4``): ``dy_c / dA_k(t) = W[c, k] / L``, so no backward pass is
  needed (one forward in inference mode);
* ``torch.autograd.grad`` of the target logits with respect to the block's output only,
  for every other block; the part of the network before the block runs without a graph.

The weighted sum, ReLU, upsampling, min-max scaling, per-cell scores and the decile-band
cell masks of the erasure experiment come from one fused kernel (C++ with OpenMP on the
CPU, CUDA on the GPU: csrc/include/anomgrad/gradcam.h).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._native import core as _core

UPSAMPLE = ("nearest", "linear")


@dataclass
class CamResult:
    """Everything one Grad-CAM pass computes; fields not asked for are None."""

    cam: torch.Tensor | None  # (n, T) upsampled map (min-max scaled if normalize)
    cells: torch.Tensor | None  # (n, L) cell scores (after ReLU if relu)
    bands: torch.Tensor | None  # (n, nbands, L) bool: cell strictly inside the band
    target: torch.Tensor  # (n,) class explained
    logits: torch.Tensor  # (n, num_classes)


# ---- the fused kernel ---------------------------------------------------------------


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
        from ._cuda import _stream, require

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


# ---- model side ------------------------------------------------------------------------


def layer_names(model: nn.Module) -> tuple[str, ...]:
    """Blocks Grad-CAM can target: those with a time axis."""
    if hasattr(model, "feature_names"):
        return tuple(n for n in model.feature_names() if n != "avgpool")
    return tuple(name for name, _ in model.named_modules() if name)


def _closed_form_layers(model: nn.Module) -> tuple[str, ...]:
    """Blocks whose output goes straight into a global-average-pool -> Linear head."""
    pool, fc = getattr(model, "avgpool", None), getattr(model, "fc", None)
    if not (isinstance(pool, nn.AdaptiveAvgPool1d) and pool.output_size in (1, (1,))
            and isinstance(fc, nn.Linear) and hasattr(model, "feature_names")):
        return ()
    names = model.feature_names()
    last = names[names.index("avgpool") - 1]  # e.g. "layer4"
    blocks = [n for n in names if n.startswith(last + ".")]
    return (last,) + ((blocks[-1],) if blocks else ())


def _module(model: nn.Module, layer: str) -> nn.Module:
    valid = layer_names(model)
    if layer not in valid:
        raise ValueError(f"unknown layer {layer!r}; valid layers: {', '.join(valid)}")
    if hasattr(model, "block"):
        return model.block(layer)
    return model.get_submodule(layer)


def _targets(target, logits: torch.Tensor) -> torch.Tensor:
    n, C = logits.shape
    if target is None or (isinstance(target, str) and target == "predicted"):
        return logits.argmax(1)
    if isinstance(target, str):
        raise ValueError(f"target must be None/'predicted', a class index or n labels, got {target!r}")
    t = torch.as_tensor(np.asarray(target.cpu() if torch.is_tensor(target) else target))
    if t.is_floating_point() or t.dtype == torch.bool:
        raise TypeError(f"target must hold integer class indices, got {t.dtype}")
    if t.ndim == 0:
        t = t.expand(n)
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(f"target must be a class index or n={n} labels, got shape {tuple(t.shape)}")
    if bool(((t < 0) | (t >= C)).any()):
        raise ValueError(f"target classes must be in [0, {C - 1}]")
    return t.to(logits.device, torch.int64)


def _as_input(model: nn.Module, x):
    dev = next(model.parameters()).device
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a numpy array or a torch tensor, got {type(x).__name__}")
    if x.device != dev:
        raise ValueError(f"x is on {x.device} but the model is on {dev}; move one of them")
    if hasattr(model, "check_input"):
        model.check_input(x)
    return x.float()


def gradcam_full(model: nn.Module, x, layer: str = "layer4", target=None, *, relu: bool = False,
                 upsample: str = "nearest", normalize: bool = False, cam: bool = True,
                 cells: bool = False, nbands: int = 0, batch_size: int = 1024,
                 amp: bool = False, closed_form: bool | None = None) -> CamResult:
    """Grad-CAM with every output; see :func:`gradcam` for the arguments.

    ``nbands`` > 0 also returns the band masks (10: the deciles of the erasure
    experiment).  ``closed_form`` forces (True) or forbids (False) the no-backward path;
    by default it is used wherever it is exact.
    """
    if upsample not in UPSAMPLE:
        raise ValueError(f"upsample must be one of {UPSAMPLE}, got {upsample!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    module = _module(model, layer)
    exact = layer in _closed_form_layers(model)
    if closed_form and not exact:
        raise ValueError(f"the closed form holds only for {_closed_form_layers(model) or 'none'}")
    use_closed = exact if closed_form is None else closed_form
    x = _as_input(model, x)
    n, T = x.shape[0], x.shape[-1]
    if not isinstance(target, (type(None), str, int, np.integer)):
        target_all = torch.as_tensor(np.asarray(target.cpu() if torch.is_tensor(target) else target))
        if target_all.ndim != 1 or target_all.shape[0] != n:
            raise ValueError(f"target must be a class index or n={n} labels, got shape "
                             f"{tuple(target_all.shape)}")
    else:
        target_all = target
    was_training = model.training
    model.eval()
    outs = {"cam": [], "cells": [], "bands": [], "target": [], "logits": []}
    dev_type = x.device.type
    try:
        for lo in range(0, n, batch_size):
            xb = x[lo:lo + batch_size]
            tb = target_all[lo:lo + batch_size] if torch.is_tensor(target_all) else target_all
            store = {}

            def hook(_m, _inp, out):
                if use_closed:
                    store["A"] = out
                    return None
                a = out.detach().requires_grad_(True)
                store["A"] = a
                return a

            h = module.register_forward_hook(hook)
            try:
                with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=amp):
                    if use_closed:
                        with torch.inference_mode():
                            logits = model(xb)
                        t = _targets(tb, logits)
                        A = store["A"]
                        w = model.fc.weight.detach()[t] / A.shape[-1]
                    else:
                        with torch.enable_grad():
                            logits = _forward_from(model, module, xb)
                            t = _targets(tb, logits)
                            A = store["A"]
                            y = logits.gather(1, t[:, None]).sum()
                            (g,) = torch.autograd.grad(y, A)
                        w = g.float().mean(-1)
                        logits = logits.detach()
            finally:
                h.remove()
            c, s, b = fused(A, w, T, relu=relu, upsample=upsample, normalize=normalize, cam=cam,
                            cells=cells, nbands=nbands)
            for k, v in (("cam", c), ("cells", s), ("bands", b), ("target", t),
                         ("logits", logits.float())):
                outs[k].append(v)
    finally:
        model.train(was_training)

    def cat(k):
        return None if outs[k][0] is None else torch.cat(outs[k])

    return CamResult(cat("cam"), cat("cells"), cat("bands"), cat("target"), cat("logits"))


def _forward_from(model: nn.Module, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Forward pass where everything before ``module`` runs without a graph.

    A forward pre-hook turns grad mode back on at the block's output (the forward hook
    replaces the output by a leaf that requires grad), so the graph starts there.
    """
    state = {}

    def pre(_m, _inp):
        state["grad"] = torch.is_grad_enabled()

    def post(_m, _inp, _out):
        torch.set_grad_enabled(True)

    hp = module.register_forward_pre_hook(pre)
    ho = module.register_forward_hook(post)
    try:
        with torch.no_grad():
            return model(x)
    finally:
        hp.remove()
        ho.remove()
        torch.set_grad_enabled(True)


def gradcam(model: nn.Module, x, layer: str = "layer4", target=None, *, relu: bool = False,
            upsample: str = "nearest", normalize: bool = False, per_cell: bool = False,
            batch_size: int = 1024, amp: bool = False):
    """Grad-CAM maps of ``model`` for the trajectories ``x`` (n, channels, T).

    layer : block to explain ("stem", "maxpool", "layer1".."layer4", or a block inside,
        e.g. "layer3.1"); ``ag.gradcam.layer_names(model)`` lists them.
    target : None or "predicted" (the predicted class), one class index for all, or n
        labels (the paper uses the true labels).
    relu : False (signed maps, the paper's experiments) or True.
    upsample : "nearest" (the paper) or "linear" (align_corners=False).
    normalize : min-max scale every map to [0, 1] (constant maps become 0).
    per_cell : return the (n, L) cell scores instead of the (n, T) upsampled maps.
    amp : run the network under bf16 autocast.

    Returns a tensor on x's device (a numpy array if x was one).
    """
    r = gradcam_full(model, x, layer, target, relu=relu, upsample=upsample, normalize=normalize,
                     cam=not per_cell, cells=per_cell, batch_size=batch_size, amp=amp)
    out = r.cells if per_cell else r.cam
    return out.numpy() if isinstance(x, np.ndarray) else out


# ---- a dataset file through a checkpoint: anomgrad gradcam -----------------------------


def _target_arg(target, labels):
    """'true' -> the labels, 'predicted' -> None, an integer string -> that class."""
    if target in (None, "predicted"):
        return None
    if target == "true":
        return torch.as_tensor(labels)
    try:
        return int(target)
    except (TypeError, ValueError):
        raise ValueError(f"target must be 'true', 'predicted' or a class index, got {target!r}") from None


def run_file(checkpoint, data, out, *, layer: str = "layer4", target: str = "true",
             relu: bool = False, upsample: str = "nearest", normalize: bool = False,
             nbands: int = 0, batch_size: int = 1024, chunk: int = 8192, device=None,
             amp: bool = False, progress: bool = True, figure: str | None = None) -> dict:
    """Grad-CAM of every row of a dataset file, written to ``out`` (HDF5): ``cam`` (n, T),
    ``cells`` (n, L), ``target``, ``pred``, ``label`` and ``bands`` (n, nbands, L) when
    asked; resumable (``out.partial`` continues when the arguments match) and renamed to
    ``out`` when complete.  ``figure``: also draw Fig. 2-style pictures to that PNG."""
    import json
    import os

    import h5py
    from tqdm import tqdm

    from . import datasets as D
    from . import io
    from .nn import load_checkpoint

    _target_arg(target, np.zeros(1, np.int64))  # validate before any work
    if upsample not in UPSAMPLE:
        raise ValueError(f"upsample must be one of {UPSAMPLE}, got {upsample!r}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, meta = load_checkpoint(checkpoint, map_location=dev)
    info = D.inspect(data)
    n = int(info["n"])
    T = model.length
    with torch.no_grad():
        L = model.forward_features(torch.zeros(1, model.in_channels, T, device=dev), layer).shape[-1]
    args = json.dumps({"checkpoint": os.path.abspath(checkpoint), "data": os.path.abspath(data),
                       "n": n, "layer": layer, "target": str(target), "relu": relu,
                       "upsample": upsample, "normalize": normalize, "nbands": nbands},
                      sort_keys=True)
    out = os.fspath(out)
    partial = out + ".partial"
    if os.path.exists(partial):
        with h5py.File(partial, "r") as f:
            same = f.attrs.get("args") == args
        if not same:
            raise ValueError(f"{partial} holds a run with other arguments; delete it to start over")
    else:
        sets = {"cam": ((n, T), h5py.h5t.IEEE_F32LE), "cells": ((n, L), h5py.h5t.IEEE_F32LE),
                "target": ((n,), h5py.h5t.STD_I64LE), "pred": ((n,), h5py.h5t.STD_I64LE),
                "label": ((n,), h5py.h5t.STD_I64LE)}
        if nbands:
            sets["bands"] = ((n, nbands, L), h5py.h5t.STD_U8LE)
        from . import __version__

        io.create_table(partial, sets, {"format": "anomgrad-gradcam", "format_version": np.int64(1),
                                        "args": args, "anomgrad_version": __version__,
                                        "layer": layer, "upsample": upsample})
    with io.Writer(partial) as w:
        bar = tqdm(total=n, initial=w.rows_done, unit="traj", disable=not progress, desc="gradcam")
        for lo in range(w.rows_done, n, chunk):
            d = D.load(data, fields=("x", "label"), rows=slice(lo, min(n, lo + chunk)))
            x = torch.from_numpy(d["x"]).to(dev)
            r = gradcam_full(model, x, layer, _target_arg(target, d["label"]), relu=relu,
                             upsample=upsample, normalize=normalize, cells=True, nbands=nbands,
                             batch_size=batch_size, amp=amp)
            rows = {"cam": r.cam.cpu().numpy(), "cells": r.cells.cpu().numpy(),
                    "target": r.target.cpu().numpy(), "pred": r.logits.argmax(1).cpu().numpy(),
                    "label": d["label"]}
            if nbands:
                rows["bands"] = r.bands.cpu().numpy().astype(np.uint8)
            w.write_rows(**rows)
            bar.update(len(d["label"]))
        bar.close()
    io.finish(partial, out)
    if figure:
        trajectory_figure(data, out, figure)
    return {"out": out, "n": n, "L": L, "T": T, "layer": layer}


def trajectory_figure(data, cams, path, per_class: int = 1) -> None:
    """Fig. 2-style picture: for each class, trajectories in the xy-plane (their valid
    steps, AnDi-normalized positions) coloured by the Grad-CAM map (min-max scaled over
    those steps)."""
    import h5py
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    from . import datasets as D
    from .io import atomic_savefig

    with h5py.File(cams, "r") as f:
        cam, label = f["cam"][...], f["label"][...]
    classes = np.unique(label)
    pick = [i for c in classes for i in np.flatnonzero(label == c)[:per_class]]
    d = D.load(data, fields=("z", "label", "T"), rows=np.asarray(pick))
    cols = min(4, len(pick))
    rows = -(-len(pick) // cols)
    fig = Figure(figsize=(2.6 * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for k, i in enumerate(pick):
        ax = axes.ravel()[k]
        Ti = int(d["T"][k])
        xy = d["z"][k][:, -Ti:].T  # left-padded: valid steps at the end
        c = cam[i, -Ti:].astype(np.float64)
        c = (c - c.min()) / (np.ptp(c) or 1.0)
        seg = np.stack([xy[:-1], xy[1:]], axis=1)
        lc = LineCollection(seg, cmap="coolwarm", linewidths=0.8)
        lc.set_array(0.5 * (c[:-1] + c[1:]))
        ax.add_collection(lc)
        ax.autoscale()
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(f"{D.CLASS_NAMES[int(d['label'][k])]} (T={Ti})", fontsize=8)
    fig.colorbar(lc, ax=axes.ravel().tolist(), shrink=0.6, label="Grad-CAM (min-max)")
    atomic_savefig(fig, path, dpi=150)
