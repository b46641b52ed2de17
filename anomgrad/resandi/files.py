"""ResAnDi dataset files (``anomgrad dataset``) and the rows they hold.

Rows
----
A file (or :func:`resandi`, the same rows in memory) holds ``n_per_class`` trajectories
of each class, j = 0 .. n_per_class - 1 (:mod:`.task`).  Rows come in blocks of
:data:`BLOCK_PER_CLASS` values of j: block ``k`` holds j in ``[1024 k, 1024 (k + 1))`` of
every class, ordered by the shuffle key.  Every block is exactly class-balanced, the
order is reproducible and independent of how the file is written, and writing needs one
block of memory.  Each row holds the raw trajectory preprocessed (:mod:`.preprocess`):
``z`` (normalized, left-padded) and ``x`` (the network input).

HDF5 layout (``format = "anomgrad-resandi-dataset"``, ``format_version = 2``)
---------------------------------------------------------------------------
``x`` (N, 2, 1000) float32, ``z`` (N, 2, 1000) float32, ``label`` (N,) int64,
``alpha`` (N,) float64, ``T`` (N,) int64, ``index`` (N,) uint64, ``progress`` (1,)
int64 (rows written), all contiguous and allocated at creation; root attributes
``format``, ``format_version``, ``family``, ``split``, ``file``, ``seed``,
``n_per_class``, ``classes``, ``class_names``, ``n``, ``length``, ``T_min``,
``alpha_ranges``, ``streams``, ``index_scheme``, ``block_per_class``,
``preprocessing``, ``anomgrad_version``, ``created``, ``command`` and ``args`` (the
canonical JSON of the parameters that determine the contents).  Written as a resumable
table of :mod:`anomgrad.io.h5`: ``OUT.partial`` created atomically with all metadata,
rows written block by block (data flushed before ``progress``), renamed to ``OUT`` when
complete; an interrupted run resumes with the same arguments and gives the same bytes.
Version 1 files (before trajectories that never move were redrawn) are refused with a
message that says so.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time

import h5py
import numpy as np
from tqdm import tqdm

from .. import _validate as V
from .._version import __version__
from ..config import STREAM_ALPHA, STREAM_SHUFFLE
from ..io.h5 import (Writer, attr_str, attrs_meta, check_allocated, check_out, check_space,
                     create_table, exclusive, finish, open_h5)
from .preprocess import PREPROCESSING, minmax, normalize_padded
from .task import (CLASS_ALPHA, CLASS_NAMES, DIM, INDEX_SCHEME, LENGTH, MAX_FILE, MAX_PER_CLASS,
                   SPLITS, STREAM_LENGTH, T_MIN, check_classes, check_family, check_split,
                   generate_class)

FORMAT_NAME = "anomgrad-resandi-dataset"


FORMAT_VERSION = 2  # 2: rows that never move are redrawn (1 kept them)


BLOCK_PER_CLASS = 1024



class DatasetFormatError(ValueError):
    """A file that is not a usable ResAnDi dataset (the message names the path)."""



def _params(family, split, file, seed, n_per_class, classes) -> dict:
    return {"family": family, "split": split, "file": int(file), "seed": int(seed),
            "n_per_class": int(n_per_class), "classes": list(classes)}



def params_json(p: dict) -> str:
    keys = ("family", "split", "file", "seed", "n_per_class", "classes")
    return json.dumps({k: p[k] for k in keys}, sort_keys=True, separators=(",", ":"))



def check_params(family, split, n_per_class, seed, file, classes) -> dict:
    family = check_family(family)
    split = check_split(split)
    n_per_class = V.check_int("n_per_class", n_per_class, 1, MAX_PER_CLASS)
    seed = V.check_seed(seed)
    file = V.check_int("file", file, 0, MAX_FILE)
    classes = check_classes(classes)
    return _params(family, split, file, seed, n_per_class, classes)



def n_blocks(n_per_class: int) -> int:
    return -(-n_per_class // BLOCK_PER_CLASS)



def make_block(p: dict, k: int, want_z: bool = True) -> dict:
    """Rows of block ``k`` of the dataset with parameters ``p`` (see module docs)."""
    j0 = k * BLOCK_PER_CLASS
    m = min(BLOCK_PER_CLASS, p["n_per_class"] - j0)
    parts = [generate_class(p["family"], p["split"], p["file"], label, j0, m, p["seed"])
             for label in p["classes"]]
    order = np.argsort(np.concatenate([g["key"] for g in parts]), kind="stable")
    raw = np.concatenate([g["x"] for g in parts])[order]
    out = {name: np.concatenate([g[name] for g in parts])[order]
           for name in ("alpha", "T", "index", "label")}
    z = normalize_padded(raw, out["T"])
    del raw
    out["x"] = minmax(z)
    if want_z:
        out["z"] = z
    return out



def resandi(family: str = "varying", split: str = "test", n_per_class: int = 10000,
            seed: int = 0, *, file: int = 0, classes=None, z: bool = True,
            progress: bool = False) -> dict:
    """The dataset in memory: exactly the rows ``anomgrad dataset`` writes to a file.

    Returns a dict with ``x`` (N, 2, 1000) float32 (network input), ``z`` (N, 2, 1000)
    float32 (normalized, left-padded; omitted when ``z=False``), ``label`` (N,) int64,
    ``alpha`` (N,) float64, ``T`` (N,) int64, ``index`` (N,) uint64 and ``meta`` (the
    attributes a file would carry).  ``classes`` restricts to a subset of labels
    (labels keep their 0..7 values).
    """
    p = check_params(family, split, n_per_class, seed, file, classes)
    blocks = []
    it = range(n_blocks(p["n_per_class"]))
    if progress:
        it = tqdm(it, desc=f"{p['family']} {p['split']}", unit="block")
    for k in it:
        blocks.append(make_block(p, k, want_z=z))
    out = {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}
    out["meta"] = _attrs(p)
    return out



def _attrs(p: dict) -> dict:
    fam = p["family"]
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "family": fam,
        "split": p["split"],
        "file": p["file"],
        "seed": p["seed"],
        "n_per_class": p["n_per_class"],
        "classes": list(p["classes"]),
        "class_names": json.dumps(list(CLASS_NAMES)),
        "n": p["n_per_class"] * len(p["classes"]),
        "length": LENGTH,
        "T_min": T_MIN if fam == "varying" else LENGTH,
        "alpha_ranges": json.dumps({CLASS_NAMES[c]: list(CLASS_ALPHA[c]) for c in range(8)}),
        "streams": json.dumps({"alpha": STREAM_ALPHA, "length": STREAM_LENGTH,
                               "shuffle": STREAM_SHUFFLE}),
        "index_scheme": INDEX_SCHEME + "; split_id " + json.dumps(SPLITS),
        "block_per_class": BLOCK_PER_CLASS,
        "preprocessing": PREPROCESSING,
        "anomgrad_version": str(__version__),
        "args": params_json(p),
    }


_FIELDS = {  # name: (shape after N, h5 type)
    "x": ((DIM, LENGTH), h5py.h5t.IEEE_F32LE),
    "z": ((DIM, LENGTH), h5py.h5t.IEEE_F32LE),
    "label": ((), h5py.h5t.STD_I64LE),
    "alpha": ((), h5py.h5t.IEEE_F64LE),
    "T": ((), h5py.h5t.STD_I64LE),
    "index": ((), h5py.h5t.STD_U64LE),
}



def _row_bytes() -> int:
    return 2 * DIM * LENGTH * 4 + 4 * 8



def create(path, p: dict, command: str = "") -> None:
    """Create an empty (progress 0) dataset file at ``path``, atomically (a temporary
    file renamed), with every attribute and dataset allocated (:func:`anomgrad.io.create_table`)."""
    n = p["n_per_class"] * len(p["classes"])
    attrs = {}
    for k, v in _attrs(p).items():
        if k == "classes":
            v = np.asarray(v, np.int64)
        elif k == "seed":
            v = np.uint64(v)
        elif isinstance(v, int):
            v = np.int64(v)
        attrs[k] = v
    attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    attrs["command"] = command or ""
    desc = {"x": "network input: min-max scaled, (row, axis, time)",
            "z": "AnDi-normalized positions, left zero-padded to 1000"}
    create_table(path, {name: ((n,) + shape, h5type,
                               {"description": desc[name]} if name in desc else {})
                        for name, (shape, h5type) in _FIELDS.items()}, attrs)



def inspect(path, family: str | None = None, split: str | None = None,
            require_complete: bool = True) -> dict:
    """Metadata of a ResAnDi dataset file, checked.

    ``family`` / ``split``: raise unless the file is of that family / split.  Raises
    :class:`DatasetFormatError` naming the path for anything that is not a complete
    dataset file of this format version.
    """
    path = os.fspath(path)
    f, size = open_h5(path, DatasetFormatError)
    try:
        info = _inspect_open(path, f, size)
    except (OSError, KeyError, TypeError, ValueError) as e:
        if isinstance(e, DatasetFormatError):
            raise
        raise DatasetFormatError(f"{path}: unreadable or corrupt ResAnDi dataset: {e}") from e
    finally:
        f.close()
    if require_complete and not info["complete"]:
        raise DatasetFormatError(f"{path}: incomplete dataset ({info['rows_written']} of "
                                 f"{info['n']} rows written); run the same `anomgrad dataset` "
                                 f"command again to finish it")
    p = info["params"]
    if family is not None and p["family"] != check_family(family):
        raise DatasetFormatError(
            f"{path}: a dataset of family {p['family']!r} (T "
            f"{'~ U{10..1000}' if p['family'] == 'varying' else '= 1000'}), but family "
            f"{family!r} is expected here")
    if split is not None and p["split"] != split:
        raise DatasetFormatError(f"{path}: a {p['split']!r} split, but a {split!r} split is "
                                 f"expected here")
    return info



def _inspect_open(path, f, size) -> dict:
    fmt = attr_str(f.attrs["format"]) if "format" in f.attrs else None
    if fmt != FORMAT_NAME:
        if fmt == "anomgrad-trajectories":
            raise DatasetFormatError(f"{path}: an `anomgrad generate` trajectory file, not a "
                                     f"ResAnDi dataset; make one with `anomgrad dataset`")
        raise DatasetFormatError(f"{path}: an HDF5 file but not a ResAnDi dataset (format = "
                                 f"{fmt!r}, expected {FORMAT_NAME!r})")
    ver = int(f.attrs.get("format_version", -1))
    if ver == 1:
        raise DatasetFormatError(f"{path}: a ResAnDi dataset of format_version 1, made by the "
                                 f"earlier rule that kept trajectories that never move "
                                 f"(all-zero sub-CTRW rows, ~10 % of that class); version "
                                 f"{FORMAT_VERSION} redraws them (docs/resandi.md). "
                                 f"Regenerate it with this version's `anomgrad dataset`")
    if ver != FORMAT_VERSION:
        newer = "newer" if ver > FORMAT_VERSION else "older"
        raise DatasetFormatError(f"{path}: ResAnDi dataset format_version {ver} is {newer} than "
                                 f"the version this anomgrad reads ({FORMAT_VERSION}); "
                                 f"regenerate it with this version's `anomgrad dataset`")
    p = json.loads(attr_str(f.attrs["args"]))
    n = p["n_per_class"] * len(p["classes"])
    for name, (shape, _) in list(_FIELDS.items()) + [("progress", ((), None))]:
        if name not in f or not isinstance(f[name], h5py.Dataset):
            raise DatasetFormatError(f"{path}: corrupt dataset file (dataset {name!r} missing)")
        want = (1,) if name == "progress" else (n,) + shape
        d = f[name]
        if d.shape != want:
            raise DatasetFormatError(f"{path}: corrupt dataset file ({name} has shape "
                                     f"{d.shape}, expected {want})")
        check_allocated(path, d, size, DatasetFormatError)
    rows = int(f["progress"][0])
    if not 0 <= rows <= n:
        raise DatasetFormatError(f"{path}: corrupt dataset file (progress {rows}, n {n})")
    attrs = {k: f.attrs[k] for k in f.attrs}
    # a file derived from a dataset (anomgrad augment) is not the dataset its args name
    derived = attr_str(attrs["augmentation"]) if "augmentation" in attrs else None
    return {"path": path, "params": p, "args": params_json(p), "n": n, "derived": derived,
            "rows_written": rows, "complete": rows == n, "attrs": attrs}



def load(path, fields=("x", "z", "label", "alpha", "T", "index"), rows=None, *,
         family: str | None = None, split: str | None = None) -> dict:
    """Read a dataset file into memory: a dict of the requested ``fields`` (rows: None,
    a slice or sorted/unsorted integer indices) plus ``meta`` (its attributes)."""
    info = inspect(path, family, split)
    bad = [k for k in fields if k not in _FIELDS]
    if bad:
        raise ValueError(f"fields must be among {', '.join(_FIELDS)}, got {bad}")
    out = {}
    with h5py.File(path, "r") as f:
        for k in fields:
            if rows is None:
                out[k] = f[k][...]
            elif isinstance(rows, slice):
                out[k] = f[k][rows]
            else:
                out[k] = read_rows(f[k], np.asarray(rows))
    out["meta"] = attrs_meta(info["attrs"])
    return out



def read_rows(d, idx: np.ndarray) -> np.ndarray:
    """``d[idx]`` for any integer indices (h5py wants them increasing and unique)."""
    idx = idx.astype(np.int64).ravel()
    if idx.size == 0:
        return np.empty((0,) + d.shape[1:], d.dtype)
    if idx.min() < 0 or idx.max() >= d.shape[0]:
        raise IndexError(f"rows out of range for {d.shape[0]} rows")
    uniq, inv = np.unique(idx, return_inverse=True)
    out = np.empty((uniq.size,) + d.shape[1:], d.dtype)
    # runs of consecutive rows are one read each
    brk = np.flatnonzero(np.diff(uniq) != 1) + 1
    starts = np.concatenate([[0], brk])
    ends = np.concatenate([brk, [uniq.size]])
    for s, e in zip(starts, ends):
        d.read_direct(out, np.s_[int(uniq[s]):int(uniq[e - 1]) + 1], np.s_[s:e])
    return out[inv]



def write(path, family: str, split: str, n_per_class: int = 10000, seed: int = 0, *,
          file: int = 0, classes=None, overwrite: bool = False, progress: bool = True,
          command: str = "", fsync: bool = True) -> dict:
    """Write one dataset file (resumable, atomic; see the module docs).  Returns a dict
    with ``path``, ``n``, ``seconds`` and ``status`` ("written", "resumed" or
    "exists": a complete file with the same parameters was already there).  A second
    job writing the same ``path`` meanwhile is refused (``FileLockedError``)."""
    p = check_params(family, split, n_per_class, seed, file, classes)
    path = check_out(path)
    with exclusive(path):
        return _write(path, p, overwrite, progress, command, fsync)


def _write(path, p, overwrite, progress, command, fsync) -> dict:
    partial = path + ".partial"
    want = params_json(p)
    n = p["n_per_class"] * len(p["classes"])
    if os.path.lexists(path) and not overwrite:
        try:
            info = inspect(path, require_complete=False)
        except DatasetFormatError as e:
            raise DatasetFormatError(f"{e}; refusing to replace it (use overwrite / "
                                     f"--overwrite, or another output path)") from None
        if info["args"] != want or info["derived"]:
            what = f"an augmented dataset ({info['derived']})" if info["derived"] else \
                f"a different dataset ({info['args']}, requested {want})"
            raise DatasetFormatError(f"{path} exists and holds {what}; use --overwrite "
                                     f"to replace it")
        if info["complete"]:
            return {"path": path, "n": n, "seconds": 0.0, "status": "exists"}
        raise DatasetFormatError(f"{path} exists but is incomplete; use --overwrite")
    status = "written"
    if os.path.lexists(partial):
        info = None
        try:
            info = inspect(partial, require_complete=False)
        except DatasetFormatError:
            if not overwrite:
                raise
        if overwrite or info is None:
            os.remove(partial)
        elif info["args"] != want:
            raise DatasetFormatError(f"{partial} holds an interrupted run with different "
                                     f"parameters ({info['args']}); rerun with those to "
                                     f"finish it, or use --overwrite to start over")
    if not os.path.lexists(partial):
        create(partial, p, command)
    t0 = time.perf_counter()
    with Writer(partial, fsync=fsync) as w:
        done = w.rows_done
        if done:
            status = "resumed"
        check_space(partial, n * _row_bytes(), (n - done) * _row_bytes())
        nb = n_blocks(p["n_per_class"])
        per_block = BLOCK_PER_CLASS * len(p["classes"])
        if done % per_block and done != n:
            raise DatasetFormatError(f"{partial}: progress {done} is not at a block boundary")
        with tqdm(total=n, initial=done, unit="traj", unit_scale=True, disable=not progress,
                  desc=f"{p['family']} {p['split']} {p['file']}", mininterval=0.5) as bar:
            for k in range(done // per_block, nb):
                b = make_block(p, k)
                w.write_rows(**{name: b[name] for name in _FIELDS})
                bar.update(b["x"].shape[0])
    finish(partial, path)
    return {"path": path, "n": n, "seconds": time.perf_counter() - t0, "status": status}


__all__ = ["BLOCK_PER_CLASS", "DatasetFormatError", "FORMAT_NAME", "FORMAT_VERSION",
           "check_params", "create", "inspect", "load", "make_block", "n_blocks",
           "params_json", "resandi", "write"]
