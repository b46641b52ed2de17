"""Training ResAnDi: ``ag.train(...)`` and ``anomgrad train`` (docs/resandi.md §3).

The recipes (``paper``, ``fast``) are in :mod:`.recipes`; the schedules and the time
budget in :mod:`.schedule`; the data sources in :mod:`.data`; checkpoints and resume in
:mod:`.state`; several processes in :mod:`.distributed`; the loop in :mod:`.loop`.

Everything random is a function of ``seed``: the initial weights
(``torch.manual_seed``), the fresh batches ((seed, epoch, batch) through the dataset
seed scheme) and the order of file rows (a permutation from
``numpy.random.SeedSequence([seed, 0x5EED, epoch])``).

Outputs in ``out``: ``config.json``, ``last.pt``, ``best.pt``, ``metrics.csv`` and
``metrics.json`` (one row per epoch: losses, accuracies, lr, samples/s, data wait),
``training.png``, ``summary.json``, and ``eval/`` when ``test=`` is given.

This package is callable: ``ag.train(...)`` is :func:`train`.
"""

from __future__ import annotations

import os
import time

import numba
import torch

from ..._callable import make_callable
from .data import FreshBatches, H5Files, file_batches
from .distributed import Dist
from .loop import Run
from .recipes import RECIPES, Recipe, TrainError, identity, resolve
from .schedule import lr_at, plan_total
from .state import plot_history


def _default_device(dist: Dist) -> str:
    if torch.cuda.is_available():
        return f"cuda:{dist.local_rank}" if dist.on else "cuda"
    return "cpu"


def train(out, family: str = "varying", recipe: str = "fast", *, data=None, val=None,
          test=None, epochs: int | None = None, batch_size: int | None = None,
          lr: float | None = None, weight_decay: float | None = None, seed: int = 0,
          device: str | None = None, resume: bool = False, overwrite: bool = False,
          minutes: float | None = None, epoch_samples: int | None = None,
          val_per_class: int | None = None, workers: int | None = None, width: int = 64,
          classes=None, amp: str | None = None, compile: bool = False,
          deterministic: bool | None = None, patience: int | None = None,
          min_delta: float | None = None, warmup_steps: int | None = None,
          total_steps: int | None = None, generator: str = "auto",
          batch_order: str | None = None, bn_batches: int | None = None,
          threads: int | None = None, progress: bool = True,
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
    amp : "auto" (bf16 autocast where the hardware computes bf16 natively: CUDA, or a CPU
        with avx512_bf16/AMX; fp32 elsewhere), "bf16" or "none" (fp32).  The stem is
        always fp32.  compile : ``torch.compile`` the model.
    bn_batches : batches of precise BN at the end of every epoch (default: 2 % of an
        epoch's trajectories, 4 to 48 batches of 64 per class).
    threads : CPU threads of torch and Numba during the call (default: as they are).
    deterministic : deterministic algorithms (default: on for CPU, off for CUDA).
    batch_order : dataset files only: "files" (in turn, rows shuffled within each: the
        published training, the paper recipe's default) or "global" (one permutation over
        all rows, the fast recipe's).
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
    dist = Dist()
    cfg = resolve(recipe, family, data=data, val=val, test=test, epochs=epochs,
                  batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                  device=device, minutes=minutes, epoch_samples=epoch_samples,
                  val_per_class=val_per_class, workers=workers, width=width, classes=classes,
                  amp=amp, compile=compile, deterministic=deterministic, patience=patience,
                  min_delta=min_delta, warmup_steps=warmup_steps, total_steps=total_steps,
                  generator=generator, batch_order=batch_order, bn_batches=bn_batches,
                  threads=threads)
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
    prev_threads = (torch.get_num_threads(), numba.get_num_threads())
    try:
        if cfg["threads"] is not None:
            torch.set_num_threads(cfg["threads"])
            numba.set_num_threads(min(cfg["threads"], numba.config.NUMBA_NUM_THREADS))
        # warn_only on CUDA: a kernel without a deterministic twin warns, not fails
        torch.use_deterministic_algorithms(bool(det), warn_only=dev.type == "cuda")
        torch.backends.cudnn.deterministic = bool(det)
        torch.backends.cudnn.benchmark = (not det) and dev.type == "cuda"
        if dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        return Run(cfg, dev, dist, out, resume=resume, overwrite=overwrite, progress=progress,
                   callback=callback, stop_after=stop_after, t_start=t_start, det=det).run()
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_bench
        torch.backends.cudnn.deterministic = prev_cudnn_det
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = prev_tf32
        torch.set_num_threads(prev_threads[0])
        numba.set_num_threads(prev_threads[1])
        dist.close()


make_callable(__name__, train)

__all__ = ["RECIPES", "FreshBatches", "H5Files", "Recipe", "TrainError", "file_batches",
           "identity", "lr_at", "plan_total", "plot_history", "resolve", "train"]
