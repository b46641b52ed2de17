"""What ``anomgrad classify`` writes: ``classification.csv`` and ``classification.json``
(every input track with its status, probabilities and predicted class), with
``--gradcam`` ``gradcam.h5`` (per-step Grad-CAM of each classified track), with
``--figure`` ``tracks.png`` (Fig. 2-style: the first tracks in the plane, coloured by
their Grad-CAM, with the class probabilities)."""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os

import h5py
import numpy as np

from .._version import __version__
from ..io.atomic import Pending, atomic_savefig, json_default, write_error
from ..resandi.calibration import UNCERTAIN_BELOW
from ..resandi.task import CLASS_NAMES
from .result import ClassifyResult, evaluation, joined


OPTIONAL = ("windows.csv", "confusion.png", "gradcam.h5", "tracks.png")  # when there is cause


class Writer:
    """The files of ``anomgrad classify`` in ``out``, written chunk by chunk of tracks
    (:meth:`add` per :class:`ClassifyResult`, then :meth:`close`), so memory holds one
    chunk whatever the number of tracks; every file appears whole (temporary names,
    renamed at :meth:`close`) or not at all (:meth:`abort`, or an error in a ``with``
    block).  An optional output this run does not write is removed from ``out``, so a
    reused folder never holds files of other tracks.

    * ``classification.csv``: one row per track (:meth:`ClassifyResult.rows`);
    * ``classification.json``: each track with its windows, then the run's summary;
    * ``windows.csv``: every window, when a track is longer than the network's 1000 steps;
    * ``confusion.png``: when the input said the true classes;
    * ``gradcam.h5`` (``gradcam=True``): the per-step Grad-CAM of every classified track;
    * ``tracks.png`` (``figure=True``): :func:`figure` of the tracks ``figure_ids`` or of
      the ``figure_n`` most and least confident."""

    def __init__(self, out: str, source: str, *, gradcam: bool = False, figure: bool = False,
                 figure_ids=None, figure_n: int = 4):
        os.makedirs(out, exist_ok=True)
        self.out, self.source = out, source
        self._gradcam, self._figure = gradcam, figure
        self._figure_ids, self._figure_n = figure_ids, figure_n
        self._pending = {name: Pending(os.path.join(out, name)) for name in
                         ("classification.csv", "classification.json", "windows.csv")}
        self._files = {name: open(p.tmp, "w", newline="") for name, p in self._pending.items()}
        self._files["classification.json"].write('{"tracks": [')
        self._csv = self._win = None
        self._h5 = None
        if gradcam:
            self._pending["gradcam.h5"] = Pending(os.path.join(out, "gradcam.h5"))
            self._h5 = self._new_gradcam(self._pending["gradcam.h5"].tmp)
        self._n = 0
        self._status: dict = {}
        self._n_uncertain = self._n_classified = 0
        self._multi = False
        self._eval: list = []  # per chunk: truth, label, true alpha, alpha, alpha_msd
        self._shown = None  # the tracks the figure may show, so far
        self._last = None

    def _write(self, name: str, text: str) -> None:
        try:
            self._files[name].write(text)
        except OSError as e:
            raise write_error(os.path.join(self.out, name), e) from e

    def add(self, res: ClassifyResult) -> None:
        """The tracks of ``res`` (the next chunk of the input)."""
        rows = res.rows()
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        if self._csv is None:
            self._csv = list(rows[0]) if rows else None
            if self._csv:
                out.writerow(self._csv)
        if rows and list(rows[0]) == self._csv:  # the usual case: the columns of the first chunk
            out.writerows(r.values() for r in rows)
        else:  # as csv.DictWriter: the first chunk's columns, "" where a row has none
            out.writerows([r.get(k, "") for k in self._csv or []] for r in rows)
        self._write("classification.csv", buf.getvalue())
        if rows:
            entries = json.dumps([dict(r, windows=res.windows[i]) for i, r in enumerate(rows)],
                                 default=json_default)[1:-1]
            self._write("classification.json", (", " if self._n else "") + entries)
        wins = res.window_rows()
        if wins:
            buf = io.StringIO()
            if self._win is None:
                self._win = list(wins[0])
                csv.writer(buf, lineterminator="\n").writerow(self._win)
            csv.DictWriter(buf, fieldnames=self._win, extrasaction="ignore",
                           lineterminator="\n").writerows(wins)
            self._write("windows.csv", buf.getvalue())
        self._multi |= any(len(w) > 1 for w in res.windows)
        for st in res.status:
            self._status[st] = self._status.get(st, 0) + 1
        self._n += len(res.ids)
        self._n_classified += res.n_classified
        self._n_uncertain += res.n_uncertain
        self._eval.append((res.truth, res.label, res.true_alpha, res.alpha, res.alpha_msd))
        if self._h5 is not None:
            self._add_gradcam(res)
        if self._figure:
            self._keep_for_figure(res)
        self._last = res

    def _new_gradcam(self, path):
        f = h5py.File(path, "w")
        f.attrs.update({"format": "anomgrad-classify-gradcam", "format_version": np.int64(1),
                        "layer": "layer4", "upsample": "nearest", "signed": True,
                        "target": "predicted class", "anomgrad_version": __version__,
                        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
        f.create_dataset("cam", (0,), np.float32, maxshape=(None,), chunks=(1 << 16,))
        f.create_dataset("offsets", data=np.zeros(1, np.int64), maxshape=(None,), chunks=(4096,))
        f.create_dataset("id", (0,), h5py.string_dtype("utf-8"), maxshape=(None,), chunks=(4096,))
        f.create_dataset("label", (0,), np.int64, maxshape=(None,), chunks=(4096,))
        return f

    def _add_gradcam(self, res: ClassifyResult) -> None:
        """gradcam.h5: ``cam`` (sum of classified lengths,) float32 with ``offsets``, the
        track ids, predicted labels."""
        keep = [i for i, m in enumerate(res.gradcam or []) if m is not None]
        if not keep:
            return
        maps = np.concatenate([res.gradcam[i] for i in keep]).astype(np.float32)
        f = self._h5
        try:
            n, m = len(f["id"]), len(f["cam"])
            f["cam"].resize((m + len(maps),))
            f["cam"][m:] = maps
            ends = m + np.cumsum([len(res.gradcam[i]) for i in keep])
            f["offsets"].resize((n + 1 + len(keep),))
            f["offsets"][n + 1:] = ends
            f["id"].resize((n + len(keep),))
            f["id"][n:] = np.array([res.ids[i] for i in keep], dtype=object)
            f["label"].resize((n + len(keep),))
            f["label"][n:] = res.label[keep]
        except OSError as e:
            raise write_error(os.path.join(self.out, "gradcam.h5"), e) from e

    def _keep_for_figure(self, res: ClassifyResult) -> None:
        if self._figure_ids:
            want = set(map(str, self._figure_ids))
            idx = [i for i, tid in enumerate(res.ids) if tid in want]
            if idx:
                figure_tracks(res, [res.ids[i] for i in idx])  # each must be classified
        else:
            ok = res.label >= 0
            idx = figure_tracks(res, None, self._figure_n) if ok.any() else []
        if idx:
            part = res.take(idx)
            self._shown = part if self._shown is None else ClassifyResult.concat([self._shown, part])
            if not self._figure_ids:  # keep only the candidates of the whole run so far
                self._shown = self._shown.take(figure_tracks(self._shown, None, self._figure_n))

    def close(self, notes=()) -> list[str]:
        """Finish and commit the files (``notes``: the run's notes, as the chunks' results
        may not know them all); returns their paths."""
        written = []
        try:
            written = self._finish(list(notes))
        except BaseException:
            self.abort()
            raise
        for name in OPTIONAL:  # not written by this run: not kept from an earlier one
            path = os.path.join(self.out, name)
            if path not in written and os.path.exists(path):
                os.remove(path)
        return written

    def _finish(self, notes) -> list[str]:
        res = self._last
        if self._eval:  # per field, the chunks' arrays one after the other
            ev = evaluation(*(joined(list(field)) for field in zip(*self._eval)))
        else:
            ev = None
        summary = {
            "source": self.source, "n": self._n, "classified": self._n_classified,
            "status_counts": dict(sorted(self._status.items())), "notes": notes,
            "classes": list(CLASS_NAMES),
            "units": None if res is None else dict(res.units, K=res.K_unit),
            "uncertain": {"below": UNCERTAIN_BELOW, "n": self._n_uncertain,
                          "rule": "the predicted class's probability is below 'below'"},
            "model": None if res is None else res.model, "anomgrad_version": __version__,
            "gradcam_target": "the predicted class (the true class is unknown)",
            "accuracy_on_known_labels": (ev or {}).get("accuracy"), "evaluation": ev}
        self._write("classification.json", "], " + json.dumps(summary, default=json_default)[1:]
                    + "\n")
        for f in self._files.values():
            f.close()
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
        names = ["classification.csv", "classification.json"]
        names += ["windows.csv"] if self._multi else []
        names += ["gradcam.h5"] if self._gradcam else []
        written = [self._pending.pop(n).commit() for n in names]
        self.abort()  # the files not kept (windows.csv of tracks of one window)
        self.summary = dict(summary, evaluation=ev)
        if ev and "confusion" in ev:
            from ..resandi.evaluate import plot_confusion  # lazy: torch, matplotlib

            path = os.path.join(self.out, "confusion.png")
            plot_confusion(ev["confusion"], CLASS_NAMES, path,
                           f"{os.path.basename(self.source)}: {ev['n_known']} tracks of known "
                           f"class, accuracy {100 * ev['accuracy']:.1f} %")
            written.append(path)
        if self._figure:
            written.append(self._draw())
        return written

    def _draw(self) -> str:
        shown = self._shown
        ids = self._figure_ids
        if shown is None:
            if ids:
                figure_tracks(self._last, ids)  # names the first missing track
            raise ValueError("figure: no track could be classified, nothing to draw")
        if ids:
            found = set(shown.ids)
            missing = [t for t in ids if str(t) not in found]
            if missing:
                raise ValueError(f"figure_tracks: no track {missing[0]!r} in the input")
        return figure(os.path.join(self.out, "tracks.png"), shown, ids, self._figure_n)

    def abort(self) -> None:
        """Close and remove the files not committed."""
        for f in self._files.values():
            if not f.closed:
                f.close()
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
        for p in self._pending.values():
            p.discard()
        self._pending = {}

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc):
        if kind is not None:
            self.abort()


def write(out: str, res: ClassifyResult, source: str, **options) -> list[str]:
    """All the files of one :class:`ClassifyResult` (:class:`Writer` with one chunk)."""
    with Writer(out, source, **options) as w:
        w.add(res)
        return w.close(res.notes)


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


__all__ = ["OPTIONAL", "Writer", "figure", "figure_tracks", "write"]
