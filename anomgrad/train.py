"""Training ResAnDi: ``ag.train(...)`` and ``anomgrad train``.

Two recipes (``recipe=``), each a set of defaults that any argument overrides:

``paper`` (method.md §3, the published code)
    Adam, lr 1e-4, StepLR(step 10 epochs, gamma 0.5), cross entropy, batch 64, up to
    100 epochs, early stopping on the validation loss (patience 10, delta 0.001: an
    epoch improves when ``val_loss <= best - 0.001``), best checkpoint kept.  Data:
    HDF5 files of ``anomgrad dataset`` (``data=`` train files, ``val=`` a val file; a
    validation set is generated in memory when ``val`` is not given).  fp32.

``fast`` (ours; target: paper accuracy in <= 10 minutes on one H100)
    Fresh trajectories every step (split "fresh", file = epoch: never the same
    trajectory twice, never one of the train/val/test files), batch 512 (64 per class,
    every batch exactly balanced), AdamW (peak lr 2e-3, weight decay 0.05 on conv and
    linear weights only), linear warm-up (500 steps, or a tenth of a shorter run) then
    cosine decay to 0 over the whole run, bf16 autocast and cuDNN autotuning on CUDA, a fixed validation set (2,000 per class of the
    "val" split).  An epoch is 2**20 trajectories; 12 epochs by default, or as many
    steps as fit in ``minutes`` (measured throughput, see below).  Data come from
    DataLoader worker processes generating on the CPU (``anomgrad.generate``) while
    the GPU trains; ``preprocess_torch`` normalizes and scales each batch on the GPU.
    With ``generator="cuda"`` batches are generated on the GPU by anomgrad's CUDA
    generators instead ("auto" does so when fewer than 3 workers are available).

Time budget (``minutes``): the warm-up length is fixed in steps; at its end, rank 0
measures the steps per second of the second half of the warm-up and sets the total
number of steps so that training, one validation per epoch and checkpoints fit in the
budget counted from the call (data generation, worker start-up and validation-set
generation included).  The decision is stored in the checkpoint and ``config.json``;
re-running with ``epochs=`` and ``total_steps=`` from it reproduces the run exactly.

Reproducibility and resume
--------------------------
Everything random is a function of ``seed``: the initial weights (``torch.manual_seed``),
the fresh batches ((seed, epoch, batch) through the dataset seed scheme) and the order
of file rows (a permutation from ``numpy.random.SeedSequence([seed, epoch])``).
After every epoch ``last.pt`` is written atomically (weights, optimizer, step, epoch,
early-stopping state, history, RNG states, config); ``best.pt`` (weights and metadata)
whenever the validation loss improves.  ``resume=True`` continues from ``last.pt``: a
run killed at any point (mid-epoch or while writing) redoes at most the epoch in
progress and ends with the same weights as an uninterrupted run.  Bit-for-bit on CPU;
on CUDA it needs ``deterministic=True`` (cuDNN autotuning and atomics otherwise
change the last bits).

Multi-GPU: ``torchrun --nproc_per_node N -m anomgrad.cli train ...`` (DDP; NCCL on
CUDA, gloo on CPU).  ``batch_size`` is the global batch, split evenly over ranks; fresh
batches are split by class slices, file batches by interleaving rows, so N ranks see
the same trajectories per step as one process.  Validation is sharded and reduced.
Rank 0 writes every file.

Outputs in ``out``: ``config.json``, ``last.pt``, ``best.pt``, ``metrics.csv`` and
``metrics.json`` (one row per epoch: losses, accuracies, lr, samples/s, data wait),
``training.png``, ``summary.json``, and ``eval/`` when ``test=`` is given.

This module is callable: ``ag.train(...)`` is :func:`train`.
"""

from __future__ import annotations

import math
import os
import sys
import time
import types

import numpy as np
import torch
import torch.nn.functional as F

from . import _validate as V
from . import datasets as D
from .io import atomic_savefig, atomic_torch_save, atomic_write_csv, atomic_write_json
from .nn import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION, ResAnDi, load_state_dict_checked,
                 save_checkpoint)

RECIPES = {
    "paper": {
        "optimizer": "adam", "lr": 1e-4, "weight_decay": 0.0, "schedule": "step",
        "step_size": 10, "gamma": 0.5, "batch_size": 64, "epochs": 100, "patience": 10,
        "min_delta": 0.001, "amp": "none", "source": "files", "val_per_class": 10000,
        "epoch_samples": None, "warmup_steps": 0,
    },
    "fast": {
        "optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.05, "schedule": "cosine",
        "step_size": None, "gamma": None, "batch_size": 512, "epochs": 12, "patience": None,
        "min_delta": 0.0, "amp": "bf16", "source": "fresh", "val_per_class": 2000,
        "epoch_samples": 2**20, "warmup_steps": None,  # min(500, 10 % of the steps)
    },
}

RUN_FILES = ("config.json", "last.pt", "best.pt", "metrics.csv", "metrics.json",
             "training.png", "summary.json")
# Settings that may differ when resuming (they do not change the result).
_RESUME_FREE = ("device", "workers", "progress", "compile", "test", "generator")


class TrainError(ValueError):
    """A user error in the training setup (the message says what to change)."""




# ---------------------------------------------------------------------------------
# Distributed


class _Dist:
    def __init__(self):
        import torch.distributed as dist

        self.dist = dist
        self.created = False
        env_world = int(os.environ.get("WORLD_SIZE", "1"))
        self.on = dist.is_available() and (dist.is_initialized() or env_world > 1)
        self.rank = 0
        self.world = 1
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self._env_world = env_world

    def init(self, device_type: str) -> None:
        if not self.on:
            return
        if not self.dist.is_initialized():
            backend = "nccl" if device_type == "cuda" else "gloo"
            self.dist.init_process_group(backend)
            self.created = True
        self.rank = self.dist.get_rank()
        self.world = self.dist.get_world_size()

    def barrier(self):
        if self.on and self.world > 1:
            self.dist.barrier()

    def all_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.on and self.world > 1:
            self.dist.all_reduce(t)
        return t

    def broadcast_obj(self, obj):
        if self.on and self.world > 1:
            lst = [obj]
            self.dist.broadcast_object_list(lst, src=0)
            return lst[0]
        return obj

    def close(self):
        if self.created and self.dist.is_initialized():
            self.dist.destroy_process_group()


# ---------------------------------------------------------------------------------
# Data sources


def _seed_state(seed: int, *words) -> int:
    return int(np.random.SeedSequence([int(seed), *map(int, words)]).generate_state(1, np.uint64)[0])


class FreshBatches(torch.utils.data.Dataset):
    """Map-style dataset whose item ``(epoch, b)`` is this rank's share of fresh batch
    ``b`` of ``epoch``: for every class, ``per_rank`` raw trajectories of split "fresh",
    file = epoch, j = b * per_class + rank * per_rank + (0 .. per_rank - 1).

    Returns ``(x, T, label)``: raw positions (B, 2, 1000) float32 (first T valid), the
    lengths and the labels, as tensors; ``preprocess_torch`` turns them into inputs."""

    def __init__(self, family: str, seed: int, classes, per_class: int, rank: int = 0,
                 world: int = 1):
        self.family, self.seed, self.classes = family, seed, tuple(classes)
        self.per_class, self.rank, self.world = per_class, rank, world
        self.per_rank = per_class // world

    def __len__(self):  # not used by the sampler; a large nominal size
        return 2**31 - 1

    def __getitem__(self, item):
        epoch, b = item
        j0 = b * self.per_class + self.rank * self.per_rank
        parts = [D.generate_class(self.family, "fresh", epoch, c, j0, self.per_rank, self.seed)
                 for c in self.classes]
        x = np.concatenate([g["x"] for g in parts])
        T = np.concatenate([g["T"] for g in parts])
        y = np.concatenate([g["label"] for g in parts])
        return torch.from_numpy(x), torch.from_numpy(T), torch.from_numpy(y)

    def device_batch(self, epoch: int, b: int, device):
        """The same batch generated on ``device`` (``anomgrad.generate(device=...)``: the
        GPU path; "cpu" gives the CPU trajectories as tensors)."""
        dev = torch.device(device)
        j0 = b * self.per_class + self.rank * self.per_rank
        xs, Ts, ys = [], [], []
        for c in self.classes:
            g = D.generate_class(self.family, "fresh", epoch, c, j0, self.per_rank, self.seed,
                                 device="cpu" if dev.type == "cpu" else str(dev))
            xs.append(torch.from_numpy(g["x"]) if dev.type == "cpu" else g["x"])
            Ts.append(torch.from_numpy(g["T"]))
            ys.append(torch.full((self.per_rank,), c, dtype=torch.int64))
        return torch.cat(xs), torch.cat(Ts), torch.cat(ys)


class _EpochItems(torch.utils.data.Sampler):
    """Yields the items of the current epoch (set ``.epoch`` and ``.items`` before each
    pass); lives in the main process, so persistent workers need no notification."""

    def __init__(self):
        self.items = []

    def __iter__(self):
        return iter(list(self.items))

    def __len__(self):
        return len(self.items)


class H5Files(torch.utils.data.Dataset):
    """Several dataset files as one: item = an array of global row indices -> batch."""

    def __init__(self, paths, family):
        self.parts = [D.H5Dataset(p, family=family, split="train") for p in paths]
        self.sizes = np.array([len(p) for p in self.parts], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])

    def __len__(self):
        return int(self.offsets[-1])

    def __getitem__(self, idx):
        idx = np.asarray(idx, np.int64)
        which = np.searchsorted(self.offsets, idx, side="right") - 1
        x = torch.empty((idx.size, D.DIM, D.LENGTH), dtype=torch.float32)
        y = torch.empty(idx.size, dtype=torch.int64)
        for k in np.unique(which):
            sel = np.flatnonzero(which == k)
            xb, yb = self.parts[k][idx[sel] - self.offsets[k]]
            x[torch.from_numpy(sel)] = xb
            y[torch.from_numpy(sel)] = yb
        return x, y


def file_batches(n: int, batch: int, seed: int, epoch: int, rank: int, world: int):
    """This rank's row indices, batch by batch, for one epoch over ``n`` rows: a
    permutation from (seed, epoch), cut into global batches of ``batch``, each dealt
    to the ranks by interleaving.  With several ranks a last global batch with fewer
    rows than ranks is dropped."""
    rng = np.random.Generator(np.random.Philox(_seed_state(seed, 0x5EED, epoch)))
    perm = rng.permutation(n)
    out = []
    for s in range(0, n, batch):
        g = perm[s:s + batch]
        if world > 1 and g.size < world:
            break
        out.append(g[rank::world])
    return out


def _worker_init(_):
    # one Numba thread per worker: the workers are the parallelism
    import numba

    n = int(os.environ.get("ANOMGRAD_WORKER_THREADS") or 1)
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    torch.set_num_threads(1)


# ---------------------------------------------------------------------------------
# Config


def _resolve(recipe, family, data, val, test, epochs, batch_size, lr, weight_decay, seed,
             device, minutes, epoch_samples, val_per_class, workers, width, classes, amp,
             compile, deterministic, patience, min_delta, warmup_steps, total_steps,
             generator) -> dict:
    if recipe not in RECIPES:
        raise TrainError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    r = dict(RECIPES[recipe])
    family = D.check_family(family)
    cfg = {"recipe": recipe, "family": family, "seed": V.check_seed(seed)}

    def pick(name, value):
        return r[name] if value is None else value

    cfg["optimizer"] = r["optimizer"]
    cfg["schedule"] = r["schedule"]
    cfg["step_size"] = r["step_size"]
    cfg["gamma"] = r["gamma"]
    cfg["lr"] = float(pick("lr", lr))
    cfg["weight_decay"] = float(pick("weight_decay", weight_decay))
    if not (math.isfinite(cfg["lr"]) and cfg["lr"] > 0):
        raise TrainError(f"lr must be a positive number, got {cfg['lr']}")
    if not (math.isfinite(cfg["weight_decay"]) and cfg["weight_decay"] >= 0):
        raise TrainError(f"weight_decay must be >= 0, got {cfg['weight_decay']}")
    cfg["batch_size"] = V.check_int("batch_size", pick("batch_size", batch_size), 1)
    cfg["epochs"] = V.check_int("epochs", pick("epochs", epochs), 1, 2**24 - 1)
    cfg["epochs_given"] = epochs is not None
    cfg["patience"] = pick("patience", patience)
    if cfg["patience"] is not None:
        cfg["patience"] = V.check_int("patience", cfg["patience"], 1)
    cfg["min_delta"] = float(pick("min_delta", min_delta))
    if not (math.isfinite(cfg["min_delta"]) and cfg["min_delta"] >= 0):
        raise TrainError(f"min_delta must be >= 0, got {cfg['min_delta']}")
    cfg["warmup_steps"] = pick("warmup_steps", warmup_steps)
    if cfg["warmup_steps"] is not None:
        cfg["warmup_steps"] = V.check_int("warmup_steps", cfg["warmup_steps"], 0)
    cfg["total_steps"] = None if total_steps is None else V.check_int("total_steps",
                                                                       total_steps, 1)
    amp = pick("amp", amp)
    if amp not in ("bf16", "none"):
        raise TrainError(f"amp must be 'bf16' or 'none', got {amp!r}")
    cfg["amp"] = amp
    cfg["width"] = V.check_int("width", width, 1)
    cfg["compile"] = bool(compile)
    cfg["deterministic"] = deterministic
    if minutes is not None:
        minutes = float(minutes)
        if not (math.isfinite(minutes) and minutes > 0):
            raise TrainError(f"minutes must be a positive number, got {minutes}")
    cfg["minutes"] = minutes
    # data
    if data:
        if isinstance(data, (str, os.PathLike)):
            data = [data]
        cfg["source"] = "files"
        cfg["data"] = [os.path.abspath(os.fspath(p)) for p in data]
        if len(set(cfg["data"])) != len(cfg["data"]):
            raise TrainError("data: the same file is listed twice")
    else:
        if r["source"] == "files":
            raise TrainError(f"recipe {recipe!r} trains on dataset files: give data= (the "
                             f"train files of `anomgrad dataset --split train`)")
        cfg["source"] = "fresh"
        cfg["data"] = None
    cfg["val"] = None if val is None else os.path.abspath(os.fspath(val))
    cfg["test"] = None if test is None else os.path.abspath(os.fspath(test))
    cfg["val_per_class"] = V.check_int("val_per_class", pick("val_per_class", val_per_class),
                                       1, D.MAX_PER_CLASS)
    cfg["classes"] = list(D.check_classes(classes))
    if cfg["source"] == "fresh":
        es = V.check_int("epoch_samples", pick("epoch_samples", epoch_samples), 1)
        if cfg["batch_size"] % len(cfg["classes"]):
            raise TrainError(f"batch_size must be a multiple of the number of classes "
                             f"({len(cfg['classes'])}) for fresh batches, got {cfg['batch_size']}")
        spe = max(1, es // cfg["batch_size"])
        if spe * cfg["batch_size"] // len(cfg["classes"]) > D.MAX_PER_CLASS:
            raise TrainError(f"epoch_samples too large (at most 2**28 per class), got {es}")
        cfg["epoch_samples"] = spe * cfg["batch_size"]
    else:
        if epoch_samples is not None:
            raise TrainError("epoch_samples applies to fresh data only (an epoch over files "
                             "is one pass over all their rows)")
        cfg["epoch_samples"] = None
    if generator not in ("auto", "cpu", "cuda"):
        raise TrainError(f"generator must be 'auto', 'cpu' or 'cuda', got {generator!r}")
    cfg["generator"] = generator
    cfg["device"] = device
    cfg["workers"] = None if workers is None else V.check_int("workers", workers, 0)
    return cfg


def _identity(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in _RESUME_FREE}


# ---------------------------------------------------------------------------------
# Schedules


def lr_at(cfg: dict, step: int, epoch: int, total_steps: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based) in ``epoch``."""
    base = cfg["lr"]
    if cfg["schedule"] == "step":  # StepLR, stepped once per epoch
        return base * cfg["gamma"] ** (epoch // cfg["step_size"])
    w = cfg["warmup_steps"]
    if step < w:
        return base * (step + 1) / w
    span = max(1, total_steps - w)
    f = min(1.0, (step - w) / span)
    return base * 0.5 * (1.0 + math.cos(math.pi * f))


def _make_optimizer(cfg, model):
    if cfg["optimizer"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() > 1 else no_decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg["lr"])


# ---------------------------------------------------------------------------------
# Plots


def plot_history(history: list[dict], path, title: str = "") -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    ep = [h["epoch"] for h in history]
    ax1.plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    ax1.plot(ep, [h["val_loss"] for h in history], "s-", label="validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy loss")
    ax1.legend()
    ax2.plot(ep, [100 * h["train_acc"] for h in history], "o-", label="train")
    ax2.plot(ep, [100 * h["val_acc"] for h in history], "s-", label="validation")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.legend()
    from matplotlib.ticker import MaxNLocator

    for a in (ax1, ax2):
        a.grid(alpha=0.3)
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    atomic_savefig(fig, path)


# ---------------------------------------------------------------------------------
# train


def _default_device(dist: _Dist) -> str:
    if torch.cuda.is_available():
        return f"cuda:{dist.local_rank}" if dist.on else "cuda"
    return "cpu"


def _rng_state(device) -> dict:
    st = {"torch": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(torch.device(device))
    return st


def _set_rng_state(st: dict, device) -> None:
    if "torch" in st:
        torch.set_rng_state(st["torch"].cpu())
    if "cuda" in st and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(st["cuda"].cpu(), torch.device(device))


def train(out, family: str = "varying", recipe: str = "fast", *, data=None, val=None,
          test=None, epochs: int | None = None, batch_size: int | None = None,
          lr: float | None = None, weight_decay: float | None = None, seed: int = 0,
          device: str | None = None, resume: bool = False, overwrite: bool = False,
          minutes: float | None = None, epoch_samples: int | None = None,
          val_per_class: int | None = None, workers: int | None = None, width: int = 64,
          classes=None, amp: str | None = None, compile: bool = False,
          deterministic: bool | None = None, patience: int | None = None,
          min_delta: float | None = None, warmup_steps: int | None = None,
          total_steps: int | None = None, generator: str = "auto", progress: bool = True,
          callback=None, stop_after: int | None = None) -> dict:
    """Train ResAnDi; see the module docstring for recipes, outputs and resume.

    Parameters (None: the recipe's default)
    ----------
    out : run directory (created); weights, metrics and plots go there.
    family : "varying" or "fixed".
    recipe : "paper" or "fast".
    data : train dataset file(s) (``anomgrad dataset --split train``); None: fresh data
        (fast recipe).  val : validation file (else generated: ``val_per_class`` per
        class of split "val" under ``seed``).  test : a test file evaluated with
        ``best.pt`` at the end (written to ``out/eval``).
    epochs, batch_size (global), lr, weight_decay, patience, min_delta, warmup_steps.
    epoch_samples : fresh trajectories per epoch (fast: 2**20).
    minutes : time budget of the whole call; sets the number of steps (module docs).
    total_steps : fix the number of optimizer steps (a shorter last epoch).
    seed : everything random derives from it.
    device : "cuda", "cuda:N", "cpu" (default: CUDA when available).
    workers : DataLoader worker processes (default: 0 on CPU, up to 8 on CUDA).  They
        are started with "spawn": a script calling ``train`` with workers needs the
        ``if __name__ == "__main__":`` guard.
    width : network width (64 = ResAnDi; smaller only for tests).
    classes : train on a subset of the labels 0..7 (labels keep their values).
    amp : "bf16" (autocast, CUDA) or "none".  compile : ``torch.compile`` the model.
    deterministic : deterministic algorithms (default: on for CPU, off for CUDA).
    generator : "cpu" (worker processes), "cuda" (anomgrad's GPU generators, in the
        training process) or "auto" (cpu workers; cuda on a CUDA device with fewer than
        3 workers, when the CUDA generators work).
    resume : continue from ``out/last.pt`` (starts fresh when there is none).
    overwrite : delete a previous run in ``out`` first.
    callback : called as ``callback(info)`` after every optimizer step (info: epoch,
        step, batch, loss); an exception raised there aborts like a kill.
    stop_after : return after this many epochs of this call (as if killed after the
        checkpoint was written); the run can be resumed.

    Returns a dict: ``model`` (the final weights, unwrapped), ``history``,
    ``best_val_loss``, ``best_epoch``, ``epochs_completed``, ``stopped`` (why the loop
    ended), ``total_steps``, ``out``, ``config``.
    """
    dist = _Dist()
    cfg = _resolve(recipe, family, data, val, test, epochs, batch_size, lr, weight_decay, seed,
                   device, minutes, epoch_samples, val_per_class, workers, width, classes, amp,
                   compile, deterministic, patience, min_delta, warmup_steps, total_steps,
                   generator)
    t_start = time.perf_counter()
    dev = torch.device(device if device is not None else _default_device(dist))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainError(f"device {dev} requested but CUDA is not available to torch")
    det = cfg["deterministic"]
    if det is None:
        det = dev.type == "cpu"
    if det and dev.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if dev.type == "cuda" and dist.on:
        if dev.index is None:  # torchrun: one GPU per local rank
            dev = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(dev)
    dist.init(dev.type)
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_bench = torch.backends.cudnn.benchmark
    prev_cudnn_det = torch.backends.cudnn.deterministic
    prev_tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        # warn_only on CUDA: a kernel without a deterministic twin warns, not fails
        torch.use_deterministic_algorithms(bool(det), warn_only=dev.type == "cuda")
        torch.backends.cudnn.deterministic = bool(det)
        torch.backends.cudnn.benchmark = (not det) and dev.type == "cuda"
        if dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        return _train(cfg, dev, dist, out, resume, overwrite, progress, callback, stop_after,
                      t_start, det)
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_bench
        torch.backends.cudnn.deterministic = prev_cudnn_det
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = prev_tf32
        dist.close()


def _prepare_out(out, cfg, dist, resume, overwrite):
    """Create/check the run directory; returns the checkpoint to resume from or None."""
    out = os.fspath(out)
    last = os.path.join(out, "last.pt")
    if dist.rank == 0:
        if os.path.exists(out) and not os.path.isdir(out):
            raise TrainError(f"out: {out} exists and is not a directory")
        os.makedirs(out, exist_ok=True)
        for name in os.listdir(out):  # leftovers of writes interrupted by a kill
            if ".tmp" in name and name.split(".tmp")[0] in RUN_FILES:
                os.remove(os.path.join(out, name))
        if overwrite:
            for name in RUN_FILES:
                p = os.path.join(out, name)
                if os.path.exists(p):
                    os.remove(p)
        elif os.path.exists(last) and not resume:
            raise TrainError(f"{out} already holds a run (last.pt); use --resume to continue "
                             f"it, --overwrite to start over, or another --out")
    dist.barrier()
    if resume and os.path.exists(last):
        try:
            ck = torch.load(last, map_location="cpu", weights_only=True)
        except Exception as e:
            raise TrainError(f"{last}: cannot be read to resume ({type(e).__name__}: {e}); "
                             f"delete it or use --overwrite") from e
        if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
            raise TrainError(f"{last}: not an anomgrad training checkpoint")
        if int(ck.get("format_version", -1)) != CHECKPOINT_VERSION:
            raise TrainError(f"{last}: checkpoint format_version {ck.get('format_version')}, "
                             f"this anomgrad resumes version {CHECKPOINT_VERSION}")
        have = _identity(ck["config"])
        want = _identity(cfg)
        # a run planned by a time budget keeps its planned steps
        diff = [k for k in set(have) | set(want)
                if have.get(k) != want.get(k) and not (k in ("total_steps", "epochs")
                                                       and ck.get("planned"))]
        if diff:
            shown = "; ".join(f"{k}: checkpoint {have.get(k)!r}, requested {want.get(k)!r}"
                              for k in sorted(diff))
            raise TrainError(f"{last} was made with different settings ({shown}); resume "
                             f"with the same arguments, or use --overwrite / another --out")
        return ck
    return None


def _make_val(cfg, dist):
    if cfg["val"] is not None:
        d = D.load(cfg["val"], fields=("x", "label"), family=cfg["family"], split="val")
        x, y = d["x"], d["label"]
    else:
        d = D.resandi(cfg["family"], "val", cfg["val_per_class"], cfg["seed"],
                      classes=cfg["classes"], z=False)
        x, y = d["x"], d["label"]
    sel = slice(dist.rank, None, dist.world)
    return torch.from_numpy(np.ascontiguousarray(x[sel])), torch.from_numpy(y[sel]), len(y)


def _evaluate_set(model, xv, yv, dev, amp, dist, batch=1024):
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=dev)
    correct = torch.zeros((), dtype=torch.float64, device=dev)
    count = torch.zeros((), dtype=torch.float64, device=dev)
    with torch.no_grad():
        for s in range(0, xv.shape[0], batch):
            xb = xv[s:s + batch].to(dev, non_blocking=True)
            yb = yv[s:s + batch].to(dev, non_blocking=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(xb)
            logits = logits.float()
            loss += F.cross_entropy(logits, yb, reduction="sum").double()
            correct += (logits.argmax(1) == yb).sum().double()
            count += yb.numel()
    t = dist.all_sum(torch.stack([loss, correct, count]))
    n = max(1.0, float(t[2]))
    return float(t[0]) / n, float(t[1]) / n


def _train(cfg, dev, dist, out, resume, overwrite, progress, callback, stop_after, t_start,
           det):
    rank, world = dist.rank, dist.world
    show = progress and rank == 0
    out = os.fspath(out)

    # ---- data ---------------------------------------------------------------------
    if cfg["source"] == "fresh":
        ncls = len(cfg["classes"])
        if cfg["batch_size"] % (ncls * world):
            raise TrainError(f"batch_size {cfg['batch_size']} must be a multiple of classes x "
                             f"ranks = {ncls} x {world} for fresh batches")
        spe = cfg["epoch_samples"] // cfg["batch_size"]
        fresh = FreshBatches(cfg["family"], cfg["seed"], cfg["classes"],
                             cfg["batch_size"] // ncls, rank, world)
        files = None
    else:
        infos = [D.inspect(p, family=cfg["family"], split="train") for p in cfg["data"]]
        cls = {tuple(i["params"]["classes"]) for i in infos}
        if len(cls) > 1:
            raise TrainError("data: the train files hold different class subsets")
        ids = [(i["params"]["seed"], i["params"]["file"]) for i in infos]
        if len(set(ids)) != len(ids):
            raise TrainError("data: two train files have the same seed and file number (the "
                             "same trajectories)")
        cfg["classes"] = list(next(iter(cls)))
        files = H5Files(cfg["data"], cfg["family"])
        n_train = len(files)
        spe = len(file_batches(n_train, cfg["batch_size"], cfg["seed"], 0, 0, world))
        fresh = None
    if cfg["warmup_steps"] is None:  # fast recipe: 500 steps, or 10 % of a short run
        nominal = cfg["total_steps"] or cfg["epochs"] * spe
        cfg["warmup_steps"] = min(500, max(1, nominal // 10))
    ck = _prepare_out(out, cfg, dist, resume, overwrite)
    xv, yv, n_val = _make_val(cfg, dist)
    if dev.type == "cuda":  # kept on the GPU for the per-epoch validation
        xv, yv = xv.to(dev), yv.to(dev)

    # ---- model, optimizer -------------------------------------------------------------
    torch.manual_seed(cfg["seed"])
    model = ResAnDi(width=cfg["width"]).to(dev)
    opt = _make_optimizer(cfg, model)
    history, best_loss, best_epoch, bad, start_epoch, step = [], None, None, 0, 0, 0
    planned = False
    total = cfg["total_steps"] or cfg["epochs"] * spe
    if ck is not None:
        load_state_dict_checked(model, ck["model"], os.path.join(out, "last.pt"))
        opt.load_state_dict(ck["optimizer"])
        history = list(ck["history"])
        es = ck["early_stopping"]
        best_loss, best_epoch, bad = es["best_val_loss"], es["best_epoch"], es["bad_epochs"]
        start_epoch, step = int(ck["epoch"]), int(ck["step"])
        total = int(ck["total_steps"])
        planned = bool(ck.get("planned"))
        _set_rng_state(ck.get("rng", {}), dev)
        if ck.get("stopped") in ("early_stopping", "time_budget"):
            start_epoch = 10**9  # finished: nothing left to do
    n_epochs = math.ceil(total / spe)
    amp = cfg["amp"] == "bf16" and dev.type == "cuda"
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    if cfg["compile"]:
        net = torch.compile(net)

    # ---- loaders --------------------------------------------------------------------
    nworkers = cfg["workers"]
    if nworkers is None:
        ncpu = os.cpu_count() or 1
        nworkers = 0 if dev.type == "cpu" else max(1, min(8, ncpu // world - 1))
    gen_backend = cfg["generator"]
    if fresh is not None and gen_backend == "auto":
        # CPU workers overlap completely with training; generating on the GPU in the
        # training process costs GPU time and host syncs, so it is the choice only
        # when there are few CPU cores per GPU
        gen_backend = "cpu"
        if dev.type == "cuda" and nworkers < 3:
            try:
                from .generate import generate

                generate("bm", 8, 16, None, 2, 0, device=str(dev))
                gen_backend = "cuda"
            except Exception:  # no CUDA generators in this build: CPU workers
                gen_backend = "cpu"
    sampler = _EpochItems()
    loader = None
    if fresh is None or gen_backend == "cpu":
        kw = {}
        if nworkers > 0:
            import multiprocessing as mp

            kw = dict(num_workers=nworkers, multiprocessing_context=mp.get_context("spawn"),
                      persistent_workers=True, prefetch_factor=4, worker_init_fn=_worker_init)
        loader = torch.utils.data.DataLoader(fresh if fresh is not None else files,
                                             batch_size=None, sampler=sampler,
                                             pin_memory=dev.type == "cuda", **kw)

    def batches(epoch, nsteps):
        if fresh is not None:
            sampler.items = [(epoch, b) for b in range(nsteps)]
        else:
            sampler.items = file_batches(n_train, cfg["batch_size"], cfg["seed"], epoch,
                                         rank, world)[:nsteps]
        if loader is None:  # GPU generation in this process
            for e, b in sampler.items:
                x, T, y = fresh.device_batch(e, b, dev)
                yield D.preprocess_torch(x.to(dev), T.to(dev), check=False), y.to(dev)
            return
        for item in loader:
            if fresh is not None:
                x, T, y = item
                x = D.preprocess_torch(x.to(dev, non_blocking=True),
                                       T.to(dev, non_blocking=True), check=False)
            else:
                x, y = item
                x = x.to(dev, non_blocking=True)
            yield x, y.to(dev, non_blocking=True)

    # ---- config.json ------------------------------------------------------------------
    cfg_out = dict(cfg, device=str(dev), world_size=world, workers=nworkers,
                   generator=gen_backend, deterministic=bool(det), steps_per_epoch=spe,
                   n_val=n_val, n_train=None if files is None else len(files),
                   torch_version=str(torch.__version__))
    if rank == 0:
        atomic_write_json(os.path.join(out, "config.json"), cfg_out)

    def checkpoint(epoch_done, stopped=None):
        if rank != 0:
            return
        from . import __version__

        state = {
            "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
            "arch": model.config, "family": cfg["family"], "classes": cfg["classes"],
            "recipe": cfg["recipe"], "config": cfg, "planned": planned,
            "epoch": epoch_done, "step": step, "total_steps": total, "steps_per_epoch": spe,
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "early_stopping": {"best_val_loss": best_loss, "best_epoch": best_epoch,
                               "bad_epochs": bad},
            "history": history, "rng": _rng_state(dev), "stopped": stopped,
            "anomgrad_version": str(__version__), "torch_version": str(torch.__version__),
        }
        atomic_torch_save(state, os.path.join(out, "last.pt"))

    def save_best(epoch_done, val_loss, val_acc):
        if rank != 0:
            return
        save_checkpoint(os.path.join(out, "best.pt"), model, cfg["family"],
                        classes=cfg["classes"], recipe=cfg["recipe"], config=cfg,
                        epoch=epoch_done, step=step, val_loss=val_loss, val_acc=val_acc)

    def write_metrics():
        if rank != 0 or not history:
            return
        atomic_write_csv(os.path.join(out, "metrics.csv"), history)
        atomic_write_json(os.path.join(out, "metrics.json"),
                          {"config": cfg_out, "history": history})
        plot_history(history, os.path.join(out, "training.png"),
                     f"ResAnDi, {cfg['family']} T, recipe {cfg['recipe']}")

    # ---- loop ------------------------------------------------------------------------
    stopped = None
    epochs_this_call = 0
    budget = None if cfg["minutes"] is None else 60.0 * cfg["minutes"]
    t_warm = None
    epoch = start_epoch
    while epoch < n_epochs:
        nsteps = min(spe, total - epoch * spe)
        if nsteps <= 0:
            break
        net.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        corr_sum = torch.zeros((), dtype=torch.float64, device=dev)
        seen = torch.zeros((), dtype=torch.float64, device=dev)
        t0 = time.perf_counter()
        wait = 0.0
        from tqdm import tqdm

        bar = tqdm(total=nsteps, disable=not show, desc=f"epoch {epoch + 1}/{n_epochs}",
                   unit="step", mininterval=1.0, file=sys.stderr, leave=False)
        it = batches(epoch, nsteps)
        for b in range(nsteps):
            tw = time.perf_counter()
            try:
                x, y = next(it)
            except StopIteration:
                break
            wait += time.perf_counter() - tw
            lr = lr_at(cfg, step, epoch, total)
            for g in opt.param_groups:
                g["lr"] = lr
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                logits = net(x)
            loss = F.cross_entropy(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            with torch.no_grad():
                loss_sum += loss.detach().double() * y.numel()
                corr_sum += (logits.detach().argmax(1) == y).sum().double()
                seen += y.numel()
            if callback is not None:
                callback({"epoch": epoch, "step": step, "batch": b, "loss": loss.detach()})
            bar.update(1)
            if show and (b % 50 == 0 or b == nsteps - 1):
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}", lr=f"{lr:.2e}")
            # time budget: plan the total steps at the end of the warm-up
            if (budget is not None and not planned and cfg["total_steps"] is None):
                half = max(1, cfg["warmup_steps"] // 2)
                if step == half:
                    if dev.type == "cuda":
                        torch.cuda.synchronize(dev)
                    t_warm = time.perf_counter()
                elif step == max(cfg["warmup_steps"], half + 1) and t_warm is not None:
                    if dev.type == "cuda":
                        torch.cuda.synchronize(dev)
                    # checkpoint: weights + two Adam moments, written at ~200 MB/s
                    nbytes = 12 * sum(p.numel() for p in model.parameters())
                    total = _plan_total(cfg, step, half, t_warm, t_start, budget, spe,
                                        n_val, world, save_seconds=0.5 + nbytes / 2e8)
                    total = int(dist.broadcast_obj(total))
                    planned = True
                    if rank == 0:
                        cfg_out["planned_total_steps"] = total
                        atomic_write_json(os.path.join(out, "config.json"), cfg_out)
                    n_epochs = math.ceil(total / spe)
                    nsteps_new = min(spe, total - epoch * spe)
                    if nsteps_new < nsteps:
                        nsteps = nsteps_new
                        bar.total = nsteps
                    if b + 1 >= nsteps:
                        break
        bar.close()
        del it
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t_train = time.perf_counter() - t0
        tr = dist.all_sum(torch.stack([loss_sum, corr_sum, seen]))
        if world > 1:  # BN running statistics: each rank's last batches -> their mean
            for buf in model.buffers():
                if buf.is_floating_point():
                    dist.all_sum(buf.data)
                    buf.data /= world
        # the unwrapped model: DDP's per-forward buffer broadcast would need equal
        # numbers of validation batches on every rank (buffers are equal anyway)
        val_loss, val_acc = _evaluate_set(model, xv, yv, dev, amp, dist)
        epoch += 1
        improved = best_loss is None or val_loss <= best_loss - cfg["min_delta"]
        if improved:
            best_loss, best_epoch, bad = val_loss, epoch, 0
        else:
            bad += 1
        n_seen = float(tr[2])
        history.append({
            "epoch": epoch, "step": step, "lr": lr_at(cfg, step - 1, epoch - 1, total),
            "train_loss": float(tr[0]) / max(1.0, n_seen), "train_acc": float(tr[1]) / max(1.0, n_seen),
            "val_loss": val_loss, "val_acc": val_acc, "improved": bool(improved),
            "samples": int(n_seen), "train_seconds": round(t_train, 3),
            "samples_per_s": round(n_seen / t_train, 1) if t_train > 0 else None,
            "data_wait_seconds": round(wait, 3),
            "epoch_seconds": round(time.perf_counter() - t0, 3),
            "elapsed_seconds": round(time.perf_counter() - t_start, 3),
        })
        if cfg["patience"] is not None and bad >= cfg["patience"]:
            stopped = "early_stopping"
        elif budget is not None and epoch < n_epochs:
            per_epoch = history[-1]["epoch_seconds"] + 2.0
            if time.perf_counter() - t_start + per_epoch > budget * 1.02:
                stopped = "time_budget"
        if improved:
            save_best(epoch, val_loss, val_acc)
        checkpoint(epoch, stopped)
        write_metrics()
        if show:
            h = history[-1]
            print(f"epoch {epoch}/{n_epochs}: train loss {h['train_loss']:.4f} acc "
                  f"{100 * h['train_acc']:.2f}% | val loss {val_loss:.4f} acc "
                  f"{100 * val_acc:.2f}%{' *' if improved else ''} | "
                  f"{h['samples_per_s']:.0f} samples/s", file=sys.stderr, flush=True)
        epochs_this_call += 1
        if stopped:
            break
        if stop_after is not None and epochs_this_call >= stop_after:
            stopped = "stop_after"
            break
    if stopped is None:
        stopped = "completed" if history else "nothing_to_do"
        if ck is not None and ck.get("stopped") in ("early_stopping", "time_budget"):
            stopped = ck["stopped"]
    dist.barrier()
    summary = {
        "stopped": stopped, "epochs_completed": len(history), "total_steps": total,
        "steps_per_epoch": spe, "best_val_loss": best_loss, "best_epoch": best_epoch,
        "best_val_acc": next((h["val_acc"] for h in history if h["epoch"] == best_epoch), None),
        "final_val_acc": history[-1]["val_acc"] if history else None,
        "wall_seconds_this_call": round(time.perf_counter() - t_start, 3),
        "train_seconds_total": round(sum(h["train_seconds"] for h in history), 3),
        "mean_samples_per_s": (round(sum(h["samples"] for h in history)
                                     / max(1e-9, sum(h["train_seconds"] for h in history)), 1)
                               if history else None),
        "device": str(dev), "world_size": world,
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
    }
    if rank == 0 and stopped != "stop_after":
        atomic_write_json(os.path.join(out, "summary.json"), summary)
        if cfg["test"] is not None and os.path.exists(os.path.join(out, "best.pt")):
            from .evaluate import evaluate

            res = evaluate(os.path.join(out, "best.pt"), cfg["test"],
                           out=os.path.join(out, "eval"), device=str(dev), progress=show)
            summary["test_accuracy"] = res["accuracy"]
            summary["test_macro_f1"] = res["macro_f1"]
            atomic_write_json(os.path.join(out, "summary.json"), summary)
    dist.barrier()
    return {"model": model, "history": history, "best_val_loss": best_loss,
            "best_epoch": best_epoch, "epochs_completed": len(history), "stopped": stopped,
            "total_steps": total, "out": out, "config": cfg_out, "summary": summary}


def _plan_total(cfg, step, half, t_warm, t_start, budget, spe, n_val, world,
                now: float | None = None, save_seconds: float = 2.0) -> int:
    """Total optimizer steps that fit in the budget (see the module docstring): steps
    half..step took now - t_warm seconds; what is left of the budget goes to steps plus,
    per epoch of ``spe`` steps, one validation (a sample costs about a third of a
    training sample) and ``save_seconds`` for the checkpoint, metrics and plot."""
    now = time.perf_counter() if now is None else now
    dt = max(1e-9, (now - t_warm) / max(1, step - half))  # seconds per step
    left = budget - (now - t_start)
    per_epoch = (n_val / world) / cfg["batch_size"] * dt / 3.0 + save_seconds
    steps_left = left / (dt + per_epoch / spe)
    total = step + max(0, int(steps_left))
    if cfg["epochs_given"]:
        total = min(total, cfg["epochs"] * spe)
    return max(step, total)


# ``ag.train(...)``: make this module callable.
class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["RECIPES", "FreshBatches", "H5Files", "TrainError", "file_batches", "lr_at",
           "plot_history", "train"]
