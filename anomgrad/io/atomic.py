"""Atomic writes of whole files (JSON, CSV, text, PNG, npz, torch checkpoints, small
HDF5 files): a temporary file in the same folder (named per process, so two jobs never
share one), fsync'ed, renamed over the target, so a reader never sees half a file and a
killed job leaves either the old file or the new one.  A failed write (a full disk)
raises :class:`WriteError` naming the file and leaves no temporary file behind."""

from __future__ import annotations

import contextlib
import csv
import errno
import io as _io
import json
import os

import numpy as np


class WriteError(OSError):
    """Writing a file failed (no space left, a file-size limit, an I/O error); the
    message names the file (and, for row-by-row files, says the rows before are kept)."""

    def __str__(self) -> str:
        return str(self.strerror)


def write_errno(e: OSError) -> int:
    """The errno of a failed write (h5py often gives none: read it from the text)."""
    if e.errno:
        return e.errno
    msg = str(e)
    return errno.ENOSPC if "No space left" in msg else errno.EFBIG if "too large" in msg \
        else errno.EIO


def write_reason(e: OSError) -> str:
    code = write_errno(e)
    return {errno.ENOSPC: "no space left on the disk",
            errno.EFBIG: "the file grew past a file-size limit",
            errno.EDQUOT: "the disk quota is exhausted"}.get(code, str(e).splitlines()[0][:200])


def write_error(path, e: OSError) -> "WriteError":
    """``e`` (a failed write of ``path``) as a :class:`WriteError` naming the file."""
    return e if isinstance(e, WriteError) else WriteError(
        write_errno(e), f"{path}: cannot write it ({write_reason(e)})")


class Pending:
    """A file written in parts under a temporary name beside ``path``, unique to this
    process (``tmp``): :meth:`commit` fsyncs it and renames it over ``path`` (a failure
    raises :class:`WriteError` naming ``path``), :meth:`discard` removes it.  For files
    written as a job goes (streamed tables); :func:`replacing` is the one-block case."""

    def __init__(self, path, suffix: str = ""):
        self.path = os.fspath(path)
        self.tmp = f"{self.path}.tmp{os.getpid()}{suffix}"

    def commit(self) -> str:
        try:
            fd = os.open(self.tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.tmp, self.path)
        except OSError as e:
            self.discard()
            raise write_error(self.path, e) from e
        return self.path

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.remove(self.tmp)


@contextlib.contextmanager
def replacing(path, suffix: str = ""):
    """A temporary name beside ``path``, unique to this process, to write the new file to:
    fsync'ed and renamed over ``path`` when the block ends, removed when it fails (a full
    disk raises :class:`WriteError` naming ``path``)."""
    p = Pending(path, suffix)
    try:
        yield p.tmp
    except BaseException as e:
        p.discard()
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise write_error(p.path, e) from e
        raise
    p.commit()


def _atomic(path, write, mode: str = "wb", suffix: str = "") -> None:
    with replacing(path, suffix) as tmp, open(tmp, mode) as f:
        write(f)


def atomic_copy(src, path) -> None:
    """Copy the file ``src`` to ``path`` atomically."""
    with open(src, "rb") as f:
        blob = f.read()
    _atomic(path, lambda g: g.write(blob))


def atomic_write_text(path, text: str) -> None:
    _atomic(path, lambda f: f.write(text), "w")


def json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def atomic_write_json(path, obj, indent: int | None = 1) -> None:
    """``obj`` as JSON; ``indent=None`` writes it compact, through json's C encoder (about
    10x faster: for large tables)."""
    atomic_write_text(path, json.dumps(obj, indent=indent, default=json_default) + "\n")


def read_json(path):
    """The JSON in ``path``, or None when it is missing or unreadable (a result file a
    resumable job has not written yet)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def atomic_write_csv(path, rows: list, fields: list | None = None) -> None:
    buf = _io.StringIO()
    fields = fields or (list(rows[0]) if rows else [])
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    atomic_write_text(path, buf.getvalue())


def atomic_savefig(fig, path, dpi: int = 120) -> None:
    """A matplotlib figure to PNG (Agg canvas: no display or pyplot state needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy: matplotlib

    FigureCanvasAgg(fig)
    _atomic(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight"))


def atomic_torch_save(obj, path) -> None:
    import torch  # lazy: torch

    _atomic(path, lambda f: torch.save(obj, f))


def atomic_savez(path, **arrays) -> None:
    """numpy.savez to ``path`` atomically."""
    _atomic(path, lambda f: np.savez(f, **arrays))


__all__ = ["Pending", "WriteError", "atomic_copy", "atomic_savefig", "atomic_savez",
           "atomic_torch_save", "atomic_write_csv", "atomic_write_json", "atomic_write_text", "json_default",
           "read_json", "replacing", "write_errno", "write_error", "write_reason"]
