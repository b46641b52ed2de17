"""``anomgrad gradcam``: Grad-CAM of every row of a dataset file through a checkpoint,
into a resumable HDF5 file, with Fig. 2-style pictures."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import torch
from tqdm import tqdm

from .. import _validate as V
from .. import io
from .._version import __version__
from ..io.atomic import atomic_savefig
from ..resandi import datasets as D
from ..resandi.nn import load_checkpoint
from ..resandi.precision import precision_name, use_bf16
from ..resandi.preprocess import network_input
from .explain import gradcam_full
from .kernel import UPSAMPLE

def _rows(data, rows, kind: str):
    """The inputs of a network reading ``kind`` and the labels, of ``rows`` of the dataset
    file ``data``."""
    if kind == "positions":
        d = D.load(data, fields=("x", "label"), rows=rows)
        return d["x"], d["label"]
    d = D.load(data, fields=("z", "T", "label"), rows=rows)
    return network_input(d["z"], d["T"], kind), d["label"]


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
             amp="auto", progress: bool = True, figure: str | None = None) -> dict:
    """Grad-CAM of every row of a dataset file, written to ``out`` (HDF5): ``cam`` (n, T),
    ``cells`` (n, L), ``target``, ``pred``, ``label`` and ``bands`` (n, nbands, L) when
    asked; resumable (``out.partial`` continues when the arguments match) and renamed to
    ``out`` when complete.  ``figure``: also draw Fig. 2-style pictures to that PNG.
    ``amp``: the precision (:mod:`anomgrad.resandi.precision`); part of the arguments a
    resumed file must match."""
    _target_arg(target, np.zeros(1, np.int64))  # validate before any work
    if upsample not in UPSAMPLE:
        raise ValueError(f"upsample must be one of {UPSAMPLE}, got {upsample!r}")
    dev = V.torch_device(device)
    precision = precision_name(use_bf16(amp, dev))
    model, meta = load_checkpoint(checkpoint, map_location=dev)
    info = D.inspect(data)
    n = int(info["n"])
    T = model.length
    with torch.no_grad():
        L = model.forward_features(torch.zeros(1, model.in_channels, T, device=dev), layer).shape[-1]
    args = json.dumps({"checkpoint": os.path.abspath(checkpoint), "data": os.path.abspath(data),
                       "n": n, "layer": layer, "target": str(target), "relu": relu,
                       "upsample": upsample, "normalize": normalize, "nbands": nbands,
                       "precision": precision},
                      sort_keys=True)
    out = os.fspath(out)
    partial = out + ".partial"
    with io.exclusive(out):  # a second run writing the same out is refused
        if os.path.exists(partial):
            f, size = io.open_h5(partial)
            with f:
                same = f.attrs.get("args") == args
                for name in ("cam", "cells", "target", "pred", "label"):
                    if name not in f:
                        raise io.FileFormatError(f"{partial}: not an unfinished `anomgrad gradcam` "
                                                 f"file ({name!r} missing); delete it to start over")
                    io.check_allocated(partial, f[name], size)
            if not same:
                raise ValueError(f"{partial} holds a run with other arguments; delete it to start over")
        else:
            sets = {"cam": ((n, T), h5py.h5t.IEEE_F32LE), "cells": ((n, L), h5py.h5t.IEEE_F32LE),
                    "target": ((n,), h5py.h5t.STD_I64LE), "pred": ((n,), h5py.h5t.STD_I64LE),
                    "label": ((n,), h5py.h5t.STD_I64LE)}
            if nbands:
                sets["bands"] = ((n, nbands, L), h5py.h5t.STD_U8LE)
            io.create_table(partial, sets, {"format": "anomgrad-gradcam", "format_version": np.int64(1),
                                            "args": args, "anomgrad_version": __version__,
                                            "layer": layer, "upsample": upsample})
        with io.Writer(partial) as w:
            bar = tqdm(total=n, initial=w.rows_done, unit="traj", disable=not progress, desc="gradcam")
            for lo in range(w.rows_done, n, chunk):
                x, label = _rows(data, slice(lo, min(n, lo + chunk)), model.input)
                x = torch.from_numpy(x).to(dev)
                r = gradcam_full(model, x, layer, _target_arg(target, label), relu=relu,
                                 upsample=upsample, normalize=normalize, cells=True, nbands=nbands,
                                 batch_size=batch_size, amp=precision == "bf16")
                rows = {"cam": r.cam.cpu().numpy(), "cells": r.cells.cpu().numpy(),
                        "target": r.target.cpu().numpy(), "pred": r.logits.argmax(1).cpu().numpy(),
                        "label": label}
                if nbands:
                    rows["bands"] = r.bands.cpu().numpy().astype(np.uint8)
                w.write_rows(**rows)
                bar.update(len(label))
            bar.close()
        io.finish(partial, out)
    if figure:
        trajectory_figure(data, out, figure)
    return {"out": out, "n": n, "L": L, "T": T, "layer": layer}



def trajectory_figure(data, cams, path, per_class: int = 1) -> None:
    """Fig. 2-style picture: for each class, trajectories in the xy-plane (their valid
    steps, AnDi-normalized positions) coloured by the Grad-CAM map (min-max scaled over
    those steps)."""
    from matplotlib.collections import LineCollection  # lazy: matplotlib
    from matplotlib.figure import Figure  # lazy: matplotlib

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


__all__ = ["run_file", "trajectory_figure"]
