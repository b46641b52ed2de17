"""The ResAnDi models that ship with anomgrad: ``ag.pretrained()``.

Two width-16 ResAnDi (1.16 M parameters) trained by this package on the varying-T family
(user tracks have any length) with the fast recipe on 2 CPU cores: "robust" (the
default; trained under localization noise, reading positions and scaled increments) and
"clean" (the paper's input and noiseless setting).  The commands, seeds, hardware and
their test accuracy per class, length and noise level are in docs/results.md §3.  The
weights travel inside the package (``weights/``, float16, about 2.3 MB each) and are
checked against their SHA-256 before every load.
"""

from __future__ import annotations

import hashlib
import os

import torch

from ..io.atomic import atomic_torch_save
from .nn import CheckpointError, load_checkpoint

_DIR = os.path.join(os.path.dirname(__file__), "weights")
# name -> (file, SHA-256).  "clean": trained on noiseless tracks (the paper's setting);
# "robust": trained under localization noise up to sigma = 1 (issue 20; docs/results.md §3).
SHIPPED = {
    "clean": ("resandi-varying-w16.pt",
              "21bc871419a936d6d0bb955ffba027892040726ecca1fe17f28027d5323a9b75"),
    "robust": ("resandi-varying-w16-robust.pt",
               "aef5a23019e04b71b4669f5532a3d712bf9f7444af936e997e7768cd84a3d31b"),
}
# the alpha heads of both (anomgrad.resandi.alpha; bench/alpha_head.py --export): (file, SHA-256)
ALPHA_HEADS = ("resandi-varying-w16-alpha.pt",
               "14c0de3e5782d5ebf884d192624d527afe59236d48e4c49b715402d1e9be050e")
# the default: the robust model, since it is within 1 point of the clean one on clean tracks
# (above it: 91.50 against 90.16 % on andi-made tracks; docs/results.md §3)
DEFAULT = "robust"
WEIGHTS = os.path.join(_DIR, SHIPPED[DEFAULT][0])
SHA256 = SHIPPED[DEFAULT][1]


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


def check_name(name) -> str:
    if name not in SHIPPED:
        raise ValueError(f"name must be one of {', '.join(map(repr, SHIPPED))} (the shipped "
                         f"models), got {name!r}")
    return name


def _checked(file: str, expected: str, what: str) -> str:
    """The path of shipped ``file``: ``CheckpointError`` if it is missing or its SHA-256 is
    not ``expected``."""
    path = os.path.join(_DIR, file)
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: the shipped {what} are missing; reinstall anomgrad "
                              f"(pip install .)")
    got = sha256(path)
    if got != expected:
        raise CheckpointError(f"{path}: the shipped {what} are damaged (SHA-256 {got}, "
                              f"expected {expected}); reinstall anomgrad")
    return path


def weights_path(name: str = DEFAULT) -> str:
    """The shipped weights ``name``, checked: ``CheckpointError`` if they are missing or
    damaged."""
    return _checked(*SHIPPED[check_name(name)], "ResAnDi weights")


def alpha_head(name: str = DEFAULT, map_location="cpu"):
    """The alpha head of the shipped model ``name`` (:mod:`anomgrad.resandi.alpha`), checked
    against its SHA-256, in eval mode."""
    from .alpha import AlphaHead  # lazy: only classify needs it

    check_name(name)
    path = _checked(*ALPHA_HEADS, "alpha heads")
    d = torch.load(path, map_location=map_location, weights_only=True)["heads"][name]
    head = AlphaHead(**d["config"])
    head.load_state_dict(d["state_dict"])
    return head.to(map_location).eval()


def pretrained(map_location="cpu", *, meta: bool = False, name: str = DEFAULT):
    """The shipped ResAnDi ``name`` ("robust", the default: trained under localization
    noise, or "clean": the paper's noiseless setting) in eval mode on ``map_location``
    (``meta=True``: also its checkpoint metadata: family, training configuration,
    accuracy)."""
    model, info = load_checkpoint(weights_path(name), map_location=map_location)
    return (model, info) if meta else model


__all__ = ["ALPHA_HEADS", "DEFAULT", "SHA256", "SHIPPED", "WEIGHTS", "alpha_head",
           "check_name", "export", "pretrained", "sha256", "weights_path"]
