"""Training recipes and the configuration of a run: :class:`TrainConfig`.

A :class:`Recipe` is a set of defaults.  :class:`TrainConfig` is every option of
:func:`anomgrad.train` and ``anomgrad train``, once: its type, its default (None: the
recipe's value, filled in when the config is made), its check and its command-line help
(``metadata["help"]``; the CLI is built from the fields).  A config is frozen and
checked when it is made; it goes to ``config.json`` and into every checkpoint
(:meth:`TrainConfig.to_dict`), and resuming compares it (:func:`identity`) with the
checkpoint's.  Adding an option is adding a field.

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
    avx512_bf16/AMX; the stem stays fp32), cuDNN autotuning on CUDA, a fixed validation
    set (2,000 per class of the "val" split), epochs of 2**20 trajectories (12 by
    default, or as many steps as fit in ``minutes``).

Every run ends each epoch with precise BN (:mod:`anomgrad.resandi.train.precise_bn`)
before it validates.
"""

from __future__ import annotations

import dataclasses
import math
import os

from .. import _validate as V
from . import task
from .precision import AMP_CHOICES


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
    batch_order: str | None  # rows of files: "files" (in turn, shuffled within each) or "global"


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

# Options whose None means the recipe's value (epoch_samples and batch_order are
# checked against the data source; warmup_steps may stay None: derived by the run).
RECIPE_OPTIONS = ("lr", "weight_decay", "batch_size", "epochs", "patience", "min_delta", "amp",
                  "val_per_class", "warmup_steps")

# Settings that may differ when resuming (they do not change the result).
RESUME_FREE = ("device", "workers", "compile", "test", "generator", "threads")


def _opt(help: str, default=None, **cli):
    """A field of :class:`TrainConfig`: ``help`` for the CLI and the docs, ``cli``:
    argparse keywords (``type`` is taken from the annotation unless given)."""
    return dataclasses.field(default=default, metadata={"help": help, "cli": cli})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every option of a training run (None: the recipe's value, or derived where said)."""

    family: str = _opt("varying (T ~ U{10..1000}) or fixed (T = 1000)", "varying",
                       choices=("varying", "fixed"), required=True)
    recipe: str = _opt("fast (default) or paper; options left out take its value", "fast",
                       choices=tuple(RECIPES))
    seed: int = _opt("everything random derives from it (default 0)", 0)
    data: tuple | None = _opt("train files (anomgrad dataset --split train); default for the "
                              "fast recipe: fresh trajectories", nargs="+", type=str)
    val: str | None = _opt("validation file (default: generated, --val-per-class per class)")
    test: str | None = _opt("test file to evaluate best.pt on at the end")
    epochs: int | None = _opt("epochs (fast 12, paper 100)")
    batch_size: int | None = _opt("global batch size (fast 512, paper 64)")
    lr: float | None = _opt("(peak) learning rate")
    weight_decay: float | None = _opt("weight decay")
    patience: int | None = _opt("early stopping after this many epochs without improvement")
    min_delta: float | None = _opt("an epoch improves when val_loss <= best - min_delta")
    warmup_steps: int | None = _opt("linear warm-up steps (fast: min(500, a tenth of the run))")
    total_steps: int | None = _opt("optimizer steps in all (default epochs x steps per epoch)")
    minutes: float | None = _opt("time budget of the whole run; sets the number of steps")
    epoch_samples: int | None = _opt("fresh trajectories per epoch (fast: 2**20)")
    val_per_class: int | None = _opt("generated validation trajectories per class")
    classes: tuple | None = _opt("train on these labels only (0..7)", nargs="+")
    noise: float = _opt("train under localization noise up to this std (AnDi-normalized "
                        "positions: unit step std; per track 0 for a quarter of them, else "
                        "uniform on [0, noise]); 0: clean, as the paper", 0.0)
    input: str = _opt("what the network reads: positions (min-max scaled, the paper's) or "
                      "increments (those and each axis's steps scaled by their root mean "
                      "square: far better under localization noise; fresh data only)",
                      "positions", choices=task.INPUTS)
    width: int = _opt("network width (64 = ResAnDi; 16 trains on a CPU in hours)", 64)
    amp: str | None = _opt("auto (fast): bf16 autocast where the hardware computes bf16 "
                           "natively (CUDA, avx512_bf16/AMX CPUs), else fp32; bf16; none "
                           "(fp32, paper). The stem is always fp32", choices=AMP_CHOICES)
    bn_batches: int | None = _opt("precise-BN batches at the end of every epoch (default: 2 % "
                                  "of an epoch's trajectories, 4 to 48 batches)")
    batch_order: str | None = _opt("rows of --data files: files (in turn, shuffled within "
                                   "each: the published order, paper default) or global",
                                   choices=("files", "global"))
    generator: str = _opt("where fresh trajectories are generated: auto, cpu, cuda", "auto",
                          choices=("auto", "cpu", "cuda"))
    device: str | None = _opt("cuda, cuda:N or cpu (default: CUDA when available)")
    workers: int | None = _opt("DataLoader worker processes (default 0 on CPU, <= 8 on CUDA)")
    threads: int | None = _opt("CPU threads of torch and Numba (default: as they are)")
    compile: bool = _opt("torch.compile the model", False)
    deterministic: bool | None = _opt("deterministic kernels (default: on for CPU, off for "
                                      "CUDA)")
    epochs_given: bool | None = dataclasses.field(default=None, metadata={"derived": True})

    def __post_init__(self):
        if self.recipe not in RECIPES:
            raise TrainError(f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        r = RECIPES[self.recipe]
        put = object.__setattr__
        if self.epochs_given is None:
            put(self, "epochs_given", self.epochs is not None)
        for name in RECIPE_OPTIONS:
            if getattr(self, name) is None:
                put(self, name, getattr(r, name))
        put(self, "family", task.check_family(self.family))
        put(self, "seed", V.check_seed(self.seed))
        self._check_numbers()
        self._check_data(r)
        for name, ok in (("amp", AMP_CHOICES), ("generator", ("auto", "cpu", "cuda")),
                         ("input", task.INPUTS)):
            if getattr(self, name) not in ok:
                raise TrainError(f"{name} must be one of {', '.join(map(repr, ok))}, got "
                                 f"{getattr(self, name)!r}")
        put(self, "compile", bool(self.compile))

    def _check_numbers(self) -> None:
        put = object.__setattr__
        for name, lo, hi in (("batch_size", 1, None), ("epochs", 1, 2**24 - 1),
                             ("patience", 1, None), ("warmup_steps", 0, None),
                             ("total_steps", 1, None), ("width", 1, None),
                             ("bn_batches", 1, 10**6), ("workers", 0, None),
                             ("threads", 1, 4096)):
            if getattr(self, name) is not None:
                put(self, name, V.check_int(name, getattr(self, name), lo, hi))
        for name, strict in (("lr", True), ("weight_decay", False), ("min_delta", False),
                             ("minutes", True), ("noise", False)):
            v = getattr(self, name)
            if v is not None:
                v = float(v)
                if not (math.isfinite(v) and (v > 0 if strict else v >= 0)):
                    raise TrainError(f"{name} must be "
                                     f"{'a positive number' if strict else '>= 0'}, got {v}")
                put(self, name, v)

    def _check_data(self, r: Recipe) -> None:
        put = object.__setattr__
        data = self.data
        if isinstance(data, (str, os.PathLike)):
            data = [data]
        if data:
            data = tuple(os.path.abspath(os.fspath(p)) for p in data)
            if len(set(data)) != len(data):
                raise TrainError("data: the same file is listed twice")
        elif r.source == "files":
            raise TrainError(f"recipe {self.recipe!r} trains on dataset files: give data= (the "
                             f"train files of `anomgrad dataset --split train`)")
        put(self, "data", data or None)
        for name in ("val", "test"):
            v = getattr(self, name)
            put(self, name, None if v is None else os.path.abspath(os.fspath(v)))
        put(self, "val_per_class",
            V.check_int("val_per_class", self.val_per_class, 1, task.MAX_PER_CLASS))
        put(self, "classes", tuple(task.check_classes(self.classes)))
        if self.source == "fresh":
            self._check_fresh(r)
        else:
            if self.noise:
                raise TrainError("noise applies to fresh data only (dataset files hold the "
                                 "network input, after min-max)")
            if self.input != "positions":
                raise TrainError(f"input={self.input!r} applies to fresh data only (dataset "
                                 f"files hold the paper's input)")
            if self.epoch_samples is not None:
                raise TrainError("epoch_samples applies to fresh data only (an epoch over "
                                 "files is one pass over all their rows)")
            order = r.batch_order if self.batch_order is None else self.batch_order
            if order not in ("files", "global"):
                raise TrainError(f"batch_order must be 'files' or 'global', got {order!r}")
            put(self, "batch_order", order)

    def _check_fresh(self, r: Recipe) -> None:
        if self.batch_order is not None:
            raise TrainError("batch_order applies to dataset files only (fresh batches have "
                             "their own order)")
        ncls = len(self.classes)
        es = r.epoch_samples if self.epoch_samples is None else self.epoch_samples
        es = V.check_int("epoch_samples", es, 1)
        if self.batch_size % ncls:
            raise TrainError(f"batch_size must be a multiple of the number of classes "
                             f"({ncls}) for fresh batches, got {self.batch_size}")
        spe = max(1, es // self.batch_size)
        if spe * self.batch_size // ncls > task.MAX_PER_CLASS:
            raise TrainError(f"epoch_samples too large (at most 2**28 per class), got {es}")
        object.__setattr__(self, "epoch_samples", spe * self.batch_size)

    # ---- derived from the recipe ------------------------------------------------------

    @property
    def source(self) -> str:
        """"files" (dataset files) or "fresh" (new trajectories every step)."""
        return "files" if self.data else "fresh"

    @property
    def optimizer(self) -> str:
        return RECIPES[self.recipe].optimizer

    @property
    def schedule(self) -> str:
        return RECIPES[self.recipe].schedule

    @property
    def step_size(self) -> int | None:
        return RECIPES[self.recipe].step_size

    @property
    def gamma(self) -> float | None:
        return RECIPES[self.recipe].gamma

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain values (lists for tuples) with the recipe's derived settings: what
        ``config.json`` and the checkpoints hold."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
        d.update(source=self.source, optimizer=self.optimizer, schedule=self.schedule,
                 step_size=self.step_size, gamma=self.gamma)
        return d


def option_fields() -> tuple:
    """The fields of :class:`TrainConfig` a user sets (the CLI's options)."""
    return tuple(f for f in dataclasses.fields(TrainConfig) if not f.metadata.get("derived"))


def resolve(recipe: str = "fast", family: str = "varying", **options) -> TrainConfig:
    """The checked configuration of ``recipe`` with ``options`` (None: the recipe's)."""
    return TrainConfig(recipe=recipe, family=family, **options)


def identity(cfg) -> dict:
    """The settings that must match to resume a run (all but :data:`RESUME_FREE`)."""
    d = cfg.to_dict() if isinstance(cfg, TrainConfig) else dict(cfg)
    d.setdefault("input", "positions")  # runs started before the option existed
    return {k: v for k, v in d.items() if k not in RESUME_FREE}


__all__ = ["RECIPES", "RESUME_FREE", "Recipe", "TrainConfig", "TrainError", "identity",
           "option_fields", "resolve"]
