"""Any supported track file in, any supported track file out (``anomgrad convert``).

=============  ==========================================  ===============================
format         files                                       read / write
=============  ==========================================  ===============================
``csv``        tracking tables (trackpy, TrackMate, ...)   :mod:`.tracking` / id, frame, x, y
``tracks``     anomgrad tracks files (``.h5``)             :mod:`.tracks`
``andi``       andi-datasets arrays (``.npy``, text)       :mod:`.andi` (equal lengths)
``challenge``  AnDi 2020 ``task<k>.txt`` (+ ``ref1/2``)    :mod:`.andi`
``trajectories``  ``anomgrad generate`` files (``.h5``)    :mod:`.trajectories` (read)
``array``      ``.npy``/``.npz`` of shape (n, dim, T)      read
=============  ==========================================  ===============================

:func:`guess_format` picks one from the file (HDF5 ``format`` attribute, extension,
shape); ``fmt=`` overrides it.
"""

from __future__ import annotations

import csv
import os

import h5py
import numpy as np

from . import andi, tracking, trajectories
from .atomic import replacing
from .h5 import FileFormatError, attr_str, no_such_file, open_h5
from .tracks import FORMAT_NAME as TRACKS_FORMAT
from .tracks import Tracks, read_tracks, trim_end_padding, write_tracks

READ_FORMATS = ("csv", "tracks", "andi", "challenge", "trajectories", "array")
WRITE_FORMATS = ("csv", "tracks", "andi", "challenge")


def guess_format(path) -> str:
    """The format of an existing file (see the module docstring)."""
    path = os.fspath(path)
    name = os.path.basename(path).lower()
    ext = os.path.splitext(name)[1]
    if not os.path.exists(path):
        raise FileFormatError(no_such_file(path))
    if os.path.isfile(path) and os.path.getsize(path) and h5py.is_hdf5(path):
        f, _ = open_h5(path)
        with f:
            fmt = attr_str(f.attrs.get("format", ""))
        return {TRACKS_FORMAT: "tracks", trajectories.FORMAT_NAME: "trajectories"}.get(fmt, fmt)
    if name.startswith("task") and ext == ".txt":
        return "challenge"
    if ext in (".npy", ".npz"):
        a = andi.load_numpy(path, mmap=True)
        return "array" if a.ndim == 3 else "andi"
    if ext in (".csv", ".tsv") or ext == ".txt":
        with open(path, errors="replace") as f:
            first = f.readline()
        return "csv" if any(c.isalpha() for c in first.replace("e", "").replace("E", "")) \
            else "andi"
    raise ValueError(f"{path}: cannot tell the format from the file; give it (one of "
                     f"{', '.join(READ_FORMATS)})")


def load_tracks(path, fmt: str | None = None, *, dim: int | None = None, ref=None,
                **columns) -> tuple[Tracks, list[str]]:
    """Read tracks from ``path``: ``(tracks, notes)``, the notes saying what was left
    out (header rows, untracked spots, lines of another dimension)."""
    path = os.fspath(path)
    fmt = fmt or guess_format(path)
    notes = []
    if fmt == "csv":
        t, skipped = tracking.read_tracking_csv(path, dim=dim, **columns)
        notes += tracking.skipped_notes(skipped)
    elif fmt == "tracks":
        t = read_tracks(path)
    elif fmt == "andi":
        t = andi.read_andi_array(path, dim)
    elif fmt == "challenge":
        t, skipped = andi.read_andi_challenge(path, ref, dim or 2)
        if skipped:
            notes.append(f"{skipped} lines of another dimension than {dim or 2} skipped")
    elif fmt == "trajectories":
        x, meta = trajectories.read_trajectories(path)
        t = Tracks.from_array(np.asarray(x), ids=np.arange(len(x)) + int(meta["start"]),
                              source=os.path.basename(path))
        t.alpha = np.asarray(meta["alpha"], np.float64)
    elif fmt == "array":
        a = np.asarray(andi.load_numpy(path, mmap=True))
        if a.ndim != 3 or not np.issubdtype(a.dtype, np.number):
            raise ValueError(f"{path}: an array of tracks is (n, dim, T) numbers; got shape "
                             f"{a.shape} {a.dtype}")
        t, padded = trim_end_padding(Tracks.from_array(a, source=os.path.basename(path)))
        if padded:
            notes.append(f"NaN end padding removed from {padded} tracks")
    else:
        raise FileFormatError(f"{path}: {'format ' + repr(fmt) if fmt else 'this file'} is "
                              f"not a format anomgrad reads ({', '.join(READ_FORMATS)})")
    return t, notes


def save_tracks(path, tracks: Tracks, fmt: str | None = None) -> list[str]:
    """Write ``tracks`` to ``path`` in ``fmt`` (default: from the extension: ``.h5``
    tracks, ``.npy`` andi, ``.csv`` csv, ``task*.txt`` challenge).  Returns the files
    written."""
    path = os.fspath(path)
    if fmt is None:
        ext = os.path.splitext(path)[1].lower()
        fmt = {".h5": "tracks", ".hdf5": "tracks", ".npy": "andi", ".csv": "csv"}.get(ext)
        if fmt is None and os.path.basename(path).lower().startswith("task"):
            fmt = "challenge"
        if fmt is None:
            raise ValueError(f"{path}: say which format to write ({', '.join(WRITE_FORMATS)})")
    if fmt == "tracks":
        write_tracks(path, tracks)
        return [path]
    if fmt == "andi":
        andi.write_andi_array(path, tracks)
        return [path]
    if fmt == "challenge":
        d = os.path.dirname(path)
        ref1, ref2 = os.path.join(d, "ref1.txt"), os.path.join(d, "ref2.txt")
        has_a, has_m = np.isfinite(tracks.alpha).any(), (tracks.model >= 0).any()
        andi.write_andi_challenge(path, tracks, ref1 if has_a else None, ref2 if has_m else None)
        return [path] + ([ref1] if has_a else []) + ([ref2] if has_m else [])
    if fmt == "csv":
        _write_csv(path, tracks)
        return [path]
    raise ValueError(f"format must be one of {', '.join(WRITE_FORMATS)}, got {fmt!r}")


def _write_csv(path, tracks: Tracks) -> None:
    """One row per position; the labels (andi-datasets model number, alpha) of every
    track in two more columns when any is known, so that no label is lost on the way
    (:func:`~anomgrad.io.tracking.tracks_from_frame` reads them back)."""
    labels = bool((tracks.model >= 0).any() or np.isfinite(tracks.alpha).any())
    with replacing(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["track_id", "frame"] + ["x", "y", "z"][:tracks.dim]
                   + (list(tracking.LABEL_COLUMNS) if labels else []))
        for i, (tid, p) in enumerate(zip(tracks.ids, tracks.positions)):
            lab = ([int(tracks.model[i]) if tracks.model[i] >= 0 else "",
                    repr(float(tracks.alpha[i])) if np.isfinite(tracks.alpha[i]) else ""]
                   if labels else [])
            for fr, row in zip(tracks.frames_of(i), p):
                w.writerow([tid, int(fr)] + [repr(float(v)) for v in row] + lab)


__all__ = ["READ_FORMATS", "WRITE_FORMATS", "guess_format", "load_tracks", "save_tracks"]
