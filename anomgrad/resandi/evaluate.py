"""Evaluating a ResAnDi model: ``ag.evaluate(...)`` and ``anomgrad evaluate``.

``evaluate(model_or_checkpoint, data, out=DIR)`` scores a model on a dataset and returns
(and, with ``out``, writes):

* ``accuracy``, ``macro_f1`` (mean F1 over the labels that occur in the true or the
  predicted labels, as scikit-learn's ``average="macro"``; an undefined precision or
  recall counts as 0), per-class precision / recall (= per-class accuracy) / F1 /
  support;
* the confusion matrix (rows: true label, columns: predicted label) -> ``confusion.json``
  and ``confusion.png`` (row-normalised, percentages and counts);
* accuracy against alpha, per class, in bins of 0.1 from 0.1 to 1.9 (BM: one bin at
  alpha = 1) -> ``accuracy_vs_alpha.csv`` / ``.json`` / ``.png``;
* accuracy against the trajectory length T, per class, in the bins
  :data:`T_EDGES` -> ``accuracy_vs_T.csv`` / ``.json`` / ``.png``;
* ``metrics.json`` (everything above), ``predictions.npz`` (label, pred, logits,
  alpha, T).

``data`` is a dataset file of ``anomgrad dataset``, the dict of
``ag.datasets.resandi`` / ``ag.datasets.load``, or a tuple ``(x, label[, alpha, T])``.
A checkpoint records its family; evaluating it on a file of the other family is an
error unless ``check_family=False`` (a deliberate cross-family test).

This module is callable: ``ag.evaluate(...)`` is :func:`evaluate`.
"""

from __future__ import annotations

import os
import sys

import h5py
import numpy as np
import torch
from tqdm import tqdm

from .. import _validate as V
from ..io.h5 import attrs_meta
from ..io.atomic import atomic_savefig, atomic_savez, atomic_write_csv, atomic_write_json
from . import datasets as D
from .task import confusion_matrix
from .nn import load_checkpoint, unwrap
from .precision import autocast, use_bf16
from .preprocess import network_input

ALPHA_EDGES = np.round(np.arange(0.1, 1.9 + 1e-9, 0.1), 10)  # 0.1, 0.2, ..., 1.9
T_EDGES = np.array([10, 20, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1001])


# ---------------------------------------------------------------------------------
# Metrics (pure numpy)


def _bins(values, edges):
    """Bin number of each value for [edges[k], edges[k+1]) bins; -1 outside."""
    k = np.searchsorted(edges, values, side="right") - 1
    k[(values < edges[0]) | (values >= edges[-1])] = -1
    return k


def binned_accuracy(label, pred, values, edges, classes, names, key: str) -> list[dict]:
    """Rows ``{class, name, <key>_lo, <key>_hi, n, correct, accuracy}`` per class and
    non-empty bin."""
    rows = []
    values = np.asarray(values, np.float64)
    ok = label == pred
    for c in classes:
        m = label == c
        if not m.any():
            continue
        b = _bins(values[m], edges)
        okc = ok[m]
        for k in range(len(edges) - 1):
            s = b == k
            n = int(s.sum())
            if n == 0:
                continue
            cor = int(okc[s].sum())
            rows.append({"class": int(c), "name": names[c], f"{key}_lo": float(edges[k]),
                         f"{key}_hi": float(edges[k + 1]), "n": n, "correct": cor,
                         "accuracy": cor / n})
    return rows


def metrics_from_predictions(label, pred, alpha=None, T=None,
                             num_classes: int = D.NUM_CLASSES, names=D.CLASS_NAMES) -> dict:
    """Accuracy, macro-F1, per-class scores, confusion and the binned accuracies."""
    label = np.asarray(label, np.int64)
    pred = np.asarray(pred, np.int64)
    cm = confusion_matrix(label, pred, num_classes)
    n = int(cm.sum())
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(1)
    predicted = cm.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        f1 = np.where(precision + recall > 0,
                      2 * precision * recall / np.where(precision + recall > 0,
                                                        precision + recall, 1), 0.0)
    present = (support > 0) | (predicted > 0)
    out = {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "confusion": cm.tolist(),
        "classes": list(names[:num_classes]),
        "per_class": {names[c]: {"label": c, "support": int(support[c]),
                                 "precision": float(precision[c]), "recall": float(recall[c]),
                                 "accuracy": float(recall[c]) if support[c] else None,
                                 "f1": float(f1[c])}
                      for c in range(num_classes) if present[c]},
    }
    present_true = [c for c in range(num_classes) if support[c] > 0]
    if alpha is not None:
        a = np.asarray(alpha, np.float64)
        # BM (alpha exactly 1) lands in the [1.0, 1.1) bin
        out["by_alpha"] = binned_accuracy(label, pred, a, ALPHA_EDGES, present_true, names,
                                          "alpha")
    if T is not None:
        out["by_T"] = binned_accuracy(label, pred, np.asarray(T, np.float64), T_EDGES,
                                      present_true, names, "T")
    return out


# ---------------------------------------------------------------------------------
# Plots


def plot_confusion(cm, names, path, title: str = "") -> None:
    from matplotlib.figure import Figure  # lazy: matplotlib

    cm = np.asarray(cm, np.float64)
    rows = cm.sum(1, keepdims=True)
    pct = 100 * cm / np.where(rows > 0, rows, 1)
    k = cm.shape[0]
    fig = Figure(figsize=(7.5, 6.5))
    ax = fig.subplots()
    im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(im, ax=ax, label="% of true class")
    for i in range(k):
        for j in range(k):
            if cm[i, j] == 0:
                continue
            ax.text(j, i, f"{pct[i, j]:.1f}\n{int(cm[i, j])}", ha="center", va="center",
                    fontsize=7, color="white" if pct[i, j] > 60 else "black")
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    atomic_savefig(fig, path)


def plot_binned(rows, key, path, xlabel, title: str = "") -> None:
    from matplotlib.figure import Figure  # lazy: matplotlib

    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    by_class = {}
    for r in rows:
        by_class.setdefault((r["class"], r["name"]), []).append(r)
    for (c, name), rs in sorted(by_class.items()):
        mid = [(r[f"{key}_lo"] + r[f"{key}_hi"]) / 2 for r in rs]
        ax.plot(mid, [100 * r["accuracy"] for r in rs], "o-", label=name, ms=4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    if title:
        ax.set_title(title)
    atomic_savefig(fig, path)


# ---------------------------------------------------------------------------------
# evaluate


def _as_model(model, device):
    """(model, meta) from a checkpoint path or a module."""
    if isinstance(model, (str, os.PathLike)):
        m, meta = load_checkpoint(model, map_location="cpu")
        return m.to(device), meta
    if isinstance(model, torch.nn.Module):
        m = unwrap(model)
        return m.to(device), {"arch": getattr(m, "config", None)}
    raise TypeError(f"model must be a checkpoint path or a torch.nn.Module, got "
                    f"{type(model).__name__}")


def _from_z(z, T, kind: str) -> np.ndarray:
    """The input of a network reading ``kind``, from rows of ``z`` and their ``T``."""
    return network_input(np.ascontiguousarray(z, np.float32), np.asarray(T, np.int64), kind)


class _ArraySource:
    def __init__(self, x, label, alpha=None, T=None, z=None, kind="positions"):
        x = np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach().cpu().numpy()
        if x.ndim != 3 or x.shape[1:] != (D.DIM, D.LENGTH):
            raise ValueError(f"data x must have shape (N, {D.DIM}, {D.LENGTH}) (preprocessed "
                             f"network inputs), got {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"data x must be floating point, got {x.dtype}")
        label = np.asarray(label)
        if label.shape != (x.shape[0],) or not np.issubdtype(label.dtype, np.integer):
            raise ValueError(f"data label must be an integer array of shape ({x.shape[0]},), "
                             f"got {label.shape} {label.dtype}")
        for name, v in (("alpha", alpha), ("T", T)):
            if v is not None and np.shape(v) != (x.shape[0],):
                raise ValueError(f"data {name} must have shape ({x.shape[0]},), got "
                                 f"{np.shape(v)}")
        self.x, self.label = x, label.astype(np.int64)
        self.alpha = None if alpha is None else np.asarray(alpha, np.float64)
        self.T = None if T is None else np.asarray(T, np.int64)
        self.n = x.shape[0]
        self.family = None
        self.meta = {}
        self.kind, self.z = kind, z
        if kind != "positions" and (z is None or T is None):
            raise ValueError(f"data: the model reads input={kind!r}, made from 'z' and 'T' "
                             f"(ag.datasets.resandi / load give both); pass them")

    def chunk(self, s, e):
        if self.kind != "positions":
            return _from_z(self.z[s:e], self.T[s:e], self.kind)
        return np.ascontiguousarray(self.x[s:e], dtype=np.float32)


class _FileSource:
    def __init__(self, path, family, kind="positions"):
        self.info = D.inspect(path, family=family)
        self.path = os.fspath(path)
        self.meta = attrs_meta(self.info["attrs"])
        self.family = self.info["params"]["family"]
        self.n = self.info["n"]
        with h5py.File(self.path, "r") as f:
            self.label = f["label"][...]
            self.alpha = f["alpha"][...]
            self.T = f["T"][...]
        self._f = h5py.File(self.path, "r")
        self.kind = kind

    def chunk(self, s, e):
        if self.kind != "positions":
            return _from_z(self._f["z"][s:e], self.T[s:e], self.kind)
        return self._f["x"][s:e]

    def close(self):
        self._f.close()


def _as_source(data, family, kind="positions"):
    if isinstance(data, (str, os.PathLike)):
        return _FileSource(data, family, kind)
    if isinstance(data, dict):
        if "x" not in data or "label" not in data:
            raise ValueError("data dict must hold 'x' and 'label' (ag.datasets.resandi / load)")
        src = _ArraySource(data["x"], data["label"], data.get("alpha"), data.get("T"),
                           data.get("z"), kind)
        meta = data.get("meta") or {}
        src.family = meta.get("family")
        src.meta = meta
        if family is not None and src.family is not None and src.family != family:
            raise D.DatasetFormatError(f"data: a dataset of family {src.family!r}, but family "
                                       f"{family!r} is expected here")
        return src
    if isinstance(data, (tuple, list)) and 2 <= len(data) <= 4:
        return _ArraySource(*data, kind=kind)
    raise TypeError("data must be a dataset file path, a dict from ag.datasets.resandi/load, "
                    "or a tuple (x, label[, alpha, T])")


def evaluate(model, data, *, out=None, batch_size: int = 512, device: str | None = None,
             check_family: bool = True, amp="auto", progress: bool = True) -> dict:
    """Score ``model`` (a checkpoint path or an ``nn.Module``) on ``data``; see the
    module docstring for what is returned and written under ``out``.  ``amp``: "auto"
    (bf16 autocast where the hardware has it, the stem in fp32), "bf16" or "none"
    (:mod:`anomgrad.resandi.precision`)."""
    batch_size = V.check_int("batch_size", batch_size, 1)
    dev = V.torch_device(device)
    bf16 = use_bf16(amp, dev)
    net, meta = _as_model(model, dev)
    family = meta.get("family") if check_family else None
    src = _as_source(data, family, getattr(net, "input", "positions"))
    was = net.training
    net.eval()
    parts = []
    try:
        with torch.no_grad(), tqdm(total=src.n, disable=not progress, unit="traj",
                                   unit_scale=True, desc="evaluate", file=sys.stderr,
                                   mininterval=1.0) as bar:
            for s in range(0, src.n, batch_size):
                e = min(src.n, s + batch_size)
                xb = torch.from_numpy(src.chunk(s, e)).to(dev, non_blocking=True)
                with autocast(dev, bf16):
                    lo = net(xb)
                if lo.dim() != 2 or lo.shape[0] != e - s or (parts and
                                                             lo.shape[1] != parts[0].shape[1]):
                    raise ValueError(f"the model returned shape {tuple(lo.shape)} for a batch "
                                     f"of {e - s}; expected (batch, classes)")
                parts.append(lo.float().cpu().numpy())
                bar.update(e - s)
    finally:
        net.train(was)
        if hasattr(src, "close"):
            src.close()
    logits = np.concatenate(parts) if parts else np.empty((0, D.NUM_CLASSES), np.float32)
    ncls = max(logits.shape[1], D.NUM_CLASSES)
    pred = logits.argmax(1)
    res = metrics_from_predictions(src.label, pred, src.alpha, src.T, num_classes=ncls,
                                   names=tuple(D.CLASS_NAMES) + tuple(
                                       f"class {i}" for i in range(D.NUM_CLASSES, ncls)))
    res["family"] = src.family
    res["model_family"] = meta.get("family")
    res["checkpoint"] = os.fspath(model) if isinstance(model, (str, os.PathLike)) else None
    res["data"] = os.fspath(data) if isinstance(data, (str, os.PathLike)) else None
    res["checkpoint_epoch"] = meta.get("epoch")
    if out is not None:
        _write(out, res, src, pred, logits)
    return res


def _write(out, res, src, pred, logits) -> None:
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    title = (f"ResAnDi on {os.path.basename(res['data'] or 'data')}: "
             f"accuracy {100 * res['accuracy']:.2f}%, macro-F1 {100 * res['macro_f1']:.2f}%")
    atomic_write_json(os.path.join(out, "metrics.json"), res)
    atomic_write_json(os.path.join(out, "confusion.json"), {
        "rows": "true label", "columns": "predicted label", "classes": res["classes"],
        "matrix": res["confusion"]})
    plot_confusion(res["confusion"], res["classes"], os.path.join(out, "confusion.png"), title)
    for key, label in (("alpha", "alpha"), ("T", "trajectory length T")):
        rows = res.get(f"by_{key}")
        if rows is None:
            continue
        atomic_write_csv(os.path.join(out, f"accuracy_vs_{key}.csv"), rows,
                         ["class", "name", f"{key}_lo", f"{key}_hi", "n", "correct", "accuracy"])
        atomic_write_json(os.path.join(out, f"accuracy_vs_{key}.json"), rows)
        plot_binned(rows, key, os.path.join(out, f"accuracy_vs_{key}.png"), label, title)
    arrays = {"label": src.label, "pred": pred, "logits": logits}
    if src.alpha is not None:
        arrays["alpha"] = src.alpha
    if src.T is not None:
        arrays["T"] = src.T
    atomic_savez(os.path.join(out, "predictions.npz"), **arrays)

__all__ = ["ALPHA_EDGES", "T_EDGES", "binned_accuracy", "confusion_matrix", "evaluate",
           "metrics_from_predictions", "plot_binned", "plot_confusion"]
