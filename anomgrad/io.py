"""anomgrad HDF5 trajectory files: writing (resumable, crash-safe) and reading.

File layout (``format = "anomgrad-trajectories"``, ``format_version = 1``)
--------------------------------------------------------------------------
Datasets (all contiguous, allocated when the file is created, never filled)

* ``x``         (n, dim, T) float32 or float64, little endian: the trajectories;
  row ``i`` is trajectory ``start + i`` of ``generate(model, ..., seed=seed)``.
* ``alpha``     (n,) float64: the anomalous exponent of every row.
* ``progress``  (1,) int64: rows of ``x`` and ``alpha`` written so far (== n when the
  file is complete).

Root attributes: ``format``, ``format_version``, ``model``, ``n``, ``T``, ``dim``,
``seed``, ``start``, ``dtype``, ``alpha`` (only when one alpha was given for all
rows), ``alpha_range`` and ``alpha_stream`` (only for ``--alpha-range``),
``anomgrad_version``, ``created`` (UTC, ISO 8601), ``command`` (the command line) and
``args``: a canonical JSON text of the generation parameters.  Two files hold the
same trajectories exactly when their ``args`` are equal; resuming requires it.

Crash safety
------------
:func:`create` writes every piece of HDF5 metadata (datasets with early allocation,
fill time "never", no time stamps; all attributes) into ``PATH.new`` and renames it to
``PATH`` once closed, so a file under ``PATH`` always has complete metadata and its
full size on disk.  :class:`Writer` then only overwrites raw data in place: a chunk of
``x`` and ``alpha`` is written and flushed (and fsync'ed), and only then is
``progress`` advanced.  A process killed at any point leaves a valid file whose first
``progress`` rows are final; the next run rewrites from there.  Because trajectory
``i`` depends only on ``(seed, i)``, the finished ``x`` is byte-identical to an
uninterrupted run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os

import h5py
import numpy as np

FORMAT_NAME = "anomgrad-trajectories"
FORMAT_VERSION = 1

_PARAM_KEYS = ("model", "n", "T", "dim", "seed", "start", "dtype", "alpha", "alpha_range")


class FileFormatError(ValueError):
    """A path that is not a usable anomgrad trajectory file (message names the path)."""


class FileLockedError(FileFormatError):
    """The file is locked by another process (HDF5 file locking): it is being written."""


# ---------------------------------------------------------------------------------
# Parameters


def generation_params(model: str, n: int, T: int, dim: int, seed: int, start: int,
                      dtype, alpha=None, alpha_range=None) -> dict:
    """The canonical parameters that determine a file's contents.

    ``alpha``: one number for all rows (or None: bm's default 1); ``alpha_range``:
    ``(lo, hi)`` for one uniform draw per trajectory.  Values are assumed validated.
    """
    return {
        "model": str(model),
        "n": int(n),
        "T": int(T),
        "dim": int(dim),
        "seed": int(seed),
        "start": int(start),
        "dtype": np.dtype(dtype).name,
        "alpha": None if alpha is None else float(alpha),
        "alpha_range": None if alpha_range is None else [float(alpha_range[0]),
                                                         float(alpha_range[1])],
    }


def params_json(params: dict) -> str:
    """Canonical text of :func:`generation_params` (the ``args`` attribute)."""
    return json.dumps({k: params[k] for k in _PARAM_KEYS}, sort_keys=True,
                      separators=(",", ":"))


def describe_params(params: dict) -> str:
    """``model=lw n=1000 ...`` for messages."""
    parts = []
    for k in _PARAM_KEYS:
        v = params.get(k)
        if v is None:
            continue
        if k == "alpha_range":
            v = f"{v[0]:g},{v[1]:g}"
        elif isinstance(v, float):
            v = f"{v:g}"
        parts.append(f"{k}={v}")
    return " ".join(parts)


# ---------------------------------------------------------------------------------
# Creating and writing


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


_H5TYPES = {"float32": h5py.h5t.IEEE_F32LE, "float64": h5py.h5t.IEEE_F64LE}


def create_table(path, datasets: dict, attrs: dict) -> None:
    """Create an empty (``progress`` = 0) resumable HDF5 file at ``path``, atomically.

    ``datasets``: name -> (shape, h5 type[, attrs]) of row-indexed datasets (first axis =
    rows);
    ``attrs``: root attributes.  Every piece of metadata is written here, into
    ``path + ".new"`` renamed to ``path`` once closed, so later writes only overwrite raw
    data in place (see the module docstring).
    """
    path = os.fspath(path)
    tmp = path + ".new"
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
    _fsync_path(tmp)
    os.replace(tmp, path)
    _fsync_dir(path)


def create(path, params: dict, command: str | None = None, version: str | None = None,
           extra_attrs: dict | None = None) -> None:
    """Create an empty (``progress`` = 0) trajectory file at ``path``, atomically.

    ``extra_attrs``: more root attributes (e.g. ``alpha_stream``).
    """
    if version is None:
        from . import __version__ as version
    n, dim, T = params["n"], params["dim"], params["T"]
    a = {"format": FORMAT_NAME, "format_version": np.int64(FORMAT_VERSION),
         "model": params["model"], "n": np.int64(n), "T": np.int64(T), "dim": np.int64(dim),
         "seed": np.uint64(params["seed"]), "start": np.uint64(params["start"]),
         "dtype": params["dtype"]}
    if params.get("alpha_range") is None:
        a["alpha"] = np.float64(1.0 if params.get("alpha") is None else params["alpha"])
    else:
        a["alpha_range"] = np.asarray(params["alpha_range"], np.float64)
    a.update(extra_attrs or {})
    a["anomgrad_version"] = str(version)
    a["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    a["command"] = command or ""
    a["args"] = params_json(params)
    x_attrs = {"axes": "trajectory, dimension, time",
               "description": f"row i = trajectory start + i of anomgrad.generate"
                              f"({params['model']!r}, ...), x[..., 0] = 0"}
    create_table(path, {"x": ((n, dim, T), _H5TYPES[params["dtype"]], x_attrs),
                        "alpha": ((n,), h5py.h5t.IEEE_F64LE,
                                  {"description": "anomalous exponent of each row of x"})}, a)


def _fsync_path(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        for name, v in data.items():
            d = self.f[name]
            d.write_direct(np.ascontiguousarray(v, d.dtype), dest_sel=np.s_[r0:r1])
        self._sync()
        self.progress[0] = r1
        self.f.flush()
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
            self._sync()
            self.f.close()
            self.f = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def finish(partial, out) -> None:
    """Atomically rename a complete ``partial`` file to ``out``."""
    os.replace(partial, out)
    _fsync_dir(out)


# ---------------------------------------------------------------------------------
# Inspecting and reading


def _is_lock_error(e: OSError) -> bool:
    return "unable to lock file" in str(e)


def _h5_reason(e: OSError) -> str:
    msg = str(e)
    if "truncated file" in msg:
        return f"the file is truncated ({msg})"
    if _is_lock_error(e):
        return f"the file is locked: another process is writing it ({msg})"
    return msg


def _attr_str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def open_h5(path, err=None):
    """Open an existing HDF5 file read-only; ``(file, size in bytes)``.

    Every way it can fail becomes one ``err`` (default :class:`FileFormatError`) naming
    the path: missing, a directory, empty, not HDF5, unreadable; a file locked by a
    writer raises :class:`FileLockedError` (``err`` when another class is given).
    """
    err = err or FileFormatError
    path = os.fspath(path)
    if not os.path.exists(path):
        raise err(f"{path}: no such file")
    if os.path.isdir(path):
        raise err(f"{path}: is a directory, not an HDF5 file")
    size = os.path.getsize(path)
    if size == 0:
        raise err(f"{path}: empty file (0 bytes), not an HDF5 file")
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


def inspect(path) -> dict:
    """Metadata of an anomgrad trajectory file, checked for consistency.

    Returns a dict with the generation ``params`` (see :func:`generation_params`),
    ``args`` (their canonical text), ``rows_written``, ``complete``, and every root
    attribute under ``attrs``.  Raises :class:`FileFormatError` naming the path and
    the problem if it is not an HDF5 file, not an anomgrad trajectory file, written by
    a newer format, inconsistent, or truncated.
    """
    path = os.fspath(path)
    f, size = open_h5(path)
    try:
        return _inspect_open(path, f, size)
    except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
        if isinstance(e, FileFormatError):
            raise
        raise FileFormatError(f"{path}: unreadable or corrupt anomgrad file: {e}") from e
    finally:
        f.close()


def _inspect_open(path: str, f: h5py.File, size: int) -> dict:
    if "format" not in f.attrs:
        raise FileFormatError(f"{path}: an HDF5 file but not an anomgrad trajectory file "
                              f"(no 'format' attribute)")
    try:
        fmt = f.attrs["format"]
    except (OSError, TypeError, ValueError) as e:
        raise FileFormatError(f"{path}: an HDF5 file but not an anomgrad trajectory file "
                              f"(unreadable 'format' attribute: {e})") from e
    if _attr_str(fmt) != FORMAT_NAME:
        raise FileFormatError(f"{path}: an HDF5 file but not an anomgrad trajectory file "
                              f"(format = {_attr_str(fmt)!r}, expected {FORMAT_NAME!r})")
    attrs = {k: f.attrs[k] for k in f.attrs}
    ver = int(attrs.get("format_version", -1))
    if ver > FORMAT_VERSION:
        raise FileFormatError(f"{path}: format_version {ver} is newer than this anomgrad "
                              f"supports ({FORMAT_VERSION}); upgrade anomgrad")
    if ver < 1:
        raise FileFormatError(f"{path}: invalid format_version {ver}")
    for name in ("x", "alpha", "progress"):
        if name not in f or not isinstance(f[name], h5py.Dataset):
            raise FileFormatError(f"{path}: corrupt anomgrad file (dataset {name!r} missing)")
    args = _attr_str(attrs["args"])
    p = json.loads(args)
    missing = [k for k in _PARAM_KEYS if k not in p]
    if missing:
        raise FileFormatError(f"{path}: corrupt anomgrad file ('args' lacks {missing})")
    n, dim, T = p["n"], p["dim"], p["T"]
    x, al, pr = f["x"], f["alpha"], f["progress"]
    if x.shape != (n, dim, T) or x.dtype != np.dtype(p["dtype"]) or al.shape != (n,) \
            or pr.shape != (1,):
        raise FileFormatError(f"{path}: corrupt anomgrad file (x has shape {x.shape} "
                              f"{x.dtype}, expected {(n, dim, T)} {p['dtype']})")
    for d in (x, al, pr):
        off = d.id.get_offset()
        if off is None:
            raise FileFormatError(f"{path}: corrupt anomgrad file (dataset {d.name!r} has "
                                  f"no storage allocated)")
        end = off + d.id.get_storage_size()
        if end > size:
            raise FileFormatError(f"{path}: the file is truncated ({size} bytes on disk, "
                                  f"dataset {d.name!r} ends at byte {end})")
    rows = int(pr[0])
    if not 0 <= rows <= n:
        raise FileFormatError(f"{path}: corrupt anomgrad file (progress = {rows}, n = {n})")
    return {"path": path, "params": p, "args": params_json(p), "rows_written": rows,
            "complete": rows == n, "attrs": attrs}


def read_trajectories(path, rows=None):
    """Read an anomgrad trajectory file: ``(x, meta)``.

    ``rows``: None (all), an int, a slice, or a 1-D array of row indices.  ``x`` has
    shape ``(len(rows), dim, T)`` (``(dim, T)`` for an int).  ``meta`` is a dict with
    the file's attributes (``model``, ``T``, ``dim``, ``seed``, ``start``, ...), the
    per-row ``alpha`` of the selected rows, ``rows`` (the selected row indices),
    ``rows_written`` and ``complete``.  Rows not yet written in an incomplete
    (``.partial``) file cannot be read.
    """
    info = inspect(path)
    n = info["params"]["n"]
    written = info["rows_written"]
    if rows is None:
        rows = slice(0, n)
    scalar = False
    if isinstance(rows, slice):
        idx = np.arange(n)[rows]
        if idx.size and rows.step in (None, 1):
            sel = slice(int(idx[0]), int(idx[-1]) + 1)
        else:
            sel = idx
    else:
        arr = np.asarray(rows)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer) or arr.ndim > 1:
            raise TypeError(f"rows must be None, an int, a slice or a 1-D integer array, "
                            f"got {rows!r}")
        scalar = arr.ndim == 0
        idx = np.atleast_1d(arr).astype(np.int64)
        idx = np.where(idx < 0, idx + n, idx)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"rows out of range for n = {n}")
        sel = idx
    if idx.size and idx.max() >= written:
        raise ValueError(f"{path}: only {written} of {n} rows are written (incomplete file); "
                         f"cannot read row {int(idx.max())}")
    with h5py.File(path, "r") as f:
        if isinstance(sel, slice):
            x = f["x"][sel]
            alpha = f["alpha"][sel]
        elif idx.size == 0:
            x = np.empty((0,) + f["x"].shape[1:], f["x"].dtype)
            alpha = np.empty(0, np.float64)
        else:
            order = np.argsort(idx, kind="stable")
            uniq, inv = np.unique(idx[order], return_inverse=True)
            xs = f["x"][uniq]
            als = f["alpha"][uniq]
            back = np.empty_like(order)
            back[order] = np.arange(idx.size)
            x = xs[inv][back]
            alpha = als[inv][back]
    meta = {k: (_attr_str(v) if isinstance(v, (bytes, str)) else
                (v.item() if isinstance(v, np.generic) else v))
            for k, v in info["attrs"].items()}
    meta.update(alpha=alpha, rows=idx, rows_written=written, complete=info["complete"],
                params=info["params"])
    if "alpha" in info["attrs"]:
        meta["alpha_scalar"] = float(info["attrs"]["alpha"])
    if scalar:
        x = x[0]
        meta["alpha"] = alpha[0]
    return x, meta


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "FileFormatError", "FileLockedError", "Writer",
           "create", "describe_params", "finish", "generation_params", "inspect", "params_json",
           "read_trajectories"]


# ---------------------------------------------------------------------------------
# Atomic writes of small result files: a temporary file in the same folder, fsync'ed,
# renamed over the target, so a reader never sees half a file.


def _atomic(path, write, mode: str = "wb", suffix: str = "") -> None:
    tmp = f"{path}.tmp{os.getpid()}{suffix}"
    with open(tmp, mode) as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(path, text: str) -> None:
    _atomic(path, lambda f: f.write(text), "w")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, default=_json_default) + "\n")


def atomic_write_csv(path, rows: list, fields: list | None = None) -> None:
    import csv
    import io as _io

    buf = _io.StringIO()
    fields = fields or (list(rows[0]) if rows else [])
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    atomic_write_text(path, buf.getvalue())


def atomic_savefig(fig, path, dpi: int = 120) -> None:
    """A matplotlib figure to PNG (Agg canvas: no display or pyplot state needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    _atomic(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight"))


def atomic_torch_save(obj, path) -> None:
    import torch

    _atomic(path, lambda f: torch.save(obj, f))


def atomic_savez(path, **arrays) -> None:
    """numpy.savez to ``path`` atomically."""
    _atomic(path, lambda f: np.savez(f, **arrays))
