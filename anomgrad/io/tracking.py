"""Tables of tracked particles (one row per detection) into :class:`Tracks`.

Column names are found as trackpy and TrackMate write them, or given explicitly:

=========  ===========================================================================
track id   ``particle`` (trackpy), ``TRACK_ID`` (TrackMate), ``track_id``, ``track``, ``id``
frame      ``frame`` (trackpy), ``FRAME`` (TrackMate), ``t``, ``time``
x, y       ``x``, ``y`` (trackpy), ``POSITION_X``, ``POSITION_Y`` (TrackMate)
=========  ===========================================================================

Names match without regard to case.  Rows that are not data are skipped and counted:
TrackMate's extra header rows (names, short names, units: a non-numeric frame) and
spots that belong to no track (an empty or ``None`` track id).  Each track's rows are
sorted by frame (stable); gaps, duplicate frames and non-finite positions are kept as
they are for the method to report.  A table with a pandas ``DataFrame`` (pandas is
optional) goes through :func:`tracks_from_table` as well.
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from .text import check_line_end, check_text
from .tracks import Tracks

ID_NAMES = ("particle", "track_id", "track", "trajectory", "traj", "id")
FRAME_NAMES = ("frame", "t", "time", "position_t")
X_NAMES = ("x", "position_x")
Y_NAMES = ("y", "position_y")
Z_NAMES = ("z", "position_z")


def _pick(header, given, names, what, required=True):
    low = {h.strip().lower(): i for i, h in enumerate(header)}
    if given is not None:
        if given.lower() not in low:
            raise ValueError(f"column {given!r} ({what}) is not in the table; columns: "
                             f"{', '.join(header)}")
        return low[given.lower()]
    for n in names:
        if n in low:
            return low[n]
    if required:
        raise ValueError(f"no {what} column found (looked for {', '.join(names)}; columns: "
                         f"{', '.join(header)}); name it with the matching option")
    return None


def _number(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def tracks_from_table(header, rows, *, id_col=None, frame_col=None, x_col=None, y_col=None,
                      z_col=None, dim=None, source: str = "table") -> tuple[Tracks, dict]:
    """Tracks from a table (``header``: column names; ``rows``: sequences of values).

    ``dim`` (1-3; default: 2, or 3 when a z column is found) chooses the axes.  Returns
    ``(tracks, skipped)`` with ``skipped`` counting the header and untracked rows left out.
    """
    header = [str(h) for h in header]
    ci = _pick(header, id_col, ID_NAMES, "track id")
    cf = _pick(header, frame_col, FRAME_NAMES, "frame")
    axes = [_pick(header, x_col, X_NAMES, "x")]
    cy = _pick(header, y_col, Y_NAMES, "y", required=dim not in (None, 1) or y_col is not None)
    cz = _pick(header, z_col, Z_NAMES, "z", required=z_col is not None or dim == 3)
    dim = dim or (3 if cz is not None and z_col is not None else (2 if cy is not None else 1))
    if dim >= 2:
        if cy is None:
            raise ValueError("no y column found: give --y-col, or --dim 1 for 1-D tracks")
        axes.append(cy)
    if dim == 3:
        axes.append(cz)
    order, tracks = [], {}
    skipped = {"header_rows": 0, "untracked_rows": 0}
    need = max([ci, cf] + axes) + 1
    for k, row in enumerate(rows, 1):
        f = _number(row[cf]) if cf < len(row) else None
        if f is None or math.isnan(f):
            skipped["header_rows"] += 1
            continue
        tid = str(row[ci]).strip() if ci < len(row) else ""
        if tid in ("", "None", "nan", "NaN"):
            skipped["untracked_rows"] += 1
            continue
        if f != int(f):
            raise ValueError(f"track {tid}: frame {f} is not a whole number")
        if len(row) < need:
            raise ValueError(f"data row {k} has {len(row)} fields, fewer than the "
                             f"{need} its columns need (a damaged or cut-short table?)")
        xyz = [_number(row[c]) for c in axes]
        if tid not in tracks:
            order.append(tid)
            tracks[tid] = ([], [])
        tracks[tid][0].append(int(f))
        tracks[tid][1].append([np.nan if v is None else v for v in xyz])
    frames, pos = [], []
    for tid in order:
        fr = np.asarray(tracks[tid][0], np.int64)
        o = np.argsort(fr, kind="stable")
        frames.append(fr[o])
        pos.append(np.asarray(tracks[tid][1], np.float64)[o])
    return Tracks(order, pos, frames, source=source), skipped


def read_tracking_csv(path, **columns) -> tuple[Tracks, dict]:
    """A tracking table in a CSV file (``,``, ``;`` or tab separated; trackpy's index
    column is ignored).  ``columns``: ``id_col``, ``frame_col``, ``x_col``, ``y_col``,
    ``z_col``, ``dim`` as for :func:`tracks_from_table`."""
    path = check_text(path, "tracking CSV")
    try:
        with open(path, newline="") as f:
            sample = f.read(65536)
            f.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            reader = csv.reader(f, dialect)
            header = next(reader, None)
            if not header:
                raise ValueError(f"{path}: empty file, no header row")
            out = tracks_from_table(header, reader, source=os.path.basename(path), **columns)
        check_line_end(path)
        return out
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a text (CSV) file ({e})") from None
    except csv.Error as e:
        raise ValueError(f"{path}: not a readable CSV table ({e})") from None
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith(path) else f"{path}: {msg}") from None


__all__ = ["read_tracking_csv", "tracks_from_table"]
