"""Grad-CAM over time (docs/method.md §4): the model side.

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

from ..resandi.precision import autocast, use_bf16
from .kernel import UPSAMPLE, fused

@dataclass
class CamResult:
    """Everything one Grad-CAM pass computes; fields not asked for are None."""

    cam: torch.Tensor | None  # (n, T) upsampled map (min-max scaled if normalize)
    cells: torch.Tensor | None  # (n, L) cell scores (after ReLU if relu)
    bands: torch.Tensor | None  # (n, nbands, L) bool: cell strictly inside the band
    target: torch.Tensor  # (n,) class explained
    logits: torch.Tensor  # (n, num_classes)



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
    if not bool(torch.isfinite(x).all()):
        row = int((~torch.isfinite(x)).flatten(1).any(1).nonzero()[0, 0])
        raise ValueError(f"x holds NaN or infinite values (first in row {row}); Grad-CAM of "
                         f"non-finite inputs is not defined")
    return x.float()



def gradcam_full(model: nn.Module, x, layer: str = "layer4", target=None, *, relu: bool = False,
                 upsample: str = "nearest", normalize: bool = False, cam: bool = True,
                 cells: bool = False, nbands: int = 0, batch_size: int = 1024,
                 amp="auto", closed_form: bool | None = None) -> CamResult:
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
    bf16 = use_bf16(amp, x.device)
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
                with autocast(dev_type, bf16):
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

    if n == 0:  # nothing to explain: empty results of the right shapes
        return _empty_result(model, x, module, cam, cells, nbands)

    def cat(k):
        return None if outs[k][0] is None else torch.cat(outs[k])

    return CamResult(cat("cam"), cat("cells"), cat("bands"), cat("target"), cat("logits"))



def _empty_result(model, x, module, cam, cells, nbands) -> CamResult:
    """The result for no trajectories: empty tensors of the right shapes."""
    T, dev = x.shape[-1], x.device
    L = 0
    if cells or nbands:  # the block's number of cells, from one zero input in eval mode
        got = []
        h = module.register_forward_hook(lambda _m, _i, o: got.append(o))
        was = model.training
        try:
            model.eval()
            with torch.no_grad():
                model(torch.zeros((1,) + tuple(x.shape[1:]), device=dev))
        finally:
            h.remove()
            model.train(was)
        L = got[0].shape[-1]
    C = getattr(getattr(model, "fc", None), "out_features", 0)
    return CamResult(torch.empty(0, T, device=dev) if cam else None,
                     torch.empty(0, L, device=dev) if cells else None,
                     torch.empty(0, nbands, L, dtype=torch.bool, device=dev) if nbands else None,
                     torch.empty(0, dtype=torch.int64, device=dev), torch.empty(0, C, device=dev))


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
            batch_size: int = 1024, amp="auto"):
    """Grad-CAM maps of ``model`` for the trajectories ``x`` (n, channels, T).

    layer : block to explain ("stem", "maxpool", "layer1".."layer4", or a block inside,
        e.g. "layer3.1"); ``anomgrad.cam.layer_names(model)`` lists them.
    target : None or "predicted" (the predicted class), one class index for all, or n
        labels (the paper uses the true labels).
    relu : False (signed maps, the paper's experiments) or True.
    upsample : "nearest" (the paper) or "linear" (align_corners=False).
    normalize : min-max scale every map to [0, 1] (constant maps become 0).
    per_cell : return the (n, L) cell scores instead of the (n, T) upsampled maps.
    amp : "auto" (bf16 autocast where the hardware has it; the stem stays fp32), "bf16"
        or "none" (fp32).  bf16 maps differ from fp32 ones by a few per cent of the
        map's largest value (docs/resandi.md §"Precision").

    Returns a tensor on x's device (a numpy array if x was one).
    """
    r = gradcam_full(model, x, layer, target, relu=relu, upsample=upsample, normalize=normalize,
                     cam=not per_cell, cells=per_cell, batch_size=batch_size, amp=amp)
    out = r.cells if per_cell else r.cam
    return out.numpy() if isinstance(x, np.ndarray) else out


__all__ = ["CamResult", "gradcam", "gradcam_full", "layer_names"]
