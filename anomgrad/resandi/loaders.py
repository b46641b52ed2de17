"""torch ``Dataset`` views of ResAnDi dataset files, read lazily (DataLoader workers
each open their own file handle)."""

from __future__ import annotations

import os

import h5py
import numpy as np
import torch

from ..io.h5 import attrs_meta
from .files import read_rows, inspect
from .task import DIM, LENGTH


class H5Dataset(torch.utils.data.Dataset):
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
        self.meta = attrs_meta(self.info["attrs"])
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
        return (torch.from_numpy(read_rows(f[self.field], idx)),
                torch.from_numpy(read_rows(f["label"], idx)))

    def __getstate__(self):
        s = dict(self.__dict__)
        s["_f"] = None
        s["_pid"] = None
        return s

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class H5Files(torch.utils.data.Dataset):
    """Several dataset files as one: item = an array of global row indices -> batch."""

    def __init__(self, paths, family):
        self.parts = [H5Dataset(p, family=family, split="train") for p in paths]
        self.sizes = np.array([len(p) for p in self.parts], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])

    def __len__(self):
        return int(self.offsets[-1])

    def __getitem__(self, idx):
        idx = np.asarray(idx, np.int64)
        which = np.searchsorted(self.offsets, idx, side="right") - 1
        x = torch.empty((idx.size, DIM, LENGTH), dtype=torch.float32)
        y = torch.empty(idx.size, dtype=torch.int64)
        for k in np.unique(which):
            sel = np.flatnonzero(which == k)
            xb, yb = self.parts[k][idx[sel] - self.offsets[k]]
            x[torch.from_numpy(sel)] = xb
            y[torch.from_numpy(sel)] = yb
        return x, y


__all__ = ["H5Dataset", "H5Files"]
