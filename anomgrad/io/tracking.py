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
they are for the method to report.  Tracks come in the order of their first row.

TrackMate's units row (``(micron)`` under ``POSITION_X``, ``(sec)`` under
``POSITION_T``) is read as the tracks' calibration: ``Tracks.calibration`` holds
``pixel_size`` (micrometres per unit of the positions) and ``frame_interval`` (seconds
per frame: ``POSITION_T / FRAME`` of the first rows), which classify uses unless told
otherwise.

**Any size, any row order.**  CSV files are parsed by pandas' C parser,
:data:`CHUNK_ROWS` rows at a time and only the columns used; each detection becomes
one record (track number, frame, axes, labels).  :func:`scan_tracking_csv` keeps up to
``memory_rows`` records in memory; a larger table spills them to temporary files, one
per group of ``chunk_tracks`` tracks, so memory stays bounded whatever the file size and
whatever its row order (trackpy writes frame by frame, so a track's rows span the whole
file).  The groups come back in order, each exactly as one whole read would have it
(:func:`read_tracking_csv` is the one-group case).  A ``DataFrame`` of detections goes
through the same records (:func:`tracks_from_frame`).
"""

from __future__ import annotations

import csv
import math
import os
import re
import shutil
import tempfile

import numpy as np

from .text import check_line_end, check_text
from .tracks import Tracks

ID_NAMES = ("particle", "track_id", "track", "trajectory", "traj", "id")
FRAME_NAMES = ("frame", "t", "time", "position_t")
X_NAMES = ("x", "position_x")
Y_NAMES = ("y", "position_y")
Z_NAMES = ("z", "position_z")
TIME_NAMES = ("position_t",)  # TrackMate's time of a spot (frame x frame interval)
CHUNK_ROWS = 1 << 18  # rows parsed at once (a few MB)
MEMORY_ROWS = 1 << 22  # detections held in memory before spilling (about 4 M: ~130 MB)
# TrackMate's units, as its units row writes them: micrometres per unit, seconds per unit
LENGTH_UNITS = {"micron": 1.0, "microns": 1.0, "um": 1.0, "\u00b5m": 1.0, "\u03bcm": 1.0,
                "nm": 1e-3, "mm": 1e3}
TIME_UNITS = {"sec": 1.0, "s": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3,
              "min": 60.0, "h": 3600.0}


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


class _Table:
    """The columns of a table of detections and what reading it has found so far: the
    tracks (numbered in order of first appearance), the rows skipped, the checks that
    need the whole table.  :meth:`records` turns one chunk of rows into records
    ``[track, frame, axes..., labels..., truth]`` (float64)."""

    def __init__(self, header, truth_col=None, **columns):
        self.header = header = [str(h) for h in header]
        self.ci, self.cf, self.axes, self.unasked_z = _columns(header, **columns)
        self.labels = [(n, c) for n in LABEL_COLUMNS
                       if (c := _pick(header, None, (n,), n, required=False)) is not None]
        self.ct = None if truth_col is None else _pick(header, truth_col, (), "truth")
        self.code: dict = {}  # track id -> number, in order of first appearance
        self.truth_code: dict = {}  # truth text -> number
        self.skipped = {"header_rows": 0, "untracked_rows": 0}
        self.rows = 0  # data rows read (header rows included)
        self._z = [math.inf, -math.inf]
        self._numbers = [False] * len(self.axes)  # an axis with a number (not NaN) somewhere
        self._text = [None] * len(self.axes)  # an axis's first text, while it has no number

    @property
    def used(self) -> list[int]:
        cols = [self.ci, self.cf, *self.axes, *(c for _, c in self.labels), self.ct,
                self.unasked_z]
        return sorted({c for c in cols if c is not None})

    @property
    def width(self) -> int:
        return 2 + len(self.axes) + len(self.labels) + (self.ct is not None)

    def records(self, df, at) -> np.ndarray:
        """The records of the detections in ``df`` (``at``: the table's column index ->
        ``df``'s column position)."""
        import pandas as pd  # lazy: pandas (import anomgrad stays light)

        col = lambda c: df.iloc[:, at[c]]  # noqa: E731
        num = lambda c: pd.to_numeric(col(c), errors="coerce").to_numpy(np.float64)  # noqa: E731
        self.rows += len(df)
        frame = num(self.cf)
        # track ids as integer codes (no string per row): the distinct raw ids, stripped and
        # merged where equal after stripping; a missing id (code -1) reads as "nan"
        local, uniq = pd.factorize(col(self.ci))
        names = np.array([str(u).strip() for u in uniq] + ["nan"], dtype=object)
        tracked = ~np.isin(names, UNTRACKED)[local]
        header = np.isnan(frame)
        keep = ~header & tracked
        self.skipped["header_rows"] += int(header.sum())
        self.skipped["untracked_rows"] += int((~header & ~tracked).sum())
        local, frame = local[keep], frame[keep]
        number = np.full(len(names), -1, np.int64)
        for k in pd.unique(local):  # numbered in order of first appearance
            number[k] = self.code.setdefault(names[k], len(self.code))
        track = number[local]
        bad = frame != np.floor(frame)
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(f"track {list(self.code)[track[k]]}: frame {frame[k]} is not a "
                             f"whole number")
        out = np.empty((len(track), self.width))
        out[:, 0], out[:, 1] = track, frame
        for a, c in enumerate(self.axes):
            v = out[:, 2 + a] = num(c)[keep]
            if not self._numbers[a]:
                self._numbers[a] = bool(len(v)) and not np.isnan(v).all()
                if not self._numbers[a] and self._text[a] is None and len(v):
                    raw = col(c)[keep]
                    text = raw[raw.astype(str).str.strip() != ""]
                    if len(text):
                        self._text[a] = str(text.iloc[0])
        for j, (_, c) in enumerate(self.labels):
            out[:, 2 + len(self.axes) + j] = num(c)[keep]
        if self.ct is not None:  # each distinct text a number; the track's first one counts
            codes, texts = pd.factorize(col(self.ct).astype(str).to_numpy()[keep])
            glob = np.array([self.truth_code.setdefault(str(t).strip(), len(self.truth_code))
                             for t in texts] + [-1])
            out[:, -1] = glob[codes]
        if self.unasked_z is not None:
            z = num(self.unasked_z)[keep]
            z = z[np.isfinite(z)]
            if len(z):
                self._z = [min(self._z[0], z.min()), max(self._z[1], z.max())]
        return out

    def finish(self) -> None:
        """The checks that need the whole table (ValueError); then the tracks' ids and
        the truth texts by number (``names``, ``truth_names``)."""
        self.names, self.truth_names = list(self.code), list(self.truth_code)
        if self._z[0] < self._z[1]:  # a z column that varies: 3-D tracks, never dropped unasked
            raise ValueError(f"the table has a z column that varies "
                             f"({self.header[self.unasked_z]!r}: 3-D tracks); give --dim 3 "
                             f"(dim=3) to read x, y and z, or --dim 2 (dim=2) to use x and y "
                             f"only (ResAnDi classifies 2-D tracks: their x-y projection)")
        for a, c in enumerate(self.axes):  # a column of text, not numbers: say so, never NaN
            if not self._numbers[a] and self._text[a] is not None:
                raise ValueError(f"column {self.header[c]!r} holds no numbers (e.g. "
                                 f"{self._text[a]!r}); decimal commas need another field "
                                 f"separator (; or tab), or convert the column first")

    def tracks(self, rec, order, lo: int, hi: int, source: str, calibration=None) -> Tracks:
        """Tracks ``lo..hi-1`` from the records ``rec[order]`` (sorted by track, then
        frame: :func:`_order`)."""
        if hi <= lo:
            return Tracks([], [], [], source=source, calibration=calibration)
        d = len(self.axes)
        # gathered once, straight into the arrays the tracks are views of (fresh memory is
        # what reading a large table costs most)
        pos = np.take(rec[:, 2:2 + d], order, axis=0)
        frames = np.take(rec[:, 1], order).astype(np.int64)
        counts = np.bincount(rec[order, 0].astype(np.int64) - lo, minlength=hi - lo)
        cuts = np.cumsum(counts)[:-1]
        first = order[np.r_[0, cuts]]  # each track's first row (its earliest frame)
        lab = {n: rec[first, 2 + d + j] for j, (n, _) in enumerate(self.labels)}
        model = lab.get("andi_model")
        model = None if model is None else np.where(np.isfinite(model), model, -1).astype(np.int64)
        truth = None
        if self.ct is not None:  # each track's first value, as text (the caller maps it)
            truth = [self.truth_names[int(v)] for v in rec[first, -1]]
        return Tracks(self.names[lo:hi], np.split(pos, cuts), np.split(frames, cuts), model,
                      lab.get("alpha"), source=source, truth=truth, calibration=calibration)


def _order(rec) -> np.ndarray:
    """The rows of ``rec`` by track, then frame (stable: equal frames keep the file's
    order)."""
    return np.lexsort((rec[:, 1], rec[:, 0]))


class TrackChunks:
    """The tracks of a table, read: iterate for :class:`Tracks` of at most
    ``chunk_tracks`` tracks each, in order of first appearance.  ``n`` (tracks),
    ``skipped`` (rows left out), ``calibration`` (from TrackMate's units row, or {});
    ``close()`` (or a ``with`` block) removes the spilled records."""

    def __init__(self, table: _Table, groups: "_Groups", source: str, calibration: dict):
        self._table, self._groups = table, groups
        self.chunk_tracks, self.source, self.calibration = groups.C, source, calibration
        self.n, self.skipped = len(table.names), table.skipped

    def __len__(self) -> int:
        """Number of chunks."""
        return max(1, -(-self.n // self.chunk_tracks))

    def __iter__(self):
        t, C = self._table, self.chunk_tracks
        for k in range(len(self)):
            rec = self._groups.read(k)
            yield t.tracks(rec, _order(rec), k * C, min((k + 1) * C, self.n), self.source,
                           self.calibration)

    def close(self) -> None:
        self._groups.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class _Groups:
    """Records by group of ``C`` tracks (track number // C), each group's in the table's
    order: in memory while they are at most ``memory_rows``, then all in temporary files
    (one per group, in a folder made in ``dir``: default the system's)."""

    def __init__(self, width: int, C: int, memory_rows, dir=None):
        self.width, self.C, self.memory_rows, self._dir_in = width, C, memory_rows, dir
        self.parts: dict = {}
        self.rows = 0
        self.dir = None

    def _path(self, k: int) -> str:
        return os.path.join(self.dir, f"{k}.f8")

    def _append(self, k: int, part) -> None:
        with open(self._path(k), "ab") as f:
            part.tofile(f)

    def add(self, rec) -> None:
        group = rec[:, 0].astype(np.int64) // self.C
        order = np.argsort(group, kind="stable")
        ks, starts = np.unique(group[order], return_index=True)
        for k, part in zip(ks.tolist(), np.split(np.take(rec, order, axis=0), starts[1:])):
            if self.dir is None:
                self.parts.setdefault(k, []).append(part)
            else:
                self._append(k, part)
        self.rows += len(rec)
        if self.dir is None and self.rows > self.memory_rows:  # spill, from now on
            self.dir = tempfile.mkdtemp(prefix="anomgrad-tracks-", dir=self._dir_in)
            for k, parts in self.parts.items():
                for part in parts:
                    self._append(k, part)
            self.parts = {}

    def read(self, k: int) -> np.ndarray:
        """Group ``k``'s records (handed over: read once)."""
        if self.dir is not None:
            path = self._path(k)
            rec = np.fromfile(path, np.float64).reshape(-1, self.width)
            os.remove(path)
            return rec
        parts = self.parts.pop(k, None) or [np.empty((0, self.width))]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def close(self) -> None:
        self.parts = {}
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def _layout(path: str, columns: dict):
    """``(sep, decimal, header, lead, units)`` of a CSV file: its field separator and
    decimal mark, its header, the number of non-data rows right after the header
    (TrackMate's names, short names, units) and the units row (a field per column, or
    None)."""
    with open(path, newline="") as f:
        sample = f.read(65536)
    try:
        sep = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        sep = ","
    lines = list(csv.reader(sample.splitlines()[:8], delimiter=sep))
    header = lines[0] if lines else []
    if not any(h.strip() for h in header):
        raise ValueError(f"{path}: empty file, no header row")
    cf = _columns(header, **columns)[1]
    decimal = "," if sep != "," and _DECIMAL_COMMA.search(sample) else "."
    lead, units = 0, None
    for row in lines[1:5]:  # rows whose frame is not a number, before the first data row
        if cf < len(row) and row[cf].strip() and _is_number(row[cf], decimal):
            break
        lead += 1
        if any(re.fullmatch(r"\(.*\)", v.strip()) for v in row):
            units = row
    return sep, decimal, header, lead, units


def _is_number(text: str, decimal: str) -> bool:
    try:
        float(text.strip().replace(decimal, "."))
        return True
    except ValueError:
        return False


def _calibration(table: _Table, units, ct, first_rows) -> dict:
    """Micrometres per unit and seconds per frame from TrackMate's units row (None where
    it does not say them in units known here); ``ct``: the column of its spot times."""
    if units is None:
        return {}
    unit = lambda c: units[c].strip().strip("()").strip().lower() if c < len(units) else ""  # noqa: E731
    cal = {}
    um = LENGTH_UNITS.get(unit(table.axes[0]))
    if um is not None:
        cal["pixel_size"] = um
    if ct is not None and TIME_UNITS.get(unit(ct)) is not None and first_rows is not None:
        t, f = first_rows
        ok = np.isfinite(t) & np.isfinite(f) & (f > 0)
        if ok.any():
            dt = float(np.median(t[ok] / f[ok])) * TIME_UNITS[unit(ct)]
            if dt > 0:
                cal["frame_interval"] = dt
    return cal


def scan_tracking_csv(path, *, chunk_tracks: int | None = None,
                      memory_rows: int | float = MEMORY_ROWS, spill_dir=None,
                      truth_col=None, **columns) -> TrackChunks:
    """Read the tracking CSV at ``path`` (``,``, ``;`` or tab separated, a decimal comma
    with ``;`` or tab; trackpy's index column and every column not used are skipped) into
    :class:`TrackChunks`: groups of ``chunk_tracks`` tracks (default: all in one), with
    at most ``memory_rows`` detections held in memory (the rest spilled to ``spill_dir``,
    default the system's temporary folder).  ``columns``: ``id_col``, ``frame_col``,
    ``x_col``, ``y_col``, ``z_col``, ``dim`` as for :func:`tracks_from_frame`.  A row
    with fewer fields than the header reads as empty fields (NaN positions, which the
    classifier then reports)."""
    import pandas as pd  # lazy: pandas (import anomgrad stays light)

    path = check_text(path, "tracking CSV")
    groups = None
    try:
        sep, decimal, header, lead, units = _layout(path, columns)
        table = _Table(header, truth_col, **columns)
        used = table.used
        ct = _pick(table.header, None, TIME_NAMES, "time", required=False) if units else None
        if ct is not None and ct not in used:
            used = sorted(used + [ct])
        at = {c: k for k, c in enumerate(used)}
        table.skipped["header_rows"] += lead
        idn = header[table.ci]
        # the id column as text: "" "None" "nan" "NaN" mark untracked spots, nothing else
        reader = pd.read_csv(path, sep=sep, usecols=used, dtype={idn: str},
                             keep_default_na=False, na_values={idn: list(UNTRACKED)},
                             decimal=decimal, skiprows=range(1, 1 + lead),
                             chunksize=CHUNK_ROWS)
        first_rows = None
        groups = _Groups(table.width, chunk_tracks or 1 << 62, memory_rows, spill_dir)
        with reader:
            for df in reader:
                if first_rows is None and ct is not None:
                    first_rows = (pd.to_numeric(df.iloc[:, at[ct]], errors="coerce").to_numpy(float),
                                  pd.to_numeric(df.iloc[:, at[table.cf]], errors="coerce").to_numpy(float))
                groups.add(table.records(df, at))
        check_line_end(path)
        if table.rows == 0:
            raise ValueError("the table has a header and no data rows: no tracks to read")
        table.finish()
        return TrackChunks(table, groups, os.path.basename(path),
                           _calibration(table, units, ct, first_rows))
    except BaseException as e:
        if groups is not None:
            groups.close()
        if isinstance(e, UnicodeDecodeError):
            raise ValueError(f"{path}: not a text (CSV) file ({e})") from None
        if isinstance(e, (csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError)):
            raise ValueError(f"{path}: not a readable CSV table ({e})") from None
        if type(e) is ValueError:
            msg = str(e)
            raise ValueError(msg if msg.startswith(path) else f"{path}: {msg}") from None
        raise


def read_tracking_csv(path, **columns) -> tuple[Tracks, dict]:
    """The tracks of the tracking CSV at ``path``, all in memory: ``(tracks, skipped)``
    with ``skipped`` counting the header and untracked rows left out
    (:func:`scan_tracking_csv` says how the file is read)."""
    with scan_tracking_csv(path, memory_rows=math.inf, **columns) as chunks:
        (tracks,) = chunks
        return tracks, chunks.skipped


def skipped_notes(skipped: dict) -> list[str]:
    """The rows reading left out, as notes for the user ("3 header rows skipped")."""
    return [f"{v} {k.replace('_', ' ')} skipped" for k, v in skipped.items() if v]


def tracks_from_frame(df, *, source: str = "table", truth_col=None,
                      **columns) -> tuple[Tracks, dict]:
    """Tracks from a pandas ``DataFrame`` of detections (one row per detection).

    ``columns``: ``id_col``, ``frame_col``, ``x_col``, ``y_col``, ``z_col`` and ``dim``
    (1-3; default: 2, or 3 when a z column is given).  Returns ``(tracks, skipped)``
    with ``skipped`` counting the header and untracked rows left out.  Vectorized: a
    million detections take a fraction of a second."""
    table = _Table(list(df.columns), truth_col, **columns)
    rec = table.records(df, {c: c for c in range(len(df.columns))})
    table.finish()
    return table.tracks(rec, _order(rec), 0, len(table.names), source), table.skipped


__all__ = ["CHUNK_ROWS", "MEMORY_ROWS", "TrackChunks", "UNTRACKED", "read_tracking_csv",
           "scan_tracking_csv", "skipped_notes", "tracks_from_frame"]
