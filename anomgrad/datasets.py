"""The ResAnDi 8-class task (method.md §3): generation, preprocessing, HDF5 files.

Classes (label: name, model, alpha)::

    0 sub-ATTM   attm  U(0.1, 0.9)        4 super-FBM  fbm  U(1.1, 1.9)
    1 sub-CTRW   ctrw  U(0.1, 0.9)        5 super-LW   lw   U(1.1, 1.9)
    2 sub-FBM    fbm   U(0.1, 0.9)        6 super-SBM  sbm  U(1.1, 1.9)
    3 sub-SBM    sbm   U(0.1, 0.9)        7 BM         bm   1

Families: ``"varying"`` (length T ~ U{10..1000} per trajectory) and ``"fixed"``
(T = 1000).  Every trajectory is generated with 1000 positions, 2-D; a varying-T
trajectory keeps its first T positions (a prefix of an exact sample is an exact sample
of the shorter length for every model, FBM included).

Seed scheme
-----------
One ``seed`` and a 64-bit trajectory index per trajectory::

    index = split_id << 56  |  file << 32  |  label << 28  |  j

with ``split_id`` 1 train, 2 val, 3 test, 4 fresh (on-the-fly training batches,
``file`` = epoch), ``file`` < 2**24, ``label`` < 8 and ``j`` < 2**28 the trajectory's
number inside its (split, file, class).  Splits, files and classes therefore never
share an index, and with the counter-based generator of docs/rng.md they never share
a random number.  Per trajectory, from ``(seed, index)`` only:

* the trajectory itself: ``ag.generate(model, ..., seed, start=index)``;
* alpha: ``lo + (hi - lo) U`` with ``U`` word 0 of Philox stream 64
  (``anomgrad.rng.uniforms(seed, index, 64, 1)``; the same draw as
  ``anomgrad generate --alpha-range``); BM has alpha = 1 and draws nothing;
* the length (family "varying"): ``ag.random_lengths(1, 10, 1000, seed, start=index)``
  (word 0 of stream 49, inclusive bounds);
* the row order: the 64-bit key ``w0 << 32 | w1`` of words 0-1 of stream 65
  (all three: :func:`class_draws`).

Rows
----
A file (or :func:`resandi`) holds ``n_per_class`` trajectories of each class, j = 0 ..
n_per_class - 1.  Rows come in blocks of :data:`BLOCK_PER_CLASS` values of j: block
``k`` holds j in ``[1024 k, 1024 (k + 1))`` of every class, ordered by the shuffle key.
Every block is exactly class-balanced, the order is reproducible and independent of
how the file is written, and writing needs one block of memory.

Preprocessing (the network input ``x``)
---------------------------------------
1. keep the first T positions and AnDi-normalize each axis over them
   (``ag.normalize``: increments / their population std, cumulative sum from 0);
2. left-pad with zeros to 1000 steps: this is ``z``, stored in files too (noise for
   robustness tests is added to ``z``, after normalization and before min-max);
3. min-max scale each trajectory and axis to [0, 1] over all 1000 padded steps,
   in float64 from the float32 ``z``, rounded once to float32.  A row whose 1000 values
   are all equal (e.g. a CTRW that never jumped) has no range and is set to 0.

Because ``z`` starts at 0 and the padding is 0, the padded steps of ``x`` equal the
scaled first position ``x[..., 1000 - T]`` (they are 0 only when the start is the
minimum).  :func:`preprocess` (Numba) and :func:`preprocess_torch` (any torch device)
compute the same thing; min-max alone is bit-identical between the two, the
normalization agrees to float32 rounding (summation order).

HDF5 layout (``format = "anomgrad-resandi-dataset"``, ``format_version = 1``)
---------------------------------------------------------------------------
``x`` (N, 2, 1000) float32, ``z`` (N, 2, 1000) float32, ``label`` (N,) int64,
``alpha`` (N,) float64, ``T`` (N,) int64, ``index`` (N,) uint64, ``progress`` (1,)
int64 (rows written), all contiguous and allocated at creation; root attributes
``format``, ``format_version``, ``family``, ``split``, ``file``, ``seed``,
``n_per_class``, ``classes``, ``class_names``, ``n``, ``length``, ``T_min``,
``alpha_ranges``, ``streams``, ``index_scheme``, ``block_per_class``,
``preprocessing``, ``anomgrad_version``, ``created``, ``command`` and ``args`` (the
canonical JSON of the parameters that determine the contents).  Written like
:mod:`anomgrad.io`: ``OUT.partial`` created atomically with all metadata, rows written
block by block (data flushed before ``progress``), renamed to ``OUT`` when complete;
an interrupted run resumes with the same arguments and gives the same bytes.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil

import h5py
import numpy as np
from numba import njit, prange
from torch.utils.data import Dataset as _TorchDataset

from . import _validate as V
from .config import STREAM_ALPHA, STREAM_CUT, STREAM_SHUFFLE
from .rng import block, uniform_of

FORMAT_NAME = "anomgrad-resandi-dataset"
FORMAT_VERSION = 2  # 2: rows that never move are redrawn (1 kept them)

CLASS_NAMES = ("sub-ATTM", "sub-CTRW", "sub-FBM", "sub-SBM", "super-FBM", "super-LW",
               "super-SBM", "BM")
CLASS_MODELS = ("attm", "ctrw", "fbm", "sbm", "fbm", "lw", "sbm", "bm")
SUB_ALPHA = (0.1, 0.9)
SUPER_ALPHA = (1.1, 1.9)
CLASS_ALPHA = (SUB_ALPHA,) * 4 + (SUPER_ALPHA,) * 3 + ((1.0, 1.0),)
NUM_CLASSES = 8
DIM = 2
LENGTH = 1000  # padded length, and positions generated per trajectory
T_MIN = 10  # shortest trajectory of the "varying" family
FAMILIES = ("varying", "fixed")
SPLITS = {"train": 1, "val": 2, "test": 3, "fresh": 4}
FILE_SPLITS = ("train", "val", "test")

STREAM_LENGTH = STREAM_CUT  # 49: random length (ag.random_lengths)
BLOCK_PER_CLASS = 1024
MAX_FILE = 2**24 - 1
MAX_PER_CLASS = 2**28
REDRAW_TAG = 0x57177  # seeds of redrawn still rows: SeedSequence([seed, REDRAW_TAG, attempt])
MAX_REDRAWS = 100_000  # P(a sub-CTRW row is still after k redraws) <= 0.8**k at T >= 10

INDEX_SCHEME = "index = split_id << 56 | file << 32 | label << 28 | j"
PREPROCESSING = ("AnDi normalize each axis over the first T positions; left-pad with zeros to "
                 "1000 (= z); min-max scale each row and axis over the 1000 steps "
                 "(float64, rounded to float32; zero range -> 0)")


class DatasetFormatError(ValueError):
    """A file that is not a usable ResAnDi dataset (the message names the path)."""


# ---------------------------------------------------------------------------------
# Argument checks


def check_family(family) -> str:
    if not isinstance(family, str) or family.strip().lower() not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    return family.strip().lower()


def check_split(split, allowed=FILE_SPLITS) -> str:
    if not isinstance(split, str) or split.strip().lower() not in allowed:
        raise ValueError(f"split must be one of {', '.join(allowed)}, got {split!r}")
    return split.strip().lower()


def check_classes(classes) -> tuple[int, ...]:
    """A sorted tuple of distinct labels in 0..7 (None: all eight)."""
    if classes is None:
        return tuple(range(NUM_CLASSES))
    if isinstance(classes, (int, np.integer)):
        classes = [classes]
    out = []
    for c in classes:
        if not V._is_int(c) or not 0 <= int(c) < NUM_CLASSES:
            raise ValueError(f"classes must be labels in 0..{NUM_CLASSES - 1} "
                             f"({', '.join(f'{i} {n}' for i, n in enumerate(CLASS_NAMES))}), "
                             f"got {c!r}")
        out.append(int(c))
    if not out:
        raise ValueError("classes must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(f"classes must be distinct, got {list(classes)}")
    return tuple(sorted(out))


# ---------------------------------------------------------------------------------
# Draws


def trajectory_index(split: str, file: int, label: int, j) -> np.ndarray:
    """The 64-bit trajectory index(es) of the seed scheme (uint64)."""
    split = check_split(split, tuple(SPLITS))
    file = V.check_int("file", file, 0, MAX_FILE)
    label = V.check_int("label", label, 0, NUM_CLASSES - 1)
    j = np.asarray(j, dtype=np.uint64)
    base = (SPLITS[split] << 56) | (file << 32) | (label << 28)
    if j.size and int(j.max()) >= MAX_PER_CLASS:
        raise ValueError(f"j must be < 2**28, got {int(j.max())}")
    return np.uint64(base) + j


@njit(cache=True)
def _draws(k0, k1, first, n, a_lo, a_span, l_low, l_span, alpha, length, key):
    """Per trajectory first + i: alpha (word 0 of stream 64), length (word 0 of stream
    49, as ag.random_lengths) and the row-order key (words 0, 1 of stream 65).
    Single-threaded: these are a few nanoseconds per trajectory."""
    for i in range(n):
        traj = first + np.uint64(i)
        if a_span > 0.0:
            w0, _, _, _ = block(k0, k1, traj, STREAM_ALPHA, 0)
            alpha[i] = a_lo + a_span * uniform_of(w0)
        else:
            alpha[i] = a_lo
        if l_span > 0.0:
            w0, _, _, _ = block(k0, k1, traj, STREAM_LENGTH, 0)
            length[i] = l_low + np.int64(math.floor(uniform_of(w0) * l_span))
        else:
            length[i] = l_low
        w0, w1, _, _ = block(k0, k1, traj, STREAM_SHUFFLE, 0)
        key[i] = (np.uint64(w0) << np.uint64(32)) | np.uint64(w1)


def class_draws(family: str, label: int, seed: int, first_index: int, n: int):
    """``(alpha, T, key)`` of trajectories ``first_index .. first_index + n - 1`` of class
    ``label``: alpha ~ U(lo, hi) from stream 64 (1 for BM), T from stream 49 (U{10..1000}
    for "varying", 1000 for "fixed"), the 64-bit row-order key from stream 65."""
    seed = V.check_seed(seed)
    lo, hi = CLASS_ALPHA[label]
    alpha = np.empty(n, np.float64)
    T = np.empty(n, np.int64)
    key = np.empty(n, np.uint64)
    if family == "fixed":
        l_low, l_span = LENGTH, 0.0
    else:
        l_low, l_span = T_MIN, float(LENGTH - T_MIN + 1)
    _draws(np.uint32(seed & 0xFFFFFFFF), np.uint32(seed >> 32), np.uint64(first_index), n,
           np.float64(lo), np.float64(hi) - np.float64(lo), l_low, l_span, alpha, T, key)
    return alpha, T, key


def generate_class(family: str, split: str, file: int, label: int, j0: int, n: int,
                   seed: int, device: str = "cpu") -> dict:
    """Raw trajectories j0 .. j0 + n - 1 of one class: ``x`` (n, 2, 1000) float32
    (positions 0..999, of which the first ``T`` are the trajectory; a numpy array, or a
    torch tensor on ``device`` when it is not "cpu"), ``alpha``, ``T``, ``index``,
    ``label`` and ``key``.  Rows that would never move are redrawn (:func:`moving`)."""
    first = int(trajectory_index(split, file, label, j0))
    if j0 + n > MAX_PER_CLASS:
        raise ValueError(f"j0 + n must be <= 2**28, got {j0 + n}")
    alpha, T, key = class_draws(family, label, seed, first, n)
    x = moving(CLASS_MODELS[label], alpha, T, seed, first, device)
    index = np.uint64(first) + np.arange(n, dtype=np.uint64)
    return {"x": x, "alpha": alpha, "T": T, "index": index, "key": key,
            "label": np.full(n, label, np.int64)}


def redraw_seed(seed: int, attempt: int) -> int:
    """The generator seed of redraw ``attempt`` (1, 2, ...) of a row under ``seed``:
    ``SeedSequence([seed, REDRAW_TAG, attempt])``, one 64-bit word."""
    return int(np.random.SeedSequence([int(seed), REDRAW_TAG, int(attempt)])
               .generate_state(1, np.uint64)[0])


def still_rows(x, T) -> np.ndarray:
    """Indices of the rows of ``x`` (n, dim, length; numpy or torch) whose first ``T[i]``
    positions are all 0: trajectories that never move (x[..., 0] = 0)."""
    if isinstance(x, np.ndarray):
        moved = (x != 0).any(axis=1)  # (n, length)
        first = np.where(moved.any(1), moved.argmax(1), x.shape[-1])
        return np.flatnonzero(first >= np.asarray(T))
    import torch

    moved = (x != 0).any(dim=1)
    first = torch.where(moved.any(1), moved.to(torch.int8).argmax(1),
                        torch.full_like(moved[:, 0], x.shape[-1], dtype=torch.int64))
    return np.flatnonzero(first.cpu().numpy() >= np.asarray(T))


def moving(model: str, alpha, T, seed: int, first: int, device: str = "cpu"):
    """``generate(model, n, 1000, alpha, 2, seed, start=first)`` in which every row whose
    first ``T[i]`` positions never move is redrawn with the same alpha and T: attempt
    ``k`` = 1, 2, ... regenerates row ``i`` as trajectory ``first + i`` under
    :func:`redraw_seed` ``(seed, k)``, until it moves.  Only sub-CTRW rows can be still
    (no jump before T, probability T**-alpha); the published generator rejects them too.
    Other rows are exactly what ``generate`` gives.  float32 numpy (device "cpu") or a
    torch tensor on ``device``; rows depend only on (seed, first + i), so CPU and GPU
    batches stay equal."""
    from .generate import generate

    alpha = np.asarray(alpha, np.float64)
    T = np.asarray(T, np.int64)
    n = alpha.size
    x = generate(model, n, LENGTH, alpha, DIM, seed, start=first, device=device)
    rows = still_rows(x, T)
    attempt = 0
    while rows.size:
        attempt += 1
        if attempt > MAX_REDRAWS:
            raise RuntimeError(f"{model}: rows {rows[:5].tolist()} did not move in "
                               f"{MAX_REDRAWS} redraws (alpha {alpha[rows[0]]}, T {T[rows[0]]})")
        s = redraw_seed(seed, attempt)
        for i in rows:
            x[i] = generate(model, 1, LENGTH, alpha[i:i + 1], DIM, s, start=first + int(i),
                            device=device)[0]
        rows = rows[still_rows(x[rows], T[rows])]
    return x


# ---------------------------------------------------------------------------------
# Preprocessing: numpy (Numba)


def _check_lengths(lengths, n: int, high: int) -> np.ndarray:
    return np.full(n, high, np.int64) if lengths is None else V.check_lengths(lengths, n, high)


def normalize_padded(x: np.ndarray, lengths=None, length: int = LENGTH) -> np.ndarray:
    """Steps 1-2: ``z`` (n, dim, length) float32, the first ``lengths[i]`` positions of
    ``x[i]`` AnDi-normalized and left-padded with zeros.

    ``x`` is (n, dim, T_in) float32/float64 with the trajectory in its first positions
    (T_in may be shorter or longer than ``length``); ``lengths`` defaults to
    ``min(T_in, length)``.
    """
    from .processing import cut, normalize

    x = V.check_array("x", x, (3,))
    n, dim, T_in = x.shape
    L = _check_lengths(lengths, n, min(T_in, length))
    src = np.zeros((n, dim, length), np.float32)
    k = min(T_in, length)
    src[..., :k] = x[..., :k]
    _, c = cut(src, L)
    return normalize(c, lengths=L)


@njit(parallel=True, cache=True)
def _minmax(z, out):
    n, dim, T = z.shape
    for i in prange(n):
        for a in range(dim):
            mn = np.inf
            mx = -np.inf
            for t in range(T):
                v = np.float64(z[i, a, t])
                if v < mn:
                    mn = v
                if v > mx:
                    mx = v
            r = mx - mn
            if r > 0.0:
                for t in range(T):
                    out[i, a, t] = (np.float64(z[i, a, t]) - mn) / r
            else:
                for t in range(T):
                    out[i, a, t] = 0.0


def minmax(z: np.ndarray) -> np.ndarray:
    """Step 3: min-max scale every row and axis of ``z`` (n, dim, T) to [0, 1] over all T
    steps (float64 arithmetic, float32 result; a row with zero range becomes 0)."""
    z = V.check_array("z", z, (3,))
    if not np.isfinite(z).all():
        raise ValueError("z must be finite (NaN or inf found)")
    out = np.empty(z.shape, np.float32)
    _minmax(z, out)
    return out


def preprocess(x: np.ndarray, lengths=None, length: int = LENGTH) -> np.ndarray:
    """The network input of method.md §3 from raw trajectories: ``minmax(normalize_padded(x,
    lengths))``, (n, dim, 1000) float32."""
    return minmax(normalize_padded(x, lengths, length))


# ---------------------------------------------------------------------------------
# Preprocessing: torch (CPU or GPU batches)


def _torch_lengths(lengths, x):
    import torch

    n, T_in = x.shape[0], x.shape[-1]
    if lengths is None:
        return torch.full((n,), T_in, dtype=torch.int64, device=x.device)
    L = torch.as_tensor(lengths, device=x.device)
    if L.dim() != 1 or L.shape[0] != n:
        raise ValueError(f"lengths must be a 1-D tensor of length n={n}, got shape "
                         f"{tuple(L.shape)}")
    if L.is_floating_point() or L.dtype == torch.bool:
        raise TypeError(f"lengths must be integers, got {L.dtype}")
    return L.to(torch.int64)


def normalize_torch(x, lengths=None, length: int = LENGTH, check: bool = True):
    """Torch twin of :func:`normalize_padded`: (n, dim, T_in) -> (n, dim, length) float32
    on ``x``'s device, arithmetic in float64.  ``check`` validates ``lengths`` (one
    device-to-host sync)."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch tensor, got {type(x).__name__}")
    if x.dim() != 3 or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor (n, dim, T), got "
                         f"{tuple(x.shape)} {x.dtype}")
    n, dim, T_in = x.shape
    k = min(T_in, length)
    L = _torch_lengths(lengths, x)
    if lengths is None:
        L = L.clamp(max=k)
    if check and n and (int(L.min()) < 1 or int(L.max()) > k):
        raise ValueError(f"lengths must be in [1, {k}], got values in "
                         f"[{int(L.min())}, {int(L.max())}]")
    x64 = x[..., :k].to(torch.float64)
    d = x64[..., 1:] - x64[..., :-1]  # (n, dim, k-1)
    t = torch.arange(k - 1, device=x.device)
    valid = (t[None, :] < (L - 1)[:, None])[:, None, :]  # (n, 1, k-1)
    m = (L - 1).clamp(min=1).to(torch.float64)[:, None, None]
    dv = torch.where(valid, d, torch.zeros((), dtype=d.dtype, device=d.device))
    mean = dv.sum(-1, keepdim=True) / m
    dev = torch.where(valid, d - mean, torch.zeros((), dtype=d.dtype, device=d.device))
    sd = torch.sqrt((dev * dev).sum(-1, keepdim=True) / m)
    sd = torch.where(sd == 0, torch.ones_like(sd), sd)
    c = torch.cumsum(dv / sd, dim=-1)
    zo = torch.cat([torch.zeros_like(c[..., :1]), c], dim=-1).to(torch.float32)  # (n, dim, k)
    # left-pad: out[t] = zo[t - (length - L)] where that index is >= 0
    src = torch.arange(length, device=x.device)[None, :] - (length - L)[:, None]  # (n, length)
    keep = (src >= 0)[:, None, :]
    idx = src.clamp(min=0, max=k - 1)[:, None, :].expand(n, dim, length)
    out = torch.gather(zo, -1, idx)
    return torch.where(keep, out, torch.zeros((), dtype=out.dtype, device=out.device))


def minmax_torch(z):
    """Torch twin of :func:`minmax` (bit-identical on CPU): float32 result on ``z``'s
    device."""
    import torch

    if not isinstance(z, torch.Tensor) or z.dim() != 3:
        raise ValueError("z must be a 3-D torch tensor (n, dim, T)")
    z64 = z.to(torch.float64)
    mn = z64.amin(-1, keepdim=True)
    mx = z64.amax(-1, keepdim=True)
    r = mx - mn
    pos = r > 0
    out = (z64 - mn) / torch.where(pos, r, torch.ones_like(r))
    out = torch.where(pos, out, torch.zeros_like(out))
    return out.to(torch.float32)


def preprocess_torch(x, lengths=None, length: int = LENGTH, check: bool = True):
    """Torch twin of :func:`preprocess` for on-the-fly batches on the GPU (or CPU)."""
    return minmax_torch(normalize_torch(x, lengths, length, check))


# ---------------------------------------------------------------------------------
# Building blocks of rows


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
        from tqdm import tqdm

        it = tqdm(it, desc=f"{p['family']} {p['split']}", unit="block")
    for k in it:
        blocks.append(make_block(p, k, want_z=z))
    out = {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}
    out["meta"] = _attrs(p)
    return out


# ---------------------------------------------------------------------------------
# Files


def _attrs(p: dict) -> dict:
    from . import __version__

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
    """Create an empty (progress 0) dataset file at ``path``, atomically (``.new`` then
    rename), with every attribute and dataset allocated (:func:`anomgrad.io.create_table`)."""
    from .io import create_table

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


def _attr_str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def inspect(path, family: str | None = None, split: str | None = None,
            require_complete: bool = True) -> dict:
    """Metadata of a ResAnDi dataset file, checked.

    ``family`` / ``split``: raise unless the file is of that family / split.  Raises
    :class:`DatasetFormatError` naming the path for anything that is not a complete
    dataset file of this format version.
    """
    from .io import open_h5

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
    fmt = _attr_str(f.attrs["format"]) if "format" in f.attrs else None
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
    p = json.loads(_attr_str(f.attrs["args"]))
    n = p["n_per_class"] * len(p["classes"])
    for name, (shape, _) in list(_FIELDS.items()) + [("progress", ((), None))]:
        if name not in f or not isinstance(f[name], h5py.Dataset):
            raise DatasetFormatError(f"{path}: corrupt dataset file (dataset {name!r} missing)")
        want = (1,) if name == "progress" else (n,) + shape
        d = f[name]
        if d.shape != want:
            raise DatasetFormatError(f"{path}: corrupt dataset file ({name} has shape "
                                     f"{d.shape}, expected {want})")
        off = d.id.get_offset()
        if off is None or off + d.id.get_storage_size() > size:
            raise DatasetFormatError(f"{path}: the file is truncated (dataset {name!r})")
    rows = int(f["progress"][0])
    if not 0 <= rows <= n:
        raise DatasetFormatError(f"{path}: corrupt dataset file (progress {rows}, n {n})")
    attrs = {k: f.attrs[k] for k in f.attrs}
    # a file derived from a dataset (anomgrad augment) is not the dataset its args name
    derived = _attr_str(attrs["augmentation"]) if "augmentation" in attrs else None
    return {"path": path, "params": p, "args": params_json(p), "n": n, "derived": derived,
            "rows_written": rows, "complete": rows == n, "attrs": attrs}


def _meta(info: dict) -> dict:
    out = {}
    for k, v in info["attrs"].items():
        if isinstance(v, (bytes, str)):
            out[k] = _attr_str(v)
        elif isinstance(v, np.generic):
            out[k] = v.item()
        elif isinstance(v, np.ndarray):
            out[k] = v.tolist()
        else:
            out[k] = v
    return out


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
                out[k] = _read_rows(f[k], np.asarray(rows))
    out["meta"] = _meta(info)
    return out


def _read_rows(d, idx: np.ndarray) -> np.ndarray:
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
    "exists": a complete file with the same parameters was already there)."""
    import time

    p = check_params(family, split, n_per_class, seed, file, classes)
    path = os.fspath(path)
    partial = path + ".partial"
    want = params_json(p)
    n = p["n_per_class"] * len(p["classes"])
    outdir = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(outdir):
        raise ValueError(f"out: directory {outdir} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"out: {path} is a directory")
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
    f = h5py.File(partial, "r+")
    try:
        done = int(f["progress"][0])
        if done:
            status = "resumed"
        st = os.stat(partial)
        need = max(0, n * _row_bytes() - 512 * getattr(st, "st_blocks", 0))
        free = shutil.disk_usage(outdir).free
        if need > free:
            raise OSError(f"not enough disk space for {path}: {need / 1e9:.2f} GB more needed, "
                          f"{free / 1e9:.2f} GB free")
        nb = n_blocks(p["n_per_class"])
        per_block = BLOCK_PER_CLASS * len(p["classes"])
        if done % per_block and done != n:
            raise DatasetFormatError(f"{partial}: progress {done} is not at a block boundary")
        from tqdm import tqdm

        with tqdm(total=n, initial=done, unit="traj", unit_scale=True, disable=not progress,
                  desc=f"{p['family']} {p['split']} {p['file']}", mininterval=0.5) as bar:
            for k in range(done // per_block, nb):
                b = make_block(p, k)
                r0 = k * per_block
                r1 = r0 + b["x"].shape[0]
                for name in _FIELDS:
                    f[name].write_direct(np.ascontiguousarray(b[name]), dest_sel=np.s_[r0:r1])
                f.flush()
                if fsync:
                    try:
                        os.fsync(f.id.get_vfd_handle())
                    except (OSError, ValueError, TypeError):
                        pass
                f["progress"][0] = r1
                f.flush()
                bar.update(r1 - r0)
    finally:
        f.close()
    from .io import finish

    finish(partial, path)
    return {"path": path, "n": n, "seconds": time.perf_counter() - t0, "status": status}


# ---------------------------------------------------------------------------------
# torch Dataset


class H5Dataset(_TorchDataset):
    """A ``torch.utils.data.Dataset`` over a dataset file, read lazily.

    ``ds[i]`` gives ``(x, label)`` (tensors (2, 1000) float32 and int64 scalar);
    ``ds[[i, j, ...]]`` (a list, array or tensor of indices) gives a batch ``(x (B, 2,
    1000), label (B,))`` read in one pass, for ``DataLoader(ds, sampler=<batches of
    indices>, batch_size=None)``.  ``field="z"`` reads the normalized positions instead.
    The HDF5 file is opened on first access in each process (DataLoader workers each
    open their own); nothing is loaded up front.
    """

    def __init__(self, path, family: str | None = None, split: str | None = None,
                 field: str = "x"):
        if field not in ("x", "z"):
            raise ValueError(f"field must be 'x' or 'z', got {field!r}")
        self.path = os.fspath(path)
        self.info = inspect(self.path, family, split)
        self.meta = _meta(self.info)
        self.family = self.info["params"]["family"]
        self.field = field
        self.n = self.info["n"]
        self._f = None
        self._pid = None

    def __len__(self) -> int:
        return self.n

    def _file(self):
        if self._f is None or self._pid != os.getpid():
            self._f = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._f

    def labels(self) -> np.ndarray:
        return self._file()["label"][...]

    def __getitem__(self, i):
        import torch

        f = self._file()
        if isinstance(i, (int, np.integer)):
            i = int(i)
            if i < 0:
                i += self.n
            if not 0 <= i < self.n:
                raise IndexError(f"index {i} out of range for {self.n} rows")
            return (torch.from_numpy(f[self.field][i]), torch.tensor(int(f["label"][i])))
        if isinstance(i, torch.Tensor):
            i = i.cpu().numpy()
        idx = np.asarray(i)
        return (torch.from_numpy(_read_rows(f[self.field], idx)),
                torch.from_numpy(_read_rows(f["label"], idx)))

    def __getstate__(self):
        s = dict(self.__dict__)
        s["_f"] = None
        s["_pid"] = None
        return s

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


__all__ = ["BLOCK_PER_CLASS", "CLASS_ALPHA", "CLASS_MODELS", "CLASS_NAMES", "DatasetFormatError",
           "FAMILIES", "FORMAT_NAME", "FORMAT_VERSION", "H5Dataset", "LENGTH", "SPLITS",
           "class_draws", "generate_class", "inspect", "load", "make_block",
           "minmax", "minmax_torch", "normalize_padded", "normalize_torch", "preprocess",
           "preprocess_torch", "resandi", "trajectory_index", "write"]
