"""Crash-safe, resumable HDF5 tables: the machinery under every file anomgrad writes
row by row (trajectory files, ResAnDi datasets, Grad-CAM files, augmented sets).

:func:`create_table` writes every piece of HDF5 metadata (datasets with early
allocation, fill time "never", no time stamps; all attributes) into a temporary file and
renames it to ``PATH`` once closed, so a file under ``PATH`` always has complete
metadata and its full size on disk.  :class:`Writer` then only overwrites raw data in
place: the next rows are written and flushed (and fsync'ed), and only then is the
``progress`` dataset advanced.  A process killed at any point leaves a valid file whose
first ``progress`` rows are final; the next run rewrites from there.  :func:`finish`
renames a complete ``.partial`` file to its final name.  :func:`exclusive` makes sure only
one job writes an output at a time; a write that fails (disk full, file-size limit)
stops the job with an error naming the file, its finished rows kept for the next run.

:func:`open_h5` opens a file for reading and turns every way that can fail (missing,
empty, not HDF5, locked by a writer, truncated) into one error naming the path.
"""

from __future__ import annotations

import contextlib
import os
import shutil

import h5py
import numpy as np

from .atomic import WriteError, replacing, write_errno, write_reason

try:
    import fcntl
except ImportError:  # Windows: HDF5's own file locking is the only guard there
    fcntl = None  # type: ignore[assignment]


class FileFormatError(ValueError):
    """A path that is not a usable anomgrad file (the message names the path)."""


class FileLockedError(FileFormatError):
    """The file is locked by another process (HDF5 file locking): it is being written."""


def check_out(out, arg: str = "out") -> str:
    """``out`` as ``str`` once it can be a file to write: ``ValueError`` naming ``arg``
    when its directory does not exist or it is itself a directory."""
    out = os.fspath(out)
    outdir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(outdir):
        raise ValueError(f"{arg}: directory {outdir} does not exist")
    if os.path.isdir(out):
        raise ValueError(f"{arg}: {out} is a directory")
    return out


@contextlib.contextmanager
def exclusive(out):
    """Hold ``OUT.lock`` while a job writes ``OUT`` (and ``OUT.partial``): a second job
    for the same output is refused with :class:`FileLockedError` instead of racing the
    first.  The lock (``flock``) dies with its process; the file is removed at the end."""
    out = os.fspath(out)
    lock = out + ".lock"
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:
            break
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise FileLockedError(f"{out}: another process is writing it ({lock} is held); "
                                  f"wait for that job to finish, or stop it first") from None
        try:  # the holder before us may have removed the file we locked: lock the new one
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _dcpl() -> h5py.h5p.PropDCID:
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.CONTIGUOUS)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    dcpl.set_obj_track_times(False)
    return dcpl


def _create_dataset(f: h5py.File, name: str, shape, h5type) -> h5py.Dataset:
    space = h5py.h5s.create_simple(tuple(int(s) for s in shape))
    dsid = h5py.h5d.create(f.id, name.encode(), h5type, space, dcpl=_dcpl())
    return h5py.Dataset(dsid)


def create_table(path, datasets: dict, attrs: dict) -> None:
    """Create an empty (``progress`` = 0) resumable HDF5 file at ``path``, atomically.

    ``datasets``: name -> (shape, h5 type[, attrs]) of row-indexed datasets (first axis =
    rows);
    ``attrs``: root attributes.  Every piece of metadata is written here, into a
    temporary file renamed to ``path`` once closed, so later writes only overwrite raw
    data in place (see the module docstring).
    """
    path = os.fspath(path)
    with replacing(path) as tmp:
        with h5py.File(tmp, "w", libver="earliest", track_order=False) as f:
            for k, v in attrs.items():
                f.attrs[k] = v
            for name, spec in datasets.items():
                d = _create_dataset(f, name, spec[0], spec[1])
                for k, v in (spec[2] if len(spec) > 2 else {}).items():
                    d.attrs[k] = v
            pr = _create_dataset(f, "progress", (1,), h5py.h5t.STD_I64LE)
            pr.attrs["description"] = "rows written so far (the row count: complete)"
            pr[0] = 0
    _fsync_dir(path)


def _fsync_dir(path) -> None:
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Writer:
    """Appends rows to a file made by :func:`create_table` (opened read-write in place).

    ``write_rows(name=array, ...)`` stores the next rows of the named datasets: data
    first (flushed, and fsync'ed when ``fsync``), then the new ``progress``.
    """

    def __init__(self, path, fsync: bool = True):
        self.path = os.fspath(path)
        self.fsync = fsync
        try:
            self.f = h5py.File(self.path, "r+")
        except OSError as e:
            cls = FileLockedError if _is_lock_error(e) else FileFormatError
            raise cls(f"{self.path}: cannot open for writing: {_h5_reason(e)}") from e
        self.progress = self.f["progress"]
        self.n = min(d.shape[0] for k, d in self.f.items() if k != "progress")
        self.rows_done = int(self.progress[0])

    def write_rows(self, **data) -> None:
        m = {len(v) for v in data.values()}
        if len(m) != 1:
            raise ValueError(f"{self.path}: datasets written with different row counts {m}")
        r0 = self.rows_done
        r1 = r0 + m.pop()
        if r1 > self.n:
            raise ValueError(f"{self.path}: writing rows {r0}..{r1 - 1} past n = {self.n}")
        try:
            for name, v in data.items():
                d = self.f[name]
                d.write_direct(np.ascontiguousarray(v, d.dtype), dest_sel=np.s_[r0:r1])
            self._sync()
            self.progress[0] = r1
            self.f.flush()
        except OSError as e:
            raise WriteError(write_errno(e), f"{self.path}: writing rows {r0}..{r1 - 1} "
                             f"failed ({write_reason(e)}); the {r0} rows before them are "
                             f"kept: free space and run the same command again to "
                             f"continue") from e
        self.rows_done = r1

    def write(self, x: np.ndarray, alpha: np.ndarray) -> None:
        """Trajectory files: the next rows of ``x`` and ``alpha``."""
        self.write_rows(x=x, alpha=alpha)

    def _sync(self) -> None:
        self.f.flush()
        if self.fsync:
            try:
                os.fsync(self.f.id.get_vfd_handle())
            except (OSError, ValueError, TypeError):
                pass

    def close(self) -> None:
        if self.f:
            try:
                self._sync()
            finally:
                self.f.close()
                self.f = None

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc):
        if kind is None:
            self.close()
        else:  # already failing (a full disk fails the last flush too): keep that error
            with contextlib.suppress(OSError):
                self.close()


def finish(partial, out) -> None:
    """Atomically rename a complete ``partial`` file to ``out``."""
    os.replace(partial, out)
    _fsync_dir(out)


def _is_lock_error(e: OSError) -> bool:
    return "unable to lock file" in str(e)


def _h5_reason(e: OSError) -> str:
    msg = str(e)
    if "truncated file" in msg:
        return f"the file is truncated ({msg})"
    if _is_lock_error(e):
        return f"the file is locked: another process is writing it ({msg})"
    return msg


def attr_str(v) -> str:
    """An HDF5 string attribute as str (h5py returns bytes or str)."""
    return v.decode() if isinstance(v, bytes) else str(v)


def no_such_file(path) -> str:
    """The message for a missing ``path``, pointing at its ``.partial`` when there is one."""
    partial = f"{path}.partial"
    if os.path.exists(partial):
        return (f"{path}: no such file; {partial} exists, so the job writing it is still "
                f"running or was stopped: run the same command again to finish it")
    return f"{path}: no such file"


def existing_file(path: str, what: str, err=None) -> int:
    """The size in bytes of ``path``; ``err`` (default :class:`FileFormatError`) naming it
    when it is missing, a directory or empty (``what``: what it should be, "a CSV file")."""
    err = err or FileFormatError
    if not os.path.exists(path):
        raise err(no_such_file(path))
    if os.path.isdir(path):
        raise err(f"{path}: is a directory, not {what}")
    size = os.path.getsize(path)
    if size == 0:
        raise err(f"{path}: empty file (0 bytes), not {what}")
    return size


def open_h5(path, err=None):
    """Open an existing HDF5 file read-only; ``(file, size in bytes)``.

    Every way it can fail becomes one ``err`` (default :class:`FileFormatError`) naming
    the path: missing, a directory, empty, not HDF5, unreadable; a file locked by a
    writer raises :class:`FileLockedError` (``err`` when another class is given).
    """
    err = err or FileFormatError
    path = os.fspath(path)
    size = existing_file(path, "an HDF5 file", err)
    try:
        is_h5 = h5py.is_hdf5(path)
    except OSError as e:
        raise err(f"{path}: cannot read: {e}") from e
    if not is_h5:
        raise err(f"{path}: not an HDF5 file (no HDF5 signature)")
    try:
        return h5py.File(path, "r"), size
    except OSError as e:
        if _is_lock_error(e):
            raise (FileLockedError if err is FileFormatError else err)(f"{path}: {_h5_reason(e)}") from e
        raise err(f"{path}: HDF5 cannot open it: {_h5_reason(e)}") from e


def check_allocated(path, d: h5py.Dataset, size: int, err=None) -> None:
    """Raise ``err`` (default :class:`FileFormatError`) unless dataset ``d`` has storage
    that ends inside the file's ``size`` bytes (a truncated copy fails here)."""
    err = err or FileFormatError
    off = d.id.get_offset()
    if off is None:
        raise err(f"{path}: corrupt file (dataset {d.name!r} has no storage allocated)")
    end = off + d.id.get_storage_size()
    if end > size:
        raise err(f"{path}: the file is truncated ({size} bytes on disk, dataset {d.name!r} "
                  f"ends at byte {end})")


def fmt_bytes(b: float) -> str:
    """``123 B``, ``1.23 kB`` ... ``1.23 TB`` (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if b < 1000 or unit == "TB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.2f} {unit}"
        b /= 1000.0
    return ""


def check_space(path, total: int, remaining: int) -> None:
    """Refuse (``OSError``) to start writing when the disk cannot hold the rest of
    ``path``: ``total`` bytes in all, ``remaining`` of them still to write.

    Files are sparse where the file system allows it (early allocation without fill),
    so what still needs space is the full size less the blocks already allocated.
    """
    st = os.stat(path)
    blocks = getattr(st, "st_blocks", None)
    need = remaining if blocks is None else min(remaining, max(0, total - 512 * blocks))
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
    if need > free:
        raise OSError(f"not enough disk space for {path}: {fmt_bytes(need)} more needed, "
                      f"{fmt_bytes(free)} free; free some space and run the same command "
                      f"again to continue")


def attrs_meta(attrs: dict, lists: bool = True) -> dict:
    """HDF5 attributes as plain Python values: str, int/float, and arrays as lists
    (``lists``) or left as numpy arrays."""
    out = {}
    for k, v in attrs.items():
        if isinstance(v, (bytes, str)):
            out[k] = attr_str(v)
        elif isinstance(v, np.generic):
            out[k] = v.item()
        elif isinstance(v, np.ndarray) and lists:
            out[k] = v.tolist()
        else:
            out[k] = v
    return out


__all__ = ["FileFormatError", "FileLockedError", "WriteError", "Writer", "attr_str",
           "attrs_meta", "check_allocated", "check_out", "check_space", "create_table", "exclusive", "finish",
           "existing_file", "fmt_bytes", "no_such_file", "open_h5", "write_errno", "write_reason"]
