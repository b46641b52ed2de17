"""The ResAnDi 8-class task (docs/method.md §3): classes, families, splits and the seed
scheme that fixes every trajectory, its alpha and its length.

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

* the trajectory itself: ``ag.generate(model, ..., seed, start=index)``, redrawn while
  it never moves (:func:`moving`);
* alpha: ``lo + (hi - lo) U`` with ``U`` word 0 of Philox stream 64
  (:func:`anomgrad.generate.range_alphas`, the draw of ``anomgrad generate
  --alpha-range``); BM has alpha = 1 and draws nothing;
* the length (family "varying"): ``ag.random_lengths(1, 10, 1000, seed, start=index)``
  (word 0 of stream 49, inclusive bounds);
* the row order: the 64-bit key ``w0 << 32 | w1`` of words 0-1 of stream 65
  (all three: :func:`class_draws`).

Trajectories that never move
----------------------------
A sub-CTRW trajectory without a jump before T (probability T**-alpha: about 12 % of the
varying-T and 9 % of the T = 1000 sub-CTRW rows) would be all zero.  The published
generator rejects such a trajectory and draws it again with the same T and alpha, and so
do we: redraw ``k`` = 1, 2, ... regenerates it as the same index under the seed
:func:`redraw_seed` ``(seed, k)`` until it moves.  Every other row is exactly what
``generate`` gives.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .. import _validate as V
from ..config import STREAM_ALPHA, STREAM_CUT, STREAM_SHUFFLE
from ..generate import generate
from ..io.andi import ANDI_MODELS
from ..rng import block, uniform_of

CLASS_NAMES = ("sub-ATTM", "sub-CTRW", "sub-FBM", "sub-SBM", "super-FBM", "super-LW",
               "super-SBM", "BM")

CLASS_MODELS = ("attm", "ctrw", "fbm", "sbm", "fbm", "lw", "sbm", "bm")

SUB_ALPHA = (0.1, 0.9)

SUPER_ALPHA = (1.1, 1.9)

CLASS_ALPHA = (SUB_ALPHA,) * 4 + (SUPER_ALPHA,) * 3 + ((1.0, 1.0),)

NUM_CLASSES = 8

DIM = 2

LENGTH = 1000  # padded length, and positions generated per trajectory
# the network's input (resandi.preprocess): "positions", the paper's min-max scaled
# positions (DIM channels), or "increments": those and the scaled steps (2 DIM channels)
INPUTS = ("positions", "increments")

T_MIN = 10  # shortest trajectory of the "varying" family

FAMILIES = ("varying", "fixed")

SPLITS = {"train": 1, "val": 2, "test": 3, "fresh": 4}

FILE_SPLITS = ("train", "val", "test")

STREAM_LENGTH = STREAM_CUT  # 49: random length (ag.random_lengths)

MAX_FILE = 2**24 - 1

MAX_PER_CLASS = 2**28

REDRAW_TAG = 0x57177  # seeds of redrawn still rows: SeedSequence([seed, REDRAW_TAG, attempt])

MAX_REDRAWS = 100_000  # P(a sub-CTRW row is still after k redraws) <= 0.8**k at T >= 10

INDEX_SCHEME = "index = split_id << 56 | file << 32 | label << 28 | j"


def check_input_kind(input) -> str:
    """What a network reads: one of :data:`INPUTS`."""
    if input not in INPUTS:
        raise ValueError(f"input must be one of {', '.join(map(repr, INPUTS))}, got {input!r}")
    return input


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



@njit(cache=True, error_model="numpy")
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
    import torch  # lazy: torch (numpy arrays need none)

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
# andi-datasets' model numbers (docs/resandi.md, "andi-datasets interchange")

ANDI_MODEL_OF_CLASS = tuple(ANDI_MODELS.index("fbm" if m == "bm" else m) for m in CLASS_MODELS)


def andi_labels(label) -> tuple[np.ndarray, np.ndarray]:
    """andi-datasets ``(model, alpha)`` of our class labels: the class's model number
    (BM: fbm, whose alpha = 1 is Brownian motion) and, for BM, alpha 1 (NaN otherwise:
    the class does not fix it)."""
    label = np.asarray(label, np.int64)
    if np.any((label < 0) | (label >= NUM_CLASSES)):
        raise ValueError(f"label must be in 0..{NUM_CLASSES - 1}")
    model = np.asarray(ANDI_MODEL_OF_CLASS, np.int64)[label]
    return model, np.where(label == NUM_CLASSES - 1, 1.0, np.nan)


def class_of_andi(model, alpha) -> np.ndarray:
    """Our class of andi-datasets ``(model, alpha)`` pairs, -1 where none fits: attm and
    ctrw with alpha < 1 are sub-ATTM and sub-CTRW, fbm and sbm are sub- (alpha < 1) or
    super- (alpha > 1) and BM at alpha = 1, lw with alpha > 1 is super-LW; the rest (attm
    or ctrw at alpha = 1, an unknown model or alpha) has no ResAnDi class."""
    model = np.asarray(model, np.int64)
    alpha = np.asarray(alpha, np.float64)
    out = np.full(np.broadcast(model, alpha).shape, -1, np.int64)
    bm = NUM_CLASSES - 1
    # andi model: class for alpha < 1, alpha > 1, alpha == 1 (None: no class)
    rules = {"attm": (0, None, None), "ctrw": (1, None, None), "fbm": (2, 4, bm),
             "lw": (None, 5, None), "sbm": (3, 6, bm)}
    for name, classes in rules.items():
        at = model == ANDI_MODELS.index(name)
        for cond, c in zip((alpha < 1, alpha > 1, alpha == 1), classes):
            if c is not None:
                out[at & cond] = c
    return out


def confusion_matrix(label, pred, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Counts of (true ``label``, predicted ``pred``) pairs: rows are the true class."""
    label = np.asarray(label, np.int64)
    pred = np.asarray(pred, np.int64)
    if label.shape != pred.shape or label.ndim != 1:
        raise ValueError(f"label and pred must be 1-D arrays of equal length, got "
                         f"{label.shape} and {pred.shape}")
    for name, a in (("label", label), ("pred", pred)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{name} values must be in 0..{num_classes - 1}")
    return np.bincount(label * num_classes + pred,
                       minlength=num_classes * num_classes).reshape(num_classes, num_classes)


__all__ = ["ANDI_MODEL_OF_CLASS", "CLASS_ALPHA", "CLASS_MODELS", "CLASS_NAMES", "DIM", "INPUTS",
           "FAMILIES", "FILE_SPLITS", "INDEX_SCHEME", "LENGTH", "MAX_FILE", "MAX_PER_CLASS",
           "MAX_REDRAWS", "NUM_CLASSES", "REDRAW_TAG", "SPLITS", "SUB_ALPHA", "SUPER_ALPHA",
           "T_MIN", "andi_labels", "check_classes", "check_family", "check_input_kind", "check_split",
           "class_draws", "class_of_andi", "confusion_matrix", "generate_class", "moving",
           "redraw_seed",
           "still_rows", "trajectory_index"]
