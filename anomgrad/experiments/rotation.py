"""Rotated copies of 2-D trajectories (the augmentation of docs/method.md §5) and the
augmented dataset files that hold them."""

from __future__ import annotations

import hashlib
import json
import os
import sys

import h5py
import numpy as np
from tqdm import tqdm

from .. import _validate as V
from ..io.h5 import finish
from ..resandi import datasets as D
from .common import rng

ANGLE_TAG = 0xA6


def rotation_angles(n: int, seed: int, arm: int = 0) -> np.ndarray:
    """``n`` angles U(0, 2 pi) (float64) from the seeded generator of ``arm``."""
    n = V.check_int("n", n, 0)
    seed = V.check_seed(seed)
    return 2.0 * np.pi * rng(seed, ANGLE_TAG, arm).random(n)


def rotate(z, angles) -> np.ndarray:
    """Rotate every 2-D trajectory ``z[i]`` (n, 2, T) by ``angles[i]`` (counter-clockwise),
    in float64, returning float32.  Zero padding stays zero; increments keep their lengths
    (so the sum of the two axes' increment variances is unchanged)."""
    z = V.check_array("z", z, (3,))
    if z.shape[1] != 2:
        raise ValueError(f"z must be (n, 2, T) two-dimensional trajectories, got shape {z.shape}")
    a = np.asarray(angles, dtype=np.float64)
    if a.shape != (z.shape[0],):
        raise ValueError(f"angles must have shape ({z.shape[0]},), got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("angles must be finite")
    c, s = np.cos(a)[:, None], np.sin(a)[:, None]
    x, y = z[:, 0].astype(np.float64), z[:, 1].astype(np.float64)
    return np.stack([c * x - s * y, s * x + c * y], axis=1).astype(np.float32)


def write_set(source, rows, angles, path, *, arm: str, meta: dict | None = None,
              chunk: int = 8192, progress: bool = True) -> str:
    """Write the augmented training set: every row of the dataset file ``source``, then a
    copy of ``source[rows[i]]`` rotated by ``angles[i]`` (``z`` rotated, ``x`` =
    min-max of it).  The file is a ResAnDi dataset file (split "train", same family, seed
    and file number as the source, ``n_per_class`` = rows per class) with an
    ``augmentation`` attribute describing it.  Written to ``path.partial`` in chunks
    (resumed when interrupted) and renamed when complete; a complete file with the same
    description is left alone."""
    info = D.inspect(source, split="train")
    p = info["params"]
    rows = np.asarray(rows, np.int64)
    angles = np.asarray(angles, np.float64)
    if rows.shape != angles.shape or rows.ndim != 1:
        raise ValueError("rows and angles must be 1-D of equal length")
    n_src = info["n"]
    if rows.size and (rows.min() < 0 or rows.max() >= n_src):
        raise ValueError(f"rows must be in [0, {n_src - 1}]")
    labels = D.load(source, fields=("label",))["label"]
    per = np.bincount(np.concatenate([labels, labels[rows]]), minlength=D.NUM_CLASSES)
    per = per[list(p["classes"])]
    if per.min() != per.max():
        raise ValueError(f"the augmented set must have equally many rows per class, got "
                         f"{per.tolist()}")
    n_pc = int(per[0])
    desc = json.dumps({"arm": arm, "source": os.path.abspath(os.fspath(source)),
                       "source_args": info["args"], "extra_rows": int(rows.size),
                       "rows_sha": _digest(rows), "angles_sha": _digest(angles),
                       **(meta or {})}, sort_keys=True)
    path = os.fspath(path)
    partial = path + ".partial"
    if os.path.exists(path):
        with h5py.File(path, "r") as f:
            if f.attrs.get("augmentation") == desc:
                return path
        raise ValueError(f"{path} exists and holds another augmented set; delete it or use "
                         f"another output directory")
    if os.path.exists(partial):
        with h5py.File(partial, "r") as f:
            same = f.attrs.get("augmentation") == desc
        if not same:
            os.remove(partial)
    if not os.path.exists(partial):
        q = D.check_params(p["family"], "train", n_pc, p["seed"], p["file"], p["classes"])
        D.create(partial, q, command=f"anomgrad augment ({arm} arm)")
        with h5py.File(partial, "r+") as f:
            f.attrs["augmentation"] = desc
            f.attrs["preprocessing"] = (D.PREPROCESSING + f"; then rows {n_src}.. are copies of "
                                        f"source rows rotated in z before min-max ({arm} arm)")
    n_out = n_src + rows.size
    src_row = np.concatenate([np.arange(n_src), rows])
    ang = np.concatenate([np.full(n_src, np.nan), angles])
    with h5py.File(partial, "r+") as f:
        done = int(f["progress"][0])
        with tqdm(total=n_out, initial=done, unit="traj", unit_scale=True, disable=not progress,
                  desc=f"{arm} set", file=sys.stderr, mininterval=0.5) as bar:
            for lo in range(done, n_out, chunk):
                hi = min(n_out, lo + chunk)
                d = D.load(source, fields=("x", "z", "label", "alpha", "T", "index"),
                           rows=src_row[lo:hi])
                a = ang[lo:hi]
                rot = ~np.isnan(a)
                if rot.any():
                    d["z"][rot] = rotate(d["z"][rot], a[rot])
                    d["x"][rot] = D.minmax(d["z"][rot])
                for name in ("x", "z", "label", "alpha", "T", "index"):
                    f[name].write_direct(np.ascontiguousarray(d[name]), dest_sel=np.s_[lo:hi])
                f.flush()
                f["progress"][0] = hi
                f.flush()
                bar.update(hi - lo)
    finish(partial, path)
    return path


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


__all__ = ["ANGLE_TAG", "rotate", "rotation_angles", "write_set"]
