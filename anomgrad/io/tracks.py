"""Tracks: trajectories of any length, as users bring them (tracking software,
andi-datasets files, arrays), and anomgrad's HDF5 file for them.

:class:`Tracks` holds ``n`` tracks: ``ids`` (strings), ``positions`` (a list of
``(T_i, dim)`` float64 arrays, in frame order), ``frames`` (a list of ``(T_i,)`` int64
frame numbers, or None when the positions are one frame apart), and, where the source
says them, andi-datasets model numbers (``model``, -1 when unknown) and anomalous
exponents (``alpha``, NaN when unknown); ``calibration``: what the file says of its
units (``pixel_size``: micrometres per unit of the positions, ``frame_interval``:
seconds per frame; empty when it says nothing).  Nothing is dropped or altered when reading:
checks of what a method needs (length, gaps, finiteness) belong to the method.

Tracks file (``format = "anomgrad-tracks"``, ``format_version = 1``): datasets
``positions`` (sum T_i, dim) float64, ``offsets`` (n + 1,) int64 (track i is rows
offsets[i]:offsets[i+1]), ``frames`` (sum T_i,) int64 (only when the source had frame
numbers), ``id`` (n,) UTF-8 strings, ``model`` (n,) int64, ``alpha`` (n,) float64; root
attributes ``format``, ``format_version``, ``dim``, ``n``, ``source``,
``anomgrad_version``, ``created``.  Written atomically (:func:`.atomic.replacing`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os

import h5py
import numpy as np

from .._version import __version__
from .atomic import replacing
from .h5 import FileFormatError, attr_str, open_h5

FORMAT_NAME = "anomgrad-tracks"
FORMAT_VERSION = 1


@dataclasses.dataclass
class Tracks:
    """``n`` tracks (see the module docstring); files hold tracks of one dimension."""

    ids: list
    positions: list
    frames: list | None = None
    model: np.ndarray | None = None
    alpha: np.ndarray | None = None
    source: str = ""
    truth: list | None = None  # per track, the text of a truth column of the input (or None)
    calibration: dict | None = None  # from the file: pixel_size (um per unit), frame_interval (s)

    def __post_init__(self):
        self.ids = [str(i) for i in self.ids]
        self.positions = [np.asarray(p, np.float64) for p in self.positions]
        n = len(self.positions)
        if len(self.ids) != n:
            raise ValueError(f"ids: {len(self.ids)} ids for {n} tracks")
        if any(p.ndim != 2 for p in self.positions):
            raise ValueError("positions: every track must be a (T, dim) array")
        if self.frames is not None:
            self.frames = [np.asarray(f, np.int64) for f in self.frames]
            if [f.shape for f in self.frames] != [(p.shape[0],) for p in self.positions]:
                raise ValueError("frames: one frame number per position is needed")
        self.model = (np.full(n, -1, np.int64) if self.model is None
                      else np.asarray(self.model, np.int64))
        self.alpha = (np.full(n, np.nan) if self.alpha is None
                      else np.asarray(self.alpha, np.float64))
        if self.model.shape != (n,) or self.alpha.shape != (n,):
            raise ValueError("model and alpha must have one value per track")
        if self.truth is not None and len(self.truth) != n:
            raise ValueError("truth: one value per track is needed")
        self.calibration = dict(self.calibration or {})

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def dim(self) -> int:
        """The tracks' spatial dimension (ValueError if they differ: files hold one)."""
        dims = {p.shape[1] for p in self.positions}
        if len(dims) > 1:
            raise ValueError(f"positions: tracks of {sorted(dims)} dimensions; a file holds "
                             f"tracks of one dimension")
        return dims.pop() if dims else 0

    @property
    def lengths(self) -> np.ndarray:
        return np.array([p.shape[0] for p in self.positions], np.int64)

    def take(self, idx) -> "Tracks":
        """Tracks ``idx`` (positions, or a range), their arrays shared, not copied."""
        idx = list(idx)
        pick = lambda a: None if a is None else [a[i] for i in idx]  # noqa: E731
        return Tracks(pick(self.ids), pick(self.positions), pick(self.frames),
                      self.model[idx], self.alpha[idx], source=self.source,
                      truth=pick(self.truth), calibration=self.calibration)

    @classmethod
    def concat(cls, parts) -> "Tracks":
        """The tracks of ``parts`` (of one source) one after the other."""
        parts = list(parts)
        join = lambda name: (None if any(getattr(p, name) is None for p in parts)  # noqa: E731
                             else [x for p in parts for x in getattr(p, name)])
        return cls(join("ids"), join("positions"), join("frames"),
                   np.concatenate([p.model for p in parts]),
                   np.concatenate([p.alpha for p in parts]), source=parts[0].source,
                   truth=join("truth"), calibration=parts[0].calibration)

    def frames_of(self, i: int) -> np.ndarray:
        """Frame numbers of track ``i`` (0..T-1 when the source had none)."""
        return self.frames[i] if self.frames is not None else np.arange(len(self.positions[i]))

    @classmethod
    def from_array(cls, x, ids=None, source: str = "array") -> "Tracks":
        """From an ``(n, dim, T)`` array (anomgrad's layout) or a list of ``(T_i, dim)``
        arrays."""
        if isinstance(x, np.ndarray) and x.ndim == 3:
            pos = [np.asarray(r, np.float64).T for r in x]
        elif isinstance(x, (list, tuple)):
            pos = [np.asarray(p, np.float64) for p in x]
            pos = [p[:, None] if p.ndim == 1 else p for p in pos]
        else:
            raise TypeError(f"tracks must be an (n, dim, T) array or a list of (T, dim) arrays, "
                            f"got {type(x).__name__} {getattr(x, 'shape', '')}")
        return cls(list(range(len(pos))) if ids is None else list(ids), pos, source=source)


def write_tracks(path, tracks: Tracks) -> None:
    """``tracks`` to an anomgrad tracks file at ``path`` (atomically)."""
    path = os.fspath(path)
    lengths = tracks.lengths
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    dim = tracks.dim
    with replacing(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"format": FORMAT_NAME, "format_version": np.int64(FORMAT_VERSION),
                        "dim": np.int64(dim), "n": np.int64(len(tracks)),
                        "source": tracks.source, "anomgrad_version": __version__,
                        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
        pos = np.concatenate(tracks.positions) if len(tracks) else np.empty((0, dim))
        f.create_dataset("positions", data=pos.astype(np.float64))
        f.create_dataset("offsets", data=offsets)
        if tracks.frames is not None:
            fr = np.concatenate(tracks.frames) if len(tracks) else np.empty(0, np.int64)
            f.create_dataset("frames", data=fr)
        f.create_dataset("id", data=np.array(tracks.ids, dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
        f.create_dataset("model", data=tracks.model)
        f.create_dataset("alpha", data=tracks.alpha)


def read_tracks(path) -> Tracks:
    """An anomgrad tracks file (``FileFormatError`` naming the path otherwise)."""
    path = os.fspath(path)
    f, size = open_h5(path)
    try:
        fmt = attr_str(f.attrs.get("format", ""))
        if fmt != FORMAT_NAME:
            raise FileFormatError(f"{path}: an HDF5 file but not an anomgrad tracks file "
                                  f"(format = {fmt!r}, expected {FORMAT_NAME!r})")
        ver = int(f.attrs.get("format_version", -1))
        if ver != FORMAT_VERSION:
            raise FileFormatError(f"{path}: tracks format_version {ver}; this anomgrad reads "
                                  f"version {FORMAT_VERSION}")
        pos, off = f["positions"][...], f["offsets"][...]
        n = len(off) - 1
        if n < 0 or off[0] != 0 or off[-1] != len(pos) or np.any(np.diff(off) < 0):
            raise FileFormatError(f"{path}: corrupt tracks file (offsets do not cover the "
                                  f"{len(pos)} positions)")
        frames = f["frames"][...] if "frames" in f else None
        ids = [attr_str(v) for v in f["id"][...]]
        model, alpha = f["model"][...], f["alpha"][...]
        source = attr_str(f.attrs.get("source", ""))
    except (KeyError, OSError, ValueError, TypeError) as e:
        if isinstance(e, FileFormatError):
            raise
        raise FileFormatError(f"{path}: unreadable or corrupt tracks file: {e}") from e
    finally:
        f.close()
    cut = lambda a: [a[off[i]:off[i + 1]] for i in range(n)]  # noqa: E731
    return Tracks(ids, cut(pos), None if frames is None else cut(frames), model, alpha,
                  source=source or os.path.basename(path))


def trim_end_padding(tracks: Tracks) -> tuple[Tracks, int]:
    """``tracks`` with NaN end padding removed (the way a ragged set of tracks is stored
    in one (n, dim, T) array: each track's positions, then NaN to the end), and how many
    tracks had some.  A NaN before a track's last finite position is left alone: that is
    missing data, which classify reports."""
    n = 0
    for k, p in enumerate(tracks.positions):
        ok = np.isfinite(p).any(axis=1)
        last = int(np.flatnonzero(ok)[-1]) + 1 if ok.any() else 0
        if last < len(p) and not ok[last:].any():
            tracks.positions[k] = p[:last]
            if tracks.frames is not None:
                tracks.frames[k] = tracks.frames[k][:last]
            n += 1
    return tracks, n


__all__ = ["trim_end_padding", "FORMAT_NAME", "FORMAT_VERSION", "Tracks", "read_tracks", "write_tracks"]
