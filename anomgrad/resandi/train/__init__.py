"""Training ResAnDi: ``ag.train(...)`` and ``anomgrad train`` (docs/resandi.md §3).

The recipes (``paper``, ``fast``) and the run configuration are in
:mod:`anomgrad.resandi.recipes`; the schedules and the time
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

from .data import FreshBatches, H5Files, file_batches
from .distributed import Dist
from .loop import Run
from ..recipes import RECIPES, Recipe, TrainConfig, TrainError, identity, option_fields, resolve
from .schedule import lr_at, plan_total
from .state import plot_history


def _default_device(dist: Dist) -> str:
    if torch.cuda.is_available():
        return f"cuda:{dist.local_rank}" if dist.on else "cuda"
    return "cpu"


def train(out, family: str = "varying", recipe: str = "fast", *,
          config: TrainConfig | None = None, resume: bool = False, overwrite: bool = False,
          progress: bool = True, callback=None, stop_after: int | None = None,
          **options) -> dict:
    """Train ResAnDi; see the module docstring for recipes, outputs and resume.

    out : run directory (created); weights, metrics and plots go there.
    family, recipe, **options : the run's :class:`TrainConfig` (listed below; None or
        left out: the recipe's value).  config : a whole TrainConfig instead (options
        then override its fields).
    resume : continue from ``out/last.pt`` (starts fresh when there is none).
    overwrite : delete a previous run in ``out`` first.
    progress : progress bars and one line per epoch on stderr.
    callback : called as ``callback(info)`` after every optimizer step (info: epoch,
        step, batch, loss); an exception raised there aborts like a kill.
    stop_after : return after this many epochs of this call (as if killed after the
        checkpoint was written); the run can be resumed.
    DataLoader workers are started with "spawn": a script calling ``train`` with
    ``workers`` needs the ``if __name__ == "__main__":`` guard.

    Returns a dict: ``model`` (the final weights, unwrapped), ``history``,
    ``best_val_loss``, ``best_epoch``, ``epochs_completed``, ``stopped`` (why the loop
    ended), ``total_steps``, ``out``, ``config``.
    """
    dist = Dist()
    if config is None:
        cfg = TrainConfig(family=family, recipe=recipe, **options)
    else:
        cfg = config.replace(**options)
    t_start = time.perf_counter()
    dev = torch.device(cfg.device if cfg.device is not None else _default_device(dist))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainError(f"device {dev} requested but CUDA is not available to torch")
    det = cfg.deterministic
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
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
            numba.set_num_threads(min(cfg.threads, numba.config.NUMBA_NUM_THREADS))
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


train.__doc__ += "\n    Options (TrainConfig)\n    ---------------------\n" + "\n".join(
    f"    {f.name} : {f.metadata['help']}." for f in option_fields())

__all__ = ["RECIPES", "FreshBatches", "H5Files", "Recipe", "TrainConfig", "TrainError", "file_batches",
           "identity", "lr_at", "plan_total", "plot_history", "resolve", "train"]
