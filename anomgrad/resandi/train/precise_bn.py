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
``(weights, family, seed, batches, per_class)``.
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from .. import datasets as D
from ..task import MAX_FILE
from .data import FreshBatches

CALIBRATION_FILE = MAX_FILE  # the last "fresh" file: no training run reaches it


def recalibrate_bn(model: torch.nn.Module, family: str, seed: int = 0, *, batches: int = 48,
                   per_class: int = 64, classes=range(8), device=None,
                   progress: bool = False) -> dict:
    """Recompute the running mean and variance of every BatchNorm layer of ``model`` as
    the average of their batch values over ``batches`` fresh balanced batches
    (``per_class`` trajectories of each class, preprocessed as in training). The model
    is left in eval mode, with each layer's momentum restored.

    Returns what was done, for the record: ``{"family", "seed", "file", "batches",
    "per_class", "trajectories"}``."""
    if batches < 1 or per_class < 1:
        raise ValueError(f"batches and per_class must be >= 1, got {batches} and {per_class}")
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        raise ValueError("model has no BatchNorm layer to recalibrate")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    source = FreshBatches(family, seed, tuple(classes), per_class)
    momenta = [m.momentum for m in bns]
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: every batch counts the same
        model.train()
        with torch.no_grad():
            for b in tqdm(range(batches), desc="precise BN", unit="batch", disable=not progress):
                x, T, _ = source[(CALIBRATION_FILE, b)]
                model(D.preprocess_torch(x.to(dev), T.to(dev), check=False))
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        model.eval()
    return {"family": family, "seed": int(seed), "file": CALIBRATION_FILE, "batches": batches,
            "per_class": per_class, "trajectories": batches * per_class * len(tuple(classes))}


__all__ = ["CALIBRATION_FILE", "recalibrate_bn"]
