"""Training recipes and the resolved configuration of a run.

A :class:`Recipe` is a set of defaults; every argument of :func:`anomgrad.train` that is
not None overrides its field.  :func:`resolve` checks the arguments and returns the run's
configuration, a plain dict: it is written to ``config.json`` and into every checkpoint,
and resuming compares it (:func:`identity`) with the checkpoint's.

``paper`` (docs/method.md §3, the published code)
    Adam, lr 1e-4, StepLR(step 10 epochs, gamma 0.5), cross entropy, batch 64, up to
    100 epochs, early stopping on the validation loss (patience 10, delta 0.001: an epoch
    improves when ``val_loss <= best - 0.001``), best checkpoint kept; HDF5 files of
    ``anomgrad dataset``, walked in turn every epoch with the rows of each shuffled (the
    published order; ``batch_order="global"``: one permutation over all rows); fp32.

``fast`` (ours; target: paper accuracy in <= 10 minutes on one H100)
    Fresh trajectories every step (split "fresh", file = epoch: never the same trajectory
    twice, never one of the train/val/test files), batch 512 (64 per class, every batch
    exactly balanced), AdamW (peak lr 2e-3, weight decay 0.05 on conv and linear weights
    only), linear warm-up (500 steps, or a tenth of a shorter run) then cosine decay to 0,
    bf16 autocast where the hardware has it (``amp="auto"``: CUDA, or a CPU with
    avx512_bf16/AMX; the stem stays fp32), cuDNN autotuning on CUDA, a fixed validation set (2,000 per class of
    the "val" split), epochs of 2**20 trajectories (12 by default, or as many steps as fit
    in ``minutes``).
"""

from __future__ import annotations

import dataclasses
import math
import os

from ... import _validate as V
from .. import task
from ..precision import AMP_CHOICES


class TrainError(ValueError):
    """A user error in the training setup (the message says what to change)."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Defaults of a training recipe (None: not used by this recipe, or derived)."""

    optimizer: str  # "adam" or "adamw" (decay on conv and linear weights only)
    lr: float  # (peak) learning rate
    weight_decay: float
    schedule: str  # "step" (StepLR per epoch) or "cosine" (warm-up, cosine to 0)
    step_size: int | None  # StepLR: epochs per step
    gamma: float | None  # StepLR: factor per step
    batch_size: int  # global batch
    epochs: int
    patience: int | None  # early stopping on the validation loss (None: off)
    min_delta: float  # an epoch improves when val_loss <= best - min_delta
    amp: str  # "auto" (bf16 where native: docs/resandi.md), "bf16" or "none"
    source: str  # "files" (dataset files) or "fresh" (new trajectories every step)
    val_per_class: int  # generated validation set when no val file is given
    epoch_samples: int | None  # fresh trajectories per epoch
    warmup_steps: int | None  # None: min(500, a tenth of the run)
    batch_order: str  # rows of files: "files" (in turn, shuffled within each) or "global"


RECIPES = {
    "paper": Recipe(optimizer="adam", lr=1e-4, weight_decay=0.0, schedule="step", step_size=10,
                    gamma=0.5, batch_size=64, epochs=100, patience=10, min_delta=0.001,
                    amp="none", source="files", val_per_class=10000, epoch_samples=None,
                    warmup_steps=0, batch_order="files"),
    "fast": Recipe(optimizer="adamw", lr=2e-3, weight_decay=0.05, schedule="cosine",
                   step_size=None, gamma=None, batch_size=512, epochs=12, patience=None,
                   min_delta=0.0, amp="auto", source="fresh", val_per_class=2000,
                   epoch_samples=2**20, warmup_steps=None, batch_order="global"),
}

# Settings that may differ when resuming (they do not change the result).
RESUME_FREE = ("device", "workers", "progress", "compile", "test", "generator", "threads")


def _positive(name: str, v: float, strict: bool) -> float:
    v = float(v)
    if not (math.isfinite(v) and (v > 0 if strict else v >= 0)):
        raise TrainError(f"{name} must be {'a positive number' if strict else '>= 0'}, got {v}")
    return v


def _resolve_optim(cfg: dict, r: Recipe, o: dict) -> None:
    """Optimizer, schedule, length and precision settings."""
    def pick(name):
        return getattr(r, name) if o.get(name) is None else o[name]

    cfg.update(optimizer=r.optimizer, schedule=r.schedule, step_size=r.step_size,
               gamma=r.gamma)
    cfg["lr"] = float(pick("lr"))
    cfg["weight_decay"] = float(pick("weight_decay"))
    if not (math.isfinite(cfg["lr"]) and cfg["lr"] > 0):
        raise TrainError(f"lr must be a positive number, got {cfg['lr']}")
    _positive("weight_decay", cfg["weight_decay"], strict=False)
    cfg["batch_size"] = V.check_int("batch_size", pick("batch_size"), 1)
    cfg["epochs"] = V.check_int("epochs", pick("epochs"), 1, 2**24 - 1)
    cfg["epochs_given"] = o.get("epochs") is not None
    cfg["patience"] = pick("patience")
    if cfg["patience"] is not None:
        cfg["patience"] = V.check_int("patience", cfg["patience"], 1)
    cfg["min_delta"] = _positive("min_delta", pick("min_delta"), strict=False)
    cfg["warmup_steps"] = pick("warmup_steps")
    if cfg["warmup_steps"] is not None:
        cfg["warmup_steps"] = V.check_int("warmup_steps", cfg["warmup_steps"], 0)
    total = o.get("total_steps")
    cfg["total_steps"] = None if total is None else V.check_int("total_steps", total, 1)
    amp = pick("amp")
    if amp not in AMP_CHOICES:
        raise TrainError(f"amp must be one of {', '.join(map(repr, AMP_CHOICES))}, got {amp!r}")
    cfg["amp"] = amp
    bn = o.get("bn_batches")
    cfg["bn_batches"] = None if bn is None else V.check_int("bn_batches", bn, 1, 10**6)
    threads = o.get("threads")
    cfg["threads"] = None if threads is None else V.check_int("threads", threads, 1, 4096)
    cfg["width"] = V.check_int("width", o.get("width", 64), 1)
    cfg["compile"] = bool(o.get("compile", False))
    cfg["deterministic"] = o.get("deterministic")
    minutes = o.get("minutes")
    if minutes is not None:
        minutes = float(minutes)
        if not (math.isfinite(minutes) and minutes > 0):
            raise TrainError(f"minutes must be a positive number, got {minutes}")
    cfg["minutes"] = minutes


def _resolve_data(cfg: dict, r: Recipe, o: dict, recipe: str) -> None:
    """Where the batches come from, validation, classes and epoch size."""
    data = o.get("data")
    if data:
        if isinstance(data, (str, os.PathLike)):
            data = [data]
        cfg["source"] = "files"
        cfg["data"] = [os.path.abspath(os.fspath(p)) for p in data]
        if len(set(cfg["data"])) != len(cfg["data"]):
            raise TrainError("data: the same file is listed twice")
    else:
        if r.source == "files":
            raise TrainError(f"recipe {recipe!r} trains on dataset files: give data= (the "
                             f"train files of `anomgrad dataset --split train`)")
        cfg["source"] = "fresh"
        cfg["data"] = None
    for name in ("val", "test"):
        v = o.get(name)
        cfg[name] = None if v is None else os.path.abspath(os.fspath(v))
    vpc = r.val_per_class if o.get("val_per_class") is None else o["val_per_class"]
    cfg["val_per_class"] = V.check_int("val_per_class", vpc, 1, task.MAX_PER_CLASS)
    cfg["classes"] = list(task.check_classes(o.get("classes")))
    es = o.get("epoch_samples")
    if cfg["source"] == "fresh":
        es = V.check_int("epoch_samples", r.epoch_samples if es is None else es, 1)
        if cfg["batch_size"] % len(cfg["classes"]):
            raise TrainError(f"batch_size must be a multiple of the number of classes "
                             f"({len(cfg['classes'])}) for fresh batches, got {cfg['batch_size']}")
        spe = max(1, es // cfg["batch_size"])
        if spe * cfg["batch_size"] // len(cfg["classes"]) > task.MAX_PER_CLASS:
            raise TrainError(f"epoch_samples too large (at most 2**28 per class), got {es}")
        cfg["epoch_samples"] = spe * cfg["batch_size"]
    else:
        if es is not None:
            raise TrainError("epoch_samples applies to fresh data only (an epoch over files "
                             "is one pass over all their rows)")
        cfg["epoch_samples"] = None
    order = o.get("batch_order")
    if cfg["source"] == "files":
        order = r.batch_order if order is None else order
        if order not in ("files", "global"):
            raise TrainError(f"batch_order must be 'files' or 'global', got {order!r}")
    elif order is not None:
        raise TrainError("batch_order applies to dataset files only (fresh batches have "
                         "their own order)")
    cfg["batch_order"] = order


def resolve(recipe: str, family: str, **options) -> dict:
    """The run configuration from a recipe and the arguments of :func:`anomgrad.train`
    (None: the recipe's value), checked."""
    if recipe not in RECIPES:
        raise TrainError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    r = RECIPES[recipe]
    cfg = {"recipe": recipe, "family": task.check_family(family),
           "seed": V.check_seed(options.get("seed", 0))}
    _resolve_optim(cfg, r, options)
    _resolve_data(cfg, r, options, recipe)
    generator = options.get("generator", "auto")
    if generator not in ("auto", "cpu", "cuda"):
        raise TrainError(f"generator must be 'auto', 'cpu' or 'cuda', got {generator!r}")
    cfg["generator"] = generator
    cfg["device"] = options.get("device")
    workers = options.get("workers")
    cfg["workers"] = None if workers is None else V.check_int("workers", workers, 0)
    return cfg


def identity(cfg: dict) -> dict:
    """The settings that must match to resume a run (all but :data:`RESUME_FREE`)."""
    return {k: v for k, v in cfg.items() if k not in RESUME_FREE}


__all__ = ["RECIPES", "RESUME_FREE", "Recipe", "TrainError", "identity", "resolve"]
