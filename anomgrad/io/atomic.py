"""Atomic writes of small result files (JSON, CSV, text, PNG, npz, torch checkpoints):
a temporary file in the same folder, fsync'ed, renamed over the target, so a reader
never sees half a file and a killed job leaves either the old file or the new one."""

from __future__ import annotations

import csv
import io as _io
import json
import os

import numpy as np


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


__all__ = ["atomic_savefig", "atomic_savez", "atomic_torch_save", "atomic_write_csv",
           "atomic_write_json", "atomic_write_text", "read_json"]
