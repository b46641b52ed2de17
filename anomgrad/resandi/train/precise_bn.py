"""Batch-norm statistics recomputed after training ("precise BN").

During training every BatchNorm layer keeps an exponential moving average of its batch
statistics, taken while the weights were still moving. With the fast recipe's large
learning rate those averages lag behind the weights, and the network does worse in eval
mode than it should. :func:`recalibrate_bn` replaces them with the plain average over
``batches`` fresh batches seen by the final weights. Only the BatchNorm buffers change;
the learned parameters are left alone.

The batches come from split "fresh", file :data:`CALIBRATION_FILE`. A run of the fast
recipe uses file = epoch for its training batches, so this file is never one of them.
Validation and test rows come from other splits. The result is a function of
``(weights, family, seed, batches, per_class, amp)`` (and, with ``generator="cuda"``,
of the GPU generators, which give the same distribution but other trajectories).

Training calls it at the end of every epoch, before validating (docs/resandi.md §3, "Validation"):
the statistics then belong to the weights that are validated and saved. It draws
nothing from the training streams, so the training itself is unchanged.
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from .. import datasets as D
from ..nn import unwrap
from ..precision import autocast
from ..task import MAX_FILE
from .data import NOISE_BN, FreshBatches, noise_for

CALIBRATION_FILE = MAX_FILE  # the last "fresh" file: no training run reaches it
BN_PER_CLASS = 64  # trajectories of each class per calibration batch (the fast recipe's)
BN_MIN_BATCHES, BN_MAX_BATCHES = 4, 48  # training's per-epoch calibration: 2 % of an epoch, within these


def recalibrate_bn(model: torch.nn.Module, family: str, seed: int = 0, *, batches: int = 48,
                   per_class: int = BN_PER_CLASS, classes=range(8), device=None, amp: bool = False,
                   generator: str = "cpu", noise: float = 0.0, progress: bool = False) -> dict:
    """Recompute the running mean and variance of every BatchNorm layer of ``model`` as
    the average of their batch values over ``batches`` fresh balanced batches
    (``per_class`` trajectories of each class, preprocessed as in training). The model
    is left in eval mode, with each layer's momentum restored.  ``amp``: the forward
    passes run under bf16 autocast (as the validation that follows them);
    ``generator``: "cpu" (the Numba generators) or "cuda" (the GPU generators, on the
    model's CUDA device); ``noise``: the batches carry the localization-noise mix of a
    run trained under noise up to this std (``TrainConfig.noise``; 0: clean).  The
    input is the one the model reads (``model.input``).

    Returns what was done, for the record: ``{"family", "seed", "file", "batches",
    "per_class", "trajectories"}``."""
    if batches < 1 or per_class < 1:
        raise ValueError(f"batches and per_class must be >= 1, got {batches} and {per_class}")
    if generator not in ("cpu", "cuda"):
        raise ValueError(f"generator must be 'cpu' or 'cuda', got {generator!r}")
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        raise ValueError("model has no BatchNorm layer to recalibrate")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    source = FreshBatches(family, seed, tuple(classes), per_class)
    kind = getattr(unwrap(model), "input", "positions")
    momenta = [m.momentum for m in bns]
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: every batch counts the same
        model.train()
        with torch.no_grad(), autocast(dev, amp):
            for b in tqdm(range(batches), desc="precise BN", unit="batch", disable=not progress):
                if generator == "cuda":
                    x, T, _ = source.device_batch(CALIBRATION_FILE, b, dev)
                else:
                    x, T, _ = source[(CALIBRATION_FILE, b)]
                nz = noise_for(seed, noise, len(T), NOISE_BN, b) if noise else None
                model(D.preprocess_torch(x.to(dev), T.to(dev), check=False, noise=nz,
                                         input=kind))
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        model.eval()
    return {"family": family, "seed": int(seed), "file": CALIBRATION_FILE, "batches": batches,
            "per_class": per_class, "trajectories": batches * per_class * len(tuple(classes)),
            "noise": float(noise)}


__all__ = ["BN_MAX_BATCHES", "BN_MIN_BATCHES", "BN_PER_CLASS", "CALIBRATION_FILE",
           "recalibrate_bn"]
