"""The ResAnDi model that ships with anomgrad: ``ag.pretrained()``.

A width-16 ResAnDi (1.16 M parameters) trained by this package on the varying-T family
(user tracks have any length) with the fast recipe on 2 CPU cores, its BatchNorm
statistics then recomputed (:mod:`.train.precise_bn`); the command, seed, hardware and its
test accuracy per class on both families are in docs/results.md.  The
weights travel inside the package (``weights/``, float16, about 2.3 MB) and are checked
against their SHA-256 before every load.
"""

from __future__ import annotations

import hashlib
import os

import torch

from ..io.atomic import atomic_torch_save
from .nn import CheckpointError, load_checkpoint

WEIGHTS = os.path.join(os.path.dirname(__file__), "weights", "resandi-varying-w16.pt")
SHA256 = "21bc871419a936d6d0bb955ffba027892040726ecca1fe17f28027d5323a9b75"


def sha256(path) -> str:
    """The SHA-256 of a file, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export(checkpoint, path, **shipped) -> str:
    """The weights to ship, from a ``best.pt``: floating tensors in float16 (half the
    size; the accuracy in docs/results.md is measured with exactly these), the
    checkpoint's metadata, and ``shipped`` (how it was made) under ``"shipped"``.
    Returns the file's SHA-256 (what :data:`SHA256` must say)."""
    ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
    ck = {k: v for k, v in ck.items() if k not in ("optimizer", "rng")}
    ck["model"] = {k: v.half() if v.is_floating_point() else v for k, v in ck["model"].items()}
    ck["shipped"] = shipped
    atomic_torch_save(ck, os.fspath(path))
    return sha256(path)


def weights_path() -> str:
    """The shipped weights, checked: ``CheckpointError`` if they are missing or damaged."""
    if not os.path.exists(WEIGHTS):
        raise CheckpointError(f"{WEIGHTS}: the shipped ResAnDi weights are missing; reinstall "
                              f"anomgrad (pip install .)")
    got = sha256(WEIGHTS)
    if got != SHA256:
        raise CheckpointError(f"{WEIGHTS}: the shipped ResAnDi weights are damaged (SHA-256 "
                              f"{got}, expected {SHA256}); reinstall anomgrad")
    return WEIGHTS


def pretrained(map_location="cpu", *, meta: bool = False):
    """The shipped ResAnDi in eval mode on ``map_location`` (``meta=True``: also its
    checkpoint metadata: family, training configuration, accuracy)."""
    model, info = load_checkpoint(weights_path(), map_location=map_location)
    return (model, info) if meta else model


__all__ = ["SHA256", "WEIGHTS", "export", "pretrained", "sha256", "weights_path"]
