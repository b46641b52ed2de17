"""The file formats of andi-datasets (file formats only: andi-datasets is not a
dependency), read into and written from :class:`~anomgrad.io.tracks.Tracks`.

* **Arrays of** ``datasets_theory().create_dataset``: one row per trajectory,
  ``[model, alpha, x_0 .. x_{T-1}, y_0 .. y_{T-1}(, z_0 ..)]`` (all rows of one length T,
  the axes one after the other).  ``model`` is andi-datasets' model number: the position
  of the model in its alphabetically sorted list, 0 attm, 1 ctrw, 2 fbm, 3 lw, 4 sbm
  (:data:`ANDI_MODELS`).  Read from ``.npy``, ``.npz`` (the first array) or text
  (whitespace, ``,`` or ``;`` separated); written as ``.npy`` or text with every digit
  (``%.17g``), so a round trip keeps every number.
* **AnDi 2020 challenge files** (``challenge_theory_dataset``): ``task<k>.txt`` has one
  trajectory per line, ``dim;x_0;..;x_{T-1};y_0;..`` (``;`` separated, T varies per line);
  ``ref1.txt`` the exponents (``dim;alpha``), ``ref2.txt`` the model numbers
  (``dim;model``), line by line with the task file.  Lines of another dimension than the
  one asked for are skipped and counted.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from .atomic import replacing
from .h5 import FileFormatError
from .text import check_line_end, check_text
from .tracks import Tracks

ANDI_MODELS = ("attm", "ctrw", "fbm", "lw", "sbm")  # andi-datasets 2.1.13 numbering


def load_numpy(path, mmap: bool = False) -> np.ndarray:
    """The array of a ``.npy`` file, or the first array of a ``.npz`` file (whatever the
    name says); anything else raises ``FileFormatError`` naming ``path``."""
    path = os.fspath(path)
    try:
        obj = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        if isinstance(obj, np.lib.npyio.NpzFile):
            with obj:
                members = obj.zip.namelist()
                if not members:
                    raise ValueError("the .npz file holds no array")
                if not all(m.endswith(".npy") for m in members):
                    raise ValueError("a zip file but not a numpy .npz of arrays")
                return obj[obj.files[0]]
        return obj
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise FileFormatError(f"{path}: not a numpy array file ({type(e).__name__}: "
                              f"{str(e)[:200] or 'empty or cut short'})") from None


def _load_rows(path) -> np.ndarray:
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() in (".npy", ".npz"):
        return np.asarray(load_numpy(path))
    try:
        with open(check_text(path, "andi-datasets text file")) as f:
            text = f.read()
        sep = ";" if ";" in text else ("," if "," in text else None)
        a = np.loadtxt(path, delimiter=sep, ndmin=2)
        check_line_end(path)
    except (OSError, ValueError) as e:
        if isinstance(e, ValueError) and str(e).startswith(path):
            raise
        raise FileFormatError(f"{path}: not an andi-datasets array ({type(e).__name__}: "
                              f"{str(e)[:200]})") from None
    return np.asarray(a)


def read_andi_array(src, dim: int | None = None) -> Tracks:
    """Tracks from an andi-datasets ``create_dataset`` array (or a file holding one).

    Such an array does not record its dimension: a row of 2 + 2T numbers is as well a
    2-D track of T positions as a 1-D one of 2T.  ``dim`` says which; without it only a
    row length that fits one dimension alone is read, anything else is an error (a 1-D
    file read as 2-D would silently give tracks of half the length on two axes)."""
    a = _load_rows(src) if isinstance(src, (str, os.PathLike)) else np.asarray(src)
    name = os.fspath(src) if isinstance(src, (str, os.PathLike)) else "array"
    if dim is None and a.ndim == 2 and a.shape[1] > 2:
        fits = [d for d in (1, 2, 3) if (a.shape[1] - 2) % d == 0]
        if len(fits) > 1:
            raise ValueError(f"{name}: andi-datasets arrays do not record their dimension, "
                             f"and rows of {a.shape[1] - 2} positions fit dim "
                             f"{' or '.join(map(str, fits))}: give --dim (dim=)")
        dim = fits[0]
    dim = 2 if dim is None else dim
    if a.ndim != 2 or not np.issubdtype(a.dtype, np.number) or a.shape[1] < 2 + 2 * dim:
        raise ValueError(f"{name}: an andi-datasets array is (n, 2 + dim * T) numbers "
                         f"[model, alpha, positions]; got shape {a.shape} {a.dtype}")
    if (a.shape[1] - 2) % dim:
        raise ValueError(f"{name}: {a.shape[1] - 2} position columns are not a multiple of "
                         f"dim = {dim} (give the right --dim)")
    T = (a.shape[1] - 2) // dim
    model = a[:, 0]
    if np.any(model != np.round(model)) or np.any((model < 0) | (model >= len(ANDI_MODELS))):
        raise ValueError(f"{name}: column 0 must hold andi-datasets model numbers 0..4 "
                         f"({', '.join(ANDI_MODELS)}); got values in [{model.min()}, "
                         f"{model.max()}]")
    pos = a[:, 2:].astype(np.float64).reshape(len(a), dim, T).transpose(0, 2, 1)
    return Tracks(list(range(len(a))), list(pos), None, model.astype(np.int64),
                  a[:, 1].astype(np.float64), source=os.path.basename(name))


def andi_array(tracks: Tracks) -> np.ndarray:
    """The andi-datasets array of equally long ``tracks`` (model -1 and alpha NaN where
    unknown)."""
    lengths = set(tracks.lengths.tolist())
    if len(lengths) > 1:
        raise ValueError(f"an andi-datasets array needs equally long trajectories; these have "
                         f"lengths {min(lengths)}..{max(lengths)} (use the challenge format)")
    rows = [np.concatenate([[m, a], p.T.ravel()])
            for m, a, p in zip(tracks.model, tracks.alpha, tracks.positions)]
    return np.array(rows, np.float64).reshape(len(tracks), -1)


def write_andi_array(path, tracks: Tracks) -> None:
    """``.npy`` (exact) or text with every digit (``%.17g``, space separated)."""
    a = andi_array(tracks)
    path = os.fspath(path)
    with replacing(path, os.path.splitext(path)[1]) as tmp:
        if path.lower().endswith(".npy"):
            np.save(tmp, a)
        else:
            np.savetxt(tmp, a, fmt="%.17g")


def _rows(path):
    with open(check_text(path, "AnDi challenge file")) as f:
        k = 0
        try:
            for k, line in enumerate(f, 1):
                line = line.strip()
                if line:
                    try:
                        yield k, [float(v) for v in line.split(";")]
                    except ValueError as e:
                        raise ValueError(f"{path}, line {k}: not numbers separated by ';' "
                                         f"({e})") from None
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}, after line {k}: not UTF-8 text ({e.reason})") from None
    check_line_end(path)


def read_andi_challenge(task, ref=None, dim: int = 2) -> tuple[Tracks, int]:
    """Tracks of dimension ``dim`` from an AnDi 2020 ``task<k>.txt``, with the labels of
    ``ref1.txt`` (exponents) and/or ``ref2.txt`` (models): ``ref`` is one path or a list
    of them (both give the ResAnDi class of every track).  Returns ``(tracks, lines of
    other dimensions skipped)``."""
    task = os.fspath(task)
    paths = [] if ref is None else [ref] if isinstance(ref, (str, os.PathLike)) else list(ref)
    labels = {}  # kind -> {line: row}
    for r in map(os.fspath, paths):
        kind = ("alpha" if "ref1" in os.path.basename(r) else
                "model" if "ref2" in os.path.basename(r) else None)
        if kind is None:
            raise ValueError(f"ref: {r}: name it ref1.txt (exponents) or ref2.txt (models), "
                             f"as the challenge does")
        if kind in labels:
            raise ValueError(f"ref: two {'ref1' if kind == 'alpha' else 'ref2'} files given")
        labels[kind] = ({k: v for k, v in _rows(r)}, r)
    ids, pos, model, alpha, skipped = [], [], [], [], 0
    for k, row in _rows(task):
        d = int(row[0])
        if d != dim:
            skipped += 1
            continue
        if (len(row) - 1) % d:
            raise ValueError(f"{task}, line {k}: {len(row) - 1} values are not {d} axes")
        pos.append(np.asarray(row[1:]).reshape(d, -1).T)
        ids.append(k)
        got = {}
        for kind, (rows, r) in labels.items():
            lab = rows.get(k)
            if lab is None or int(lab[0]) != d:
                raise ValueError(f"{r}: no label of dimension {d} on line {k} (the task and "
                                 f"ref files must be line by line)")
            got[kind] = lab[1]
        model.append(int(got["model"]) if "model" in got else -1)
        alpha.append(float(got["alpha"]) if "alpha" in got else np.nan)
    if not ids and not skipped:
        raise ValueError(f"{task}: no trajectories (only blank lines)")
    return Tracks(ids, pos, None, model, alpha, source=os.path.basename(task)), skipped


def write_andi_challenge(task, tracks: Tracks, ref1=None, ref2=None) -> None:
    """``tracks`` as a challenge ``task`` file, with ``ref1`` (exponents) and ``ref2``
    (models) when asked; floats with every digit."""
    def write(path, lines):
        with replacing(path) as tmp, open(tmp, "w") as f:
            f.writelines(lines)

    d = tracks.dim
    fmt = lambda v: repr(float(v))  # noqa: E731
    write(task, [";".join([fmt(d)] + [fmt(v) for v in p.T.ravel()]) + "\n"
                 for p in tracks.positions])
    if ref1 is not None:
        write(ref1, [f"{fmt(d)};{fmt(a)}\n" for a in tracks.alpha])
    if ref2 is not None:
        write(ref2, [f"{fmt(d)};{fmt(m)}\n" for m in tracks.model])


__all__ = ["ANDI_MODELS", "andi_array", "load_numpy", "read_andi_array", "read_andi_challenge",
           "write_andi_array", "write_andi_challenge"]
