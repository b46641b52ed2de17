"""anomgrad HDF5 trajectory files (``anomgrad generate``): writing, resumable and
crash-safe (:func:`write`), and reading (:func:`read_trajectories`).

File layout (``format = "anomgrad-trajectories"``, ``format_version = 1``)
--------------------------------------------------------------------------
Datasets (all contiguous, allocated when the file is created, never filled)

* ``x``         (n, dim, T) float32 or float64, little endian: the trajectories;
  row ``i`` is trajectory ``start + i`` of ``generate(model, ..., seed=seed)``.
* ``alpha``     (n,) float64: the anomalous exponent of every row (for a state model,
  the alpha of its first frame).
* ``labels``    (state models only, docs/phenom.md) (n, 4, T), the dtype of ``x``:
  alpha, D, kind and state of every frame.
* ``progress``  (1,) int64: rows written so far (== n when the file is complete).

Root attributes: ``format``, ``format_version``, ``model``, ``n``, ``T``, ``dim``,
``seed``, ``start``, ``dtype``, ``alpha`` (only when one alpha was given for all
rows), ``alpha_range`` and ``alpha_stream`` (only for ``--alpha-range``),
``model_params`` (a state model's parameters as JSON, andi-datasets' names),
``anomgrad_version``, ``created`` (UTC, ISO 8601), ``command`` (the command line) and
``args``: a canonical JSON text of the generation parameters.  Two files hold the
same trajectories exactly when their ``args`` are equal; resuming requires it.

Crash safety: the file is a resumable table of :mod:`anomgrad.io.h5` (metadata written
once, rows overwritten in place, ``progress`` advanced after each flushed chunk).
Because trajectory ``i`` depends only on ``(seed, i)``, a resumed file's ``x`` is
byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
from tqdm import tqdm

from .._version import __version__
from ..config import PHENOM_LABELS, PHENOM_MODELS, STREAM_ALPHA
from ..generate import generate, range_alphas
from .h5 import (FileFormatError, FileLockedError, Writer, attr_str, attrs_meta,
                 check_allocated, check_out, check_space, create_table, exclusive, finish, fmt_bytes,
                 open_h5)

FORMAT_NAME = "anomgrad-trajectories"
FORMAT_VERSION = 1

_PARAM_KEYS = ("model", "n", "T", "dim", "seed", "start", "dtype", "alpha", "alpha_range",
               "model_params")


# ---------------------------------------------------------------------------------
# Parameters


def generation_params(model: str, n: int, T: int, dim: int, seed: int, start: int,
                      dtype, alpha=None, alpha_range=None, model_params=None) -> dict:
    """The canonical parameters that determine a file's contents.

    ``alpha``: one number for all rows (or None: bm's default 1); ``alpha_range``:
    ``(lo, hi)`` for one uniform draw per trajectory; ``model_params``: a state model's
    keyword parameters (a JSON-able dict).  Values are assumed validated.
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
        "model_params": None if model_params is None else json.loads(json.dumps(model_params)),
    }


def params_json(params: dict) -> str:
    """Canonical text of :func:`generation_params` (the ``args`` attribute);
    ``model_params`` appears only for the state models (older files lack it)."""
    return json.dumps({k: params.get(k) for k in _PARAM_KEYS
                       if k != "model_params" or params.get(k) is not None},
                      sort_keys=True, separators=(",", ":"))


def describe_params(params: dict) -> str:
    """``model=lw n=1000 ...`` for messages."""
    parts = []
    for k in _PARAM_KEYS:
        v = params.get(k)
        if v is None:
            continue
        if k == "alpha_range":
            v = f"{v[0]:g},{v[1]:g}"
        elif k == "model_params":
            v = json.dumps(v, sort_keys=True, separators=(",", ":"))
        elif isinstance(v, float):
            v = f"{v:g}"
        parts.append(f"{k}={v}")
    return " ".join(parts)


# ---------------------------------------------------------------------------------
# Creating and writing


_H5TYPES = {"float32": h5py.h5t.IEEE_F32LE, "float64": h5py.h5t.IEEE_F64LE}


def create(path, params: dict, command: str | None = None, version: str | None = None,
           extra_attrs: dict | None = None) -> None:
    """Create an empty (``progress`` = 0) trajectory file at ``path``, atomically.

    ``extra_attrs``: more root attributes (e.g. ``alpha_stream``).
    """
    if version is None:
        version = __version__
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
                              f"({params['model']!r}, ...)"}
    tables = {"x": ((n, dim, T), _H5TYPES[params["dtype"]], x_attrs),
              "alpha": ((n,), h5py.h5t.IEEE_F64LE,
                        {"description": "anomalous exponent of each row of x (state "
                                        "models: of its first frame)"})}
    if params["model"] in PHENOM_MODELS:
        a["model_params"] = json.dumps(params["model_params"] or {}, sort_keys=True)
        tables["labels"] = ((n, len(PHENOM_LABELS), T), _H5TYPES[params["dtype"]],
                            {"axes": "trajectory, label, time",
                             "channels": ", ".join(PHENOM_LABELS),
                             "description": "per frame: alpha, D, kind (0 immobile, 1 "
                                            "confined, 2 free, 3 directed), state number"})
    create_table(path, tables, a)


# ---------------------------------------------------------------------------------
# Inspecting and reading


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
    if attr_str(fmt) != FORMAT_NAME:
        raise FileFormatError(f"{path}: an HDF5 file but not an anomgrad trajectory file "
                              f"(format = {attr_str(fmt)!r}, expected {FORMAT_NAME!r})")
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
    args = attr_str(attrs["args"])
    p = json.loads(args)
    p.setdefault("model_params", None)  # files of the theory models do not name it
    missing = [k for k in _PARAM_KEYS if k not in p]
    if missing:
        raise FileFormatError(f"{path}: corrupt anomgrad file ('args' lacks {missing})")
    n, dim, T = p["n"], p["dim"], p["T"]
    x, al, pr = f["x"], f["alpha"], f["progress"]
    if x.shape != (n, dim, T) or x.dtype != np.dtype(p["dtype"]) or al.shape != (n,) \
            or pr.shape != (1,):
        raise FileFormatError(f"{path}: corrupt anomgrad file (x has shape {x.shape} "
                              f"{x.dtype}, expected {(n, dim, T)} {p['dtype']})")
    lab = None
    if p["model"] in PHENOM_MODELS:
        lab = f.get("labels")
        if not isinstance(lab, h5py.Dataset) or lab.shape != (n, len(PHENOM_LABELS), T):
            raise FileFormatError(f"{path}: corrupt anomgrad file (labels missing or not "
                                  f"{(n, len(PHENOM_LABELS), T)})")
    for d in (x, al, pr) + ((lab,) if lab is not None else ()):
        check_allocated(path, d, size)
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
    per-row ``alpha`` of the selected rows, for a state model their ``labels``
    ``(len(rows), 4, T)``, ``rows`` (the selected row indices),
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
        names = [k for k in ("x", "alpha", "labels") if k in f]
        if isinstance(sel, slice):
            got = {k: f[k][sel] for k in names}
        elif idx.size == 0:
            got = {k: np.empty((0,) + f[k].shape[1:], f[k].dtype) for k in names}
        else:
            order = np.argsort(idx, kind="stable")
            uniq, inv = np.unique(idx[order], return_inverse=True)
            back = np.empty_like(order)
            back[order] = np.arange(idx.size)
            got = {k: f[k][uniq][inv][back] for k in names}
    x, alpha = got["x"], got["alpha"]
    meta = attrs_meta(info["attrs"], lists=False)
    meta.update(alpha=alpha, rows=idx, rows_written=written, complete=info["complete"],
                params=info["params"])
    if "labels" in got:  # a state model's labels per frame (docs/phenom.md)
        meta["labels"] = got["labels"][0] if scalar else got["labels"]
    if "alpha" in info["attrs"]:
        meta["alpha_scalar"] = float(info["attrs"]["alpha"])
    if scalar:
        x = x[0]
        meta["alpha"] = alpha[0]
    return x, meta


# ---------------------------------------------------------------------------------
# Writing a whole file: anomgrad generate


def _diff(have: dict, want: dict) -> str:
    """``--alpha: file 1.5, requested 1.6; ...`` for the parameters that differ."""
    def show(v):
        if isinstance(v, list):
            return " ".join(f"{a:g}" for a in v)
        if v is None:
            return "(not given)"
        return f"{v:g}" if isinstance(v, float) else str(v)

    keys = [k for k in want if have.get(k) != want[k]]
    return "; ".join(f"{'--' + k.replace('_', '-')}: file {show(have.get(k))}, requested "
                     f"{show(want[k])}" for k in keys)


def _existing(out: str, params: dict) -> bool:
    """True when ``out`` is already the complete file of ``params``; raise when it holds
    anything else."""
    try:
        info = inspect(out)
    except FileFormatError as e:
        raise FileFormatError(f"{e}; refusing to replace it: delete it, choose another "
                              f"--out, or use --overwrite") from None
    if info["args"] != params_json(params):
        raise FileFormatError(f"{out} exists and was generated with different arguments "
                              f"({_diff(info['params'], params)}); use --overwrite to "
                              f"replace it or choose another --out")
    if not info["complete"]:
        raise FileFormatError(f"{out} exists but is incomplete ({info['rows_written']} of "
                              f"{params['n']} rows); use --overwrite to regenerate it")
    return True


def _check_partial(partial: str, params: dict, overwrite: bool) -> None:
    """Keep ``partial`` (an interrupted run of the same ``params``) to resume it, or
    remove it with ``overwrite``; never while it is locked (another run writes it)."""
    try:
        info = inspect(partial)
    except FileLockedError as e:
        raise FileLockedError(f"{e}; wait for that run to finish, or stop it first") from None
    except FileFormatError as e:
        if not overwrite:
            raise FileFormatError(f"{e}; {partial} is where an interrupted run's output is "
                                  f"kept: delete it or use --overwrite") from None
        info = None
    if overwrite:
        os.remove(partial)
    elif info["args"] != params_json(params):
        raise FileFormatError(
            f"{partial} holds an interrupted run with different arguments "
            f"({_diff(info['params'], params)}; that run: "
            f"{describe_params(info['params'])}); rerun with its arguments "
            f"to finish it, or delete it / use --overwrite to start over")


def write(out, params: dict, *, chunk: int, overwrite: bool = False, progress: bool = True,
          command: str = "", say=None) -> dict:
    """Generate the trajectories of ``params`` (:func:`generation_params`, validated)
    into ``out``, ``chunk`` rows at a time (bounded memory): to ``OUT.partial``, renamed
    to ``out`` when complete.  An interrupted run resumes from the rows recorded in
    ``OUT.partial`` and gives the same bytes (``chunk`` may differ); a complete ``out``
    of the same parameters is left alone.  ``say(msg)`` reports what happens.

    Returns ``{"path", "status": "exists" | "written" | "resumed", "seconds"}``; refuses
    (``FileFormatError``, ``OSError``) whatever would lose or mix data, and a second job
    writing the same ``out`` meanwhile (``FileLockedError``).
    """
    say = say or (lambda msg: None)
    out = check_out(out, "argument --out")
    with exclusive(out):
        return _write(out, params, chunk, overwrite, progress, command, say)


def row_bytes(params: dict) -> int:
    """Bytes of one row's positions (and, for a state model, labels) in the file's dtype."""
    channels = params["dim"] + (len(PHENOM_LABELS) if params["model"] in PHENOM_MODELS else 0)
    return channels * params["T"] * np.dtype(params["dtype"]).itemsize


def _store(w, rows: dict) -> int:
    w.write_rows(**rows)
    return len(rows["x"])


def _chunk(params, r0, m, buf) -> dict:
    """Rows ``r0 .. r0 + m - 1`` of the file: ``x``, ``alpha`` (and ``labels``)."""
    seed, start, lo_hi = params["seed"], params["start"], params["alpha_range"]
    if params["model"] in PHENOM_MODELS:
        x, lab = generate(params["model"], m, params["T"], None, params["dim"], seed,
                          start=start + r0, dtype=params["dtype"],
                          out=(buf[0][:m], buf[1][:m]), **(params["model_params"] or {}))
        return {"x": x, "alpha": lab[:, 0, 0].astype(np.float64), "labels": lab}
    if lo_hi is not None:
        alpha = range_alphas(seed, start + r0, m, lo_hi[0], lo_hi[1])
    else:
        alpha = np.full(m, 1.0 if params["alpha"] is None else params["alpha"])
    x = generate(params["model"], m, params["T"], alpha, params["dim"], seed,
                 start=start + r0, dtype=params["dtype"], out=buf[0][:m])
    return {"x": x, "alpha": alpha}


def _write(out, params, chunk, overwrite, progress, command, say) -> dict:
    partial = out + ".partial"
    n = params["n"]
    if os.path.lexists(out) and not overwrite and _existing(out, params):
        say(f"{out} is already complete ({describe_params(params)}); nothing to do")
        return {"path": out, "status": "exists", "seconds": 0.0}
    if os.path.lexists(partial):
        _check_partial(partial, params, overwrite)
    if not os.path.lexists(partial):
        extra = {"alpha_stream": np.int64(STREAM_ALPHA)} if params["alpha_range"] else {}
        create(partial, params, command=command, version=__version__, extra_attrs=extra)
    phenom = params["model"] in PHENOM_MODELS
    row = row_bytes(params) + 8  # and its alpha
    t0 = time.perf_counter()
    with Writer(partial) as w:
        done = w.rows_done
        check_space(partial, n * row, (n - done) * row)
        if done:
            say(f"resuming {partial}: {done} of {n} trajectories already written")
        with tqdm(total=n, initial=done, unit="traj", unit_scale=True, disable=not progress,
                  desc=params["model"], file=sys.stderr, mininterval=0.5) as bar:
            # double buffering: chunk k+1 is generated (the kernels release the GIL) while
            # a writer thread stores chunk k; writes stay in order, one at a time, so the
            # progress recorded after each is as without the thread (resume unchanged)
            rows = min(chunk, n - done)
            shapes = [(rows, params["dim"], params["T"])]
            if phenom:
                shapes.append((rows, len(PHENOM_LABELS), params["T"]))
            bufs = [[np.empty(s, params["dtype"]) for s in shapes]
                    for _ in range(2 if n - done > chunk else 1)]
            writing = None
            with ThreadPoolExecutor(1, thread_name_prefix="anomgrad-write") as pool:
                for k, r0 in enumerate(range(done, n, chunk)):
                    rows = _chunk(params, r0, min(chunk, n - r0), bufs[k % len(bufs)])
                    if writing is not None:
                        bar.update(writing.result())
                    writing = pool.submit(_store, w, rows)
                if writing is not None:
                    bar.update(writing.result())
    finish(partial, out)
    return {"path": out, "status": "resumed" if done else "written",
            "seconds": time.perf_counter() - t0}


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "create", "describe_params", "fmt_bytes",
           "generation_params", "inspect", "params_json", "read_trajectories", "row_bytes",
           "write"]
