"""Whatever a user has, as :class:`~anomgrad.io.tracks.Tracks`: a file (tracking CSV,
``.npy``/``.npz``, andi-datasets arrays and challenge files, anomgrad HDF5 trajectory,
tracks and ResAnDi dataset files), an ``(n, dim, T)`` array, one ``(T, dim)`` array, a
list of ``(T_i, dim)`` arrays, or a pandas ``DataFrame`` of detections: all at once
(:func:`as_tracks`) or in chunks of tracks (:func:`scan_tracks`: a tracking CSV of any
size in bounded memory)."""

from __future__ import annotations

import os

import h5py
import numpy as np

from ..io.convert import guess_format, load_tracks
from ..io.h5 import attr_str
from ..io.tracking import MEMORY_ROWS, scan_tracking_csv, skipped_notes, tracks_from_frame
from ..io.tracks import Tracks, trim_end_padding
from ..resandi import datasets as D
from ..resandi.task import CLASS_NAMES, andi_labels, class_of_andi


def _dataset_tracks(path) -> Tracks:
    """A ResAnDi dataset file: each row's T normalized positions (its ``z``), with the
    true class as andi-datasets labels."""
    d = D.load(path, fields=("z", "label", "alpha", "T"))
    pos = [z[:, -t:].T for z, t in zip(d["z"], d["T"])]
    model, _ = andi_labels(d["label"])
    return Tracks(np.arange(len(pos)), pos, None, model, d["alpha"],
                  source=os.path.basename(os.fspath(path)))


def as_tracks(data, *, fmt: str | None = None, dim: int | None = None, ref=None,
              **columns) -> tuple[Tracks, list[str], np.ndarray]:
    """``(tracks, notes, true labels)``: the notes say what reading left out; the true
    labels are our classes where the source says them (-1 elsewhere)."""
    notes: list[str] = []
    if isinstance(data, Tracks):
        tracks = data
    elif isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if fmt is None and os.path.exists(path) and h5py.is_hdf5(path):
            with h5py.File(path, "r") as f:
                kind = attr_str(f.attrs.get("format", ""))
            if kind == D.FORMAT_NAME:
                fmt = "dataset"
        if fmt == "dataset":
            tracks = _dataset_tracks(path)
        else:
            tracks, notes = load_tracks(path, fmt, dim=dim, ref=ref, **columns)
    elif type(data).__name__ == "DataFrame" and hasattr(data, "columns"):
        tracks, skipped = tracks_from_frame(data, dim=dim, source="DataFrame", **columns)
        notes = skipped_notes(skipped)
    elif isinstance(data, np.ndarray) and data.ndim == 2:
        tracks = Tracks.from_array([data])
    else:
        tracks = Tracks.from_array(data if not isinstance(data, np.ndarray) else
                                   np.asarray(data, np.float64))
        if isinstance(data, np.ndarray):  # one (n, dim, T) array: ragged tracks end in NaN
            tracks, padded = trim_end_padding(tracks)
            if padded:
                notes.append(f"NaN end padding removed from {padded} tracks")
    return tracks, notes, _truth(tracks, columns.get("truth_col"))


def _truth(tracks: Tracks, truth_col) -> np.ndarray:
    """Our class of each track where the source says it (-1 elsewhere)."""
    if truth_col is None:
        return class_of_andi(tracks.model, tracks.alpha)
    if tracks.truth is None:
        raise ValueError("truth_col (--truth) applies to tracking tables (CSV, DataFrame)")
    return _classes(tracks.truth, truth_col)


def scan_tracks(data, chunk_tracks: int, *, fmt: str | None = None, dim: int | None = None,
                ref=None, memory_rows: int | float = MEMORY_ROWS, spill_dir=None, **columns):
    """``(n, notes, chunks)``: the number of tracks, what reading left out, and an
    iterator of ``(tracks, true labels)`` of at most ``chunk_tracks`` tracks each, in
    input order.  A tracking CSV is read with at most ``memory_rows`` detections in
    memory (:func:`anomgrad.io.tracking.scan_tracking_csv`); other inputs are read whole
    and then cut."""
    if isinstance(data, (str, os.PathLike)) and (fmt or guess_format(os.fspath(data))) == "csv":
        scan = scan_tracking_csv(data, chunk_tracks=chunk_tracks, memory_rows=memory_rows,
                                 spill_dir=spill_dir, dim=dim, **columns)

        def chunks():
            with scan:
                for t in scan:
                    yield t, _truth(t, columns.get("truth_col"))
        return scan.n, skipped_notes(scan.skipped), chunks()
    tracks, notes, truth = as_tracks(data, fmt=fmt, dim=dim, ref=ref, **columns)

    def parts():
        for lo in range(0, max(len(tracks), 1), chunk_tracks):
            yield (tracks.take(range(lo, min(lo + chunk_tracks, len(tracks)))),
                   truth[lo:lo + chunk_tracks])
    return len(tracks), notes, parts()


def _classes(values, column) -> np.ndarray:
    """Our labels of a truth column's texts: a class name (any case) or its label 0..7;
    an empty value is an unknown class (-1)."""
    names = {n.lower(): k for k, n in enumerate(CLASS_NAMES)}
    out = np.full(len(values), -1, np.int64)
    for k, v in enumerate(values):
        t = v.strip().lower()
        if t in ("", "nan", "none"):
            continue
        if t in names:
            out[k] = names[t]
        elif t.lstrip("-").isdigit() and 0 <= int(t) < len(CLASS_NAMES):
            out[k] = int(t)
        else:
            raise ValueError(f"truth column {column!r}: {v!r} is not a class (a name of "
                             f"{', '.join(CLASS_NAMES)} or a label 0..{len(CLASS_NAMES) - 1})")
    return out


__all__ = ["as_tracks", "scan_tracks"]
