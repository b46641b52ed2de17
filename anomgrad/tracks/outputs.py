"""What ``anomgrad classify`` writes: ``classification.csv`` and ``classification.json``
(every input track with its status, probabilities and predicted class), with
``--gradcam`` ``gradcam.h5`` (per-step Grad-CAM of each classified track), with
``--figure`` ``tracks.png`` (Fig. 2-style: the first tracks in the plane, coloured by
their Grad-CAM, with the class probabilities)."""

from __future__ import annotations

import datetime as _dt
import os

import h5py
import numpy as np

from .._version import __version__
from ..io.atomic import atomic_savefig, atomic_write_csv, atomic_write_json, replacing
from ..resandi.calibration import UNCERTAIN_BELOW
from ..resandi.task import CLASS_NAMES
from .result import ClassifyResult


OPTIONAL = {"gradcam": "gradcam.h5", "figure": "tracks.png"}  # written on request only


def remove_stale(out: str, **requested: bool) -> list[str]:
    """Remove the optional outputs of an earlier run in ``out`` that this run will not
    write again (``requested``: gradcam=..., figure=...), so a reused ``--out`` never
    holds a map or a figure of other tracks.  Returns the paths removed."""
    gone = []
    for key, name in OPTIONAL.items():
        path = os.path.join(out, name)
        if not requested.get(key) and os.path.exists(path):
            os.remove(path)
            gone.append(path)
    return gone


def write_tables(out: str, res: ClassifyResult, source: str) -> list[str]:
    rows = res.rows()
    csv_path, json_path = os.path.join(out, "classification.csv"), os.path.join(out, "classification.json")
    atomic_write_csv(csv_path, rows)
    counts = {s: res.status.count(s) for s in sorted(set(res.status))}
    ev = res.evaluation()
    atomic_write_json(json_path, {
        "source": source, "n": len(res.ids), "classified": res.n_classified,
        "status_counts": counts, "notes": res.notes, "classes": list(CLASS_NAMES),
        "units": dict(res.units, K=res.K_unit),
        "uncertain": {"below": UNCERTAIN_BELOW, "n": res.n_uncertain,
                      "rule": "the predicted class's probability is below 'below'"},
        "model": res.model, "anomgrad_version": __version__,
        "gradcam_target": "the predicted class (the true class is unknown)",
        "accuracy_on_known_labels": None if np.isnan(res.accuracy()) else res.accuracy(),
        "evaluation": ev,
        "tracks": [dict(r, windows=res.windows[i]) for i, r in enumerate(rows)]},
        indent=None)  # compact: one entry per track, 10,000s of them
    written = [csv_path, json_path]
    win_path = os.path.join(out, "windows.csv")
    if any(len(w) > 1 for w in res.windows):  # tracks longer than the network's 1000 steps
        atomic_write_csv(win_path, res.window_rows())
        written.append(win_path)
    elif os.path.exists(win_path):  # a reused --out: not the windows of other tracks
        os.remove(win_path)
    cm_path = os.path.join(out, "confusion.png")
    if ev and "confusion" in ev:
        from ..resandi.evaluate import plot_confusion  # lazy: torch (classify has it)

        plot_confusion(ev["confusion"], CLASS_NAMES, cm_path,
                       f"{os.path.basename(source)}: {ev['n_known']} tracks of known class, "
                       f"accuracy {100 * ev['accuracy']:.1f} %")
        written.append(cm_path)
    elif os.path.exists(cm_path):  # a reused --out: no stale figure of other tracks
        os.remove(cm_path)
    return written


def write_gradcam(out: str, res: ClassifyResult) -> str:
    """gradcam.h5: ``cam`` (sum of classified lengths,) float32 with ``offsets``, the
    track ids, predicted labels and lengths; written atomically."""
    path = os.path.join(out, "gradcam.h5")
    keep = [i for i, m in enumerate(res.gradcam or []) if m is not None]
    maps = [res.gradcam[i] for i in keep]
    with replacing(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"format": "anomgrad-classify-gradcam", "format_version": np.int64(1),
                        "layer": "layer4", "upsample": "nearest", "signed": True,
                        "target": "predicted class", "anomgrad_version": __version__,
                        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
        f.create_dataset("cam", data=np.concatenate(maps).astype(np.float32) if maps else
                         np.empty(0, np.float32))
        f.create_dataset("offsets", data=np.concatenate([[0], np.cumsum([len(m) for m in maps])]))
        f.create_dataset("id", data=np.array([res.ids[i] for i in keep], dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
        f.create_dataset("label", data=res.label[keep])
    return path


def figure_tracks(res: ClassifyResult, ids=None, n: int = 4) -> list[int]:
    """The tracks a figure shows: ``ids`` (track ids, in that order; each must have been
    classified), else the ``n`` most confident and the ``n`` least confident classified
    tracks (by the predicted class's probability)."""
    ok = np.flatnonzero(res.label >= 0)
    if not len(ok):
        raise ValueError("figure: no track could be classified, nothing to draw")
    if ids:
        where = {tid: k for k, tid in enumerate(res.ids)}
        out = []
        for tid in ids:
            k = where.get(str(tid))
            if k is None:
                raise ValueError(f"figure_tracks: no track {tid!r} in the input")
            if res.label[k] < 0:
                raise ValueError(f"figure_tracks: track {tid!r} was not classified "
                                 f"({res.status[k]})")
            out.append(k)
        return out
    order = ok[np.argsort(-res.top_probability[ok], kind="stable")]
    most = list(order[:n])
    least = [k for k in order[::-1][:n] if k not in most][::-1]
    return most + least


def figure(path: str, res: ClassifyResult, ids=None, n: int = 4) -> str:
    """Tracks in the xy-plane with axes in the input's units (or um with a pixel size),
    coloured by their Grad-CAM (min-max scaled per track) when computed, each with its
    id, predicted class and probability, and a bar chart of its 8 probabilities: the
    tracks of :func:`figure_tracks`."""
    from matplotlib.collections import LineCollection  # lazy: matplotlib
    from matplotlib.figure import Figure  # lazy: matplotlib

    pick = figure_tracks(res, ids, n)
    cols = min(4, len(pick))
    nrows = -(-len(pick) // cols)
    fig = Figure(figsize=(3.4 * cols, 5.0 * nrows), layout="constrained")
    axes = fig.subplots(2 * nrows, cols, squeeze=False, height_ratios=[3, 1] * nrows)
    for ax in axes.ravel():
        ax.set_axis_off()
    unit = {"um": "um", "unit": "input units"}.get(res.units["length"], res.units["length"])
    top = res.top_probability
    lc = None
    for k, i in enumerate(pick):
        ax, bar = axes[2 * (k // cols), k % cols], axes[2 * (k // cols) + 1, k % cols]
        ax.set_axis_on()
        xy = res.tracks.positions[i]
        c = res.gradcam[i] if res.gradcam is not None else np.zeros(len(xy))
        c = (c - c.min()) / (np.ptp(c) or 1.0)
        lc = LineCollection(np.stack([xy[:-1], xy[1:]], axis=1), cmap="coolwarm",
                            linewidths=0.9)
        lc.set_array(0.5 * (c[:-1] + c[1:]))
        lc.set_clim(0, 1)
        ax.add_collection(lc)
        ax.autoscale()
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel(f"x ({unit})", fontsize=7)
        ax.set_ylabel(f"y ({unit})", fontsize=7)
        ax.tick_params(labelsize=6)
        flag = " (uncertain)" if res.uncertain[i] else ""
        ax.set_title(f"track {res.ids[i]}, T = {len(xy)}\n{res.class_name[i]}, "
                     f"p = {top[i]:.2f}{flag}", fontsize=8)
        bar.set_axis_on()
        bar.bar(range(len(CLASS_NAMES)), res.probabilities[i], color="0.4")
        bar.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, rotation=60, fontsize=6)
        bar.set_ylim(0, 1)
        bar.set_ylabel("probability", fontsize=6)
        bar.tick_params(labelsize=6)
    if res.gradcam is not None and lc is not None:
        fig.colorbar(lc, ax=axes.ravel().tolist(), shrink=0.4,
                     label="Grad-CAM of the predicted class (min-max per track)")
    what = "chosen tracks" if ids else f"the {n} most and the {n} least confident tracks"
    fig.suptitle(f"{res.tracks.source or 'tracks'}: {what}", fontsize=10)
    atomic_savefig(fig, path, dpi=150)
    return path


__all__ = ["OPTIONAL", "figure", "figure_tracks", "remove_stale", "write_gradcam",
           "write_tables"]
