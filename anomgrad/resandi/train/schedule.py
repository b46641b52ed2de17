"""Learning-rate schedules, the optimizer, and the time budget that fixes a run's number
of steps.

Time budget (``minutes``), counted from the start of the call (validation-set
generation, worker start-up and data generation included):

1. **Plan early.**  The first step is not timed (allocation, autotuning); once at least
   three more steps and :data:`PROBE_SECONDS` (or 2 % of the budget, if less) have
   passed, rank 0 measures the time per step and fixes the total number of steps so that
   training, one validation per epoch, checkpoints and the last metrics fit in what is
   left.  The warm-up is shortened to fit: at most a tenth of the planned steps.
2. **Re-plan once.**  When a fifth of the planned training time has passed, the time per
   step is measured again over the steps since the plan; if it is off by more than 10 %,
   the total is planned again (the cosine decay then ends at the new last step).
3. **Stop cleanly.**  Before every step, if the time left could not cover one more step
   plus the validation, the checkpoint and the metrics, the epoch ends there: validation,
   ``last.pt``, ``best.pt`` and ``summary.json`` are written and the run stops with
   ``stopped = "time_budget"``.  The evaluation of ``test=`` comes after the budget.

The plan is stored in the checkpoint and ``config.json`` (``planned_total_steps``);
re-running with ``total_steps=`` from it reproduces the schedule exactly.
"""

from __future__ import annotations

import math

import torch


def lr_at(cfg, step: int, epoch: int, total_steps: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based) in ``epoch``."""
    base = cfg.lr
    if cfg.schedule == "step":  # StepLR, stepped once per epoch
        return base * cfg.gamma ** (epoch // cfg.step_size)
    w = cfg.warmup_steps
    if step < w:
        return base * (step + 1) / w
    span = max(1, total_steps - w)
    f = min(1.0, (step - w) / span)
    return base * 0.5 * (1.0 + math.cos(math.pi * f))


def make_optimizer(cfg, model):
    """Adam (paper) or AdamW with weight decay on conv and linear weights only (fast)."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() > 1 else no_decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)


PROBE_SECONDS = 3.0  # time per step measured over at least this long before planning
REPLAN_TOLERANCE = 0.10  # re-plan when the measured time per step is off by more


def plan_total(cfg, step, dt, left, spe, n_forward, world, save_seconds: float = 2.0) -> int:
    """Total optimizer steps that fit in ``left`` seconds after ``step`` steps at ``dt``
    seconds per step: what is left goes to steps plus, per epoch of ``spe`` steps, the
    ``n_forward`` trajectories of precise BN and validation, shared by ``world`` ranks
    (a trajectory forward costs about a third of a training one), and ``save_seconds``
    for the checkpoint, metrics and plot."""
    dt = max(1e-9, dt)
    per_epoch = (n_forward / world) / cfg.batch_size * dt / 3.0 + save_seconds
    steps_left = (left - per_epoch) / (dt + per_epoch / spe)
    total = step + max(0, int(steps_left))
    if cfg.epochs_given:
        total = min(total, cfg.epochs * spe)
    return max(step, total)


def warmup_for(total: int, nominal: int) -> int:
    """The warm-up of a planned run: the nominal one, at most a tenth of the steps."""
    return max(1, min(nominal, total // 10))


class Budget:
    """When to plan, re-plan and stop a run with a time budget (module docstring).

    After every optimizer step ``n``: if ``due(n, now)`` (cheap), synchronize the device
    and call ``measure(n, now)``, which returns "plan" or "replan" when the total should
    be set from :attr:`dt` (seconds per step), else None.  ``out_of_time(now, reserve)``
    says whether one more step and the ``reserve`` would overrun.
    """

    def __init__(self, seconds: float, t_start: float, planned: bool):
        self.seconds, self.t_start = float(seconds), t_start
        self.probe = min(PROBE_SECONDS, 0.02 * self.seconds)
        self.phase = "planned" if planned else "probe"  # probe -> planned -> final
        self.t0 = self.n0 = self.dt = None
        self.replan_after = 0.0

    def left(self, now: float) -> float:
        return self.seconds - (now - self.t_start)

    def due(self, n: int, now: float) -> bool:
        if self.t0 is None:
            return True  # the first step: start timing after it
        if self.phase == "probe":
            return n - self.n0 >= 3 and now - self.t0 >= self.probe
        return self.phase == "planned" and self.dt is not None and n > self.n0 and \
            now - self.t0 >= max(self.probe, self.replan_after)

    def measure(self, n: int, now: float):
        if self.t0 is None:
            self.t0, self.n0 = now, n
            return None
        dt = (now - self.t0) / max(1, n - self.n0)
        if self.phase == "probe":
            self.dt, self.phase, self.t0, self.n0 = dt, "planned", now, n
            self.replan_after = 0.2 * max(0.0, self.left(now))
            return "plan"
        self.phase = "final"
        off = abs(dt / self.dt - 1.0) > REPLAN_TOLERANCE
        self.dt = dt
        return "replan" if off else None

    def out_of_time(self, now: float, reserve: float) -> bool:
        return self.left(now) < (self.dt or 0.0) + reserve


__all__ = ["Budget", "PROBE_SECONDS", "lr_at", "make_optimizer", "plan_total", "warmup_for"]
