"""Learning-rate schedules, the optimizer, and the time budget that fixes a run's number
of steps.

Time budget (``minutes``): the warm-up length is fixed in steps; at its end, rank 0
measures the steps per second of the second half of the warm-up and sets the total
number of steps so that training, one validation per epoch and checkpoints fit in the
budget counted from the call (data generation, worker start-up and validation-set
generation included).  The decision is stored in the checkpoint and ``config.json``;
re-running with ``epochs=`` and ``total_steps=`` from it reproduces the run exactly.
"""

from __future__ import annotations

import math
import time

import torch


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



def make_optimizer(cfg, model):
    """Adam (paper) or AdamW with weight decay on conv and linear weights only (fast)."""
    if cfg["optimizer"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() > 1 else no_decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg["lr"])



def plan_total(cfg, step, half, t_warm, t_start, budget, spe, n_val, world,
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


__all__ = ["lr_at", "make_optimizer", "plan_total"]
