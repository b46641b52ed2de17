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
they are for the method to report.  CSV files are read by pandas, and a ``DataFrame``
of detections goes through the same :func:`tracks_from_frame` (vectorized: the 2
million detections of 10,000 tracks of 200 frames read in about a second).
"""

from __future__ import annotations

import csv
import os
import re

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


UNTRACKED = ("", "None", "nan", "NaN")  # track ids of spots that belong to no track
LABEL_COLUMNS = ("andi_model", "alpha")  # per-track labels, as anomgrad convert writes them
# a field like 0,126 or -12,5e-3 between ; or tab separators: a decimal comma (European
# spreadsheets write these); such a file is read with decimal=","
_DECIMAL_COMMA = re.compile(r"(?:^|[;\t])\s*-?\d+,\d+(?:[eE][-+]?\d+)?\s*(?=[;\t]|$)", re.M)


def _columns(header, *, id_col=None, frame_col=None, x_col=None, y_col=None, z_col=None,
             dim=None):
    """Positions in ``header`` of the track id, the frame and the axes, and of a z column
    found by its name though ``dim`` was not given (None if none)."""
    header = [str(h) for h in header]
    ci = _pick(header, id_col, ID_NAMES, "track id")
    cf = _pick(header, frame_col, FRAME_NAMES, "frame")
    axes = [_pick(header, x_col, X_NAMES, "x")]
    cy = _pick(header, y_col, Y_NAMES, "y", required=dim not in (None, 1) or y_col is not None)
    cz = _pick(header, z_col, Z_NAMES, "z", required=z_col is not None or dim == 3)
    unasked_z = cz if dim is None and z_col is None else None  # checked against the data
    dim = dim or (3 if cz is not None and z_col is not None else (2 if cy is not None else 1))
    if dim >= 2:
        if cy is None:
            raise ValueError("no y column found: give --y-col, or --dim 1 for 1-D tracks")
        axes.append(cy)
    if dim == 3:
        axes.append(cz)
    return ci, cf, axes, unasked_z


def tracks_from_frame(df, *, source: str = "table", truth_col=None,
                      **columns) -> tuple[Tracks, dict]:
    """Tracks from a pandas ``DataFrame`` of detections (one row per detection).

    ``columns``: ``id_col``, ``frame_col``, ``x_col``, ``y_col``, ``z_col`` and ``dim``
    (1-3; default: 2, or 3 when a z column is given).  Returns ``(tracks, skipped)``
    with ``skipped`` counting the header and untracked rows left out.  Vectorized: a
    million detections take a fraction of a second."""
    import pandas as pd  # lazy: pandas (import anomgrad stays light)

    ci, cf, axes, unasked_z = _columns(list(df.columns), **columns)
    frame = pd.to_numeric(df.iloc[:, cf], errors="coerce").to_numpy(np.float64)
    # track ids as integer codes (no string per row): the distinct raw ids, stripped and
    # merged where equal after stripping; a missing id (code -1) reads as "nan"
    code, uniq = pd.factorize(df.iloc[:, ci])
    canon, names = pd.factorize(np.array([str(u).strip() for u in uniq] + ["nan"], dtype=object))
    code = canon[code]  # code -1 picks the appended "nan"
    names = np.asarray(names, dtype=object)
    header = np.isnan(frame)
    untracked = ~header & np.isin(names, UNTRACKED)[code]
    keep = ~(header | untracked)
    skipped = {"header_rows": int(header.sum()), "untracked_rows": int(untracked.sum())}
    frame, code = frame[keep], code[keep]
    pos = np.stack([pd.to_numeric(df.iloc[:, c], errors="coerce").to_numpy(np.float64)[keep]
                    for c in axes], axis=1)
    if unasked_z is not None:  # a z column that varies: 3-D tracks, never dropped unasked
        z = pd.to_numeric(df.iloc[:, unasked_z], errors="coerce").to_numpy(np.float64)[keep]
        z = z[np.isfinite(z)]
        if len(z) and z.min() != z.max():
            raise ValueError(f"the table has a z column that varies ({df.columns[unasked_z]!r}: "
                             f"3-D tracks); give --dim 3 (dim=3) to read x, y and z, or --dim 2 "
                             f"(dim=2) to use x and y only (ResAnDi classifies 2-D tracks: "
                             f"their x-y projection)")
    for a, c in enumerate(axes):  # a column of text, not numbers: say so, never all NaN
        if len(pos) and np.isnan(pos[:, a]).all():
            raw = df.iloc[:, c][keep]
            text = raw[raw.astype(str).str.strip() != ""]
            if len(text):
                raise ValueError(f"column {df.columns[c]!r} holds no numbers (e.g. "
                                 f"{str(text.iloc[0])!r}); decimal commas need another field "
                                 f"separator (; or tab), or convert the column first")
    bad = frame != np.floor(frame)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"track {names[code[k]]}: frame {frame[k]} is not a whole number")
    code, first = pd.factorize(code, sort=False)  # tracks in order of first appearance
    ids = names[first]
    order = np.lexsort((frame, code))  # by track, then frame; stable for equal frames
    if len(ids) == 0:  # no data rows
        return Tracks([], [], [], source=source), skipped
    cuts = np.cumsum(np.bincount(code, minlength=len(ids)))[:-1]
    frames = np.split(frame[order].astype(np.int64), cuts)
    first = order[np.r_[0, cuts]]  # each track's first row
    cols, lab = [str(c) for c in df.columns], {}
    for name in LABEL_COLUMNS:
        c = _pick(cols, None, (name,), name, required=False)
        if c is not None:
            lab[name] = pd.to_numeric(df.iloc[:, c], errors="coerce").to_numpy(
                np.float64)[keep][first]
    model = lab.get("andi_model")
    model = None if model is None else np.where(np.isfinite(model), model, -1).astype(np.int64)
    truth = None
    if truth_col is not None:  # each track's first value, as text (the caller maps it)
        ct = _pick(cols, truth_col, (), "truth")
        truth = [str(v).strip() for v in df.iloc[:, ct].astype(str).to_numpy()[keep][first]]
    return Tracks(list(ids), np.split(pos[order], cuts), frames, model, lab.get("alpha"),
                  source=source, truth=truth), skipped


def read_tracking_csv(path, **columns) -> tuple[Tracks, dict]:
    """A tracking table in a CSV file (``,``, ``;`` or tab separated; trackpy's index
    column is ignored), read by pandas.  ``columns``: ``id_col``, ``frame_col``,
    ``x_col``, ``y_col``, ``z_col``, ``dim`` as for :func:`tracks_from_frame`.  A row
    with fewer fields than the header reads as empty fields (NaN positions, which the
    classifier then reports)."""
    import pandas as pd  # lazy: pandas (import anomgrad stays light)

    truth_col = columns.pop("truth_col", None)
    path = check_text(path, "tracking CSV")
    try:
        with open(path, newline="") as f:
            sample = f.read(65536)
        try:
            sep = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
        except csv.Error:
            sep = ","
        header = next(csv.reader([sample.splitlines()[0] if sample else ""], delimiter=sep), [])
        if not any(h.strip() for h in header):
            raise ValueError(f"{path}: empty file, no header row")
        ci = _columns(header, **columns)[0]
        # the id column as text: "" "None" "nan" "NaN" mark untracked spots, nothing else
        decimal = "," if sep != "," and _DECIMAL_COMMA.search(sample) else "."
        df = pd.read_csv(path, sep=sep, dtype={header[ci]: str}, keep_default_na=False,
                         na_values={header[ci]: list(UNTRACKED)}, low_memory=False,
                         decimal=decimal)
        check_line_end(path)
        if len(df) == 0:
            raise ValueError("the table has a header and no data rows: no tracks to read")
        return tracks_from_frame(df, source=os.path.basename(path), truth_col=truth_col,
                                 **columns)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a text (CSV) file ({e})") from None
    except (csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"{path}: not a readable CSV table ({e})") from None
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith(path) else f"{path}: {msg}") from None


__all__ = ["UNTRACKED", "read_tracking_csv", "tracks_from_frame"]
