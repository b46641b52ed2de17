"""The training loop: one :class:`Run` sets up data, model and optimizer (or resumes
them from ``last.pt``), trains epoch by epoch, validates, keeps the checkpoints and
metrics, and ends with ``summary.json`` (and the test evaluation when asked)."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from ..._version import __version__
from ...generate import generate
from ...io.atomic import atomic_torch_save, atomic_write_csv, atomic_write_json
from .. import datasets as D
from ..evaluate import evaluate
from ..nn import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION, ResAnDi, load_state_dict_checked,
                  save_checkpoint)
from ..precision import autocast, precision_name, use_bf16
from ..recipes import TrainError
from .data import (NOISE_TRAIN, EpochItems, FreshBatches, H5Files, file_batches, make_val,
                   noise_for, worker_init)
from .precise_bn import BN_MAX_BATCHES, BN_MIN_BATCHES, BN_PER_CLASS, recalibrate_bn
from .schedule import Budget, lr_at, make_optimizer, plan_total, warmup_for
from .state import plot_history, prepare_out, rng_state, set_rng_state


def evaluate_set(model, xv, yv, dev, amp, dist, batch=1024):
    """Mean cross-entropy and accuracy of ``model`` on this rank's validation share,
    reduced over ranks."""
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=dev)
    correct = torch.zeros((), dtype=torch.float64, device=dev)
    count = torch.zeros((), dtype=torch.float64, device=dev)
    with torch.no_grad():
        for s in range(0, xv.shape[0], batch):
            xb = xv[s:s + batch].to(dev, non_blocking=True)
            yb = yv[s:s + batch].to(dev, non_blocking=True)
            with autocast(dev, amp):
                logits = model(xb)
            logits = logits.float()
            loss += F.cross_entropy(logits, yb, reduction="sum").double()
            correct += (logits.argmax(1) == yb).sum().double()
            count += yb.numel()
    t = dist.all_sum(torch.stack([loss, correct, count]))
    n = max(1.0, float(t[2]))
    return float(t[0]) / n, float(t[1]) / n


class Run:
    """One call of :func:`anomgrad.train` after its arguments are resolved."""

    def __init__(self, cfg, dev, dist, out, *, resume, overwrite, progress, callback,
                 stop_after, t_start, det):
        self.cfg, self.dev, self.dist = cfg, dev, dist
        self.rank, self.world = dist.rank, dist.world
        self.show = progress and self.rank == 0
        self.out = os.fspath(out)
        self.callback, self.stop_after, self.t_start, self.det = callback, stop_after, t_start, det
        self._setup_data()
        cfg = self.cfg  # with what the data decide (classes, warm-up, precise-BN batches)
        self.ck = prepare_out(self.out, cfg, dist, resume, overwrite)
        self.xv, self.yv, self.n_val = make_val(cfg, dist)
        if dev.type == "cuda":  # kept on the GPU for the per-epoch validation
            self.xv, self.yv = self.xv.to(dev), self.yv.to(dev)
        self._setup_model()
        self.budget = None if cfg.minutes is None else Budget(
            60.0 * cfg.minutes, t_start, planned=self.planned or cfg.total_steps is not None)
        self.nominal_warmup = self.cfg.warmup_steps  # as resumed
        self.out_of_time = False
        self._setup_loader()
        self.cfg_out = dict(self.cfg.to_dict(), device=str(dev), world_size=self.world,
                            workers=self.nworkers,
                            generator=self.gen_backend, deterministic=bool(det),
                            steps_per_epoch=self.spe, n_val=self.n_val,
                            n_train=None if self.files is None else len(self.files),
                            torch_version=str(torch.__version__),
                            precision=precision_name(self.amp),
                            threads=torch.get_num_threads())
        if self.rank == 0:
            atomic_write_json(os.path.join(self.out, "config.json"), self.cfg_out)
        if self.show:
            stem = " (stem fp32)" if self.amp else ""
            print(f"training on {dev} in {self.cfg_out['precision']}{stem}, "
                  f"{self.cfg_out['threads']} threads, {self.world} process(es)",
                  file=sys.stderr, flush=True)

    # ---- setup ------------------------------------------------------------------------

    def _setup_data(self) -> None:
        cfg, world = self.cfg, self.world
        self.fresh = self.files = None
        if cfg.source == "fresh":
            ncls = len(cfg.classes)
            if cfg.batch_size % (ncls * world):
                raise TrainError(f"batch_size {cfg.batch_size} must be a multiple of classes "
                                 f"x ranks = {ncls} x {world} for fresh batches")
            self.spe = cfg.epoch_samples // cfg.batch_size
            self.fresh = FreshBatches(cfg.family, cfg.seed, cfg.classes,
                                      cfg.batch_size // ncls, self.rank, world)
        else:
            infos = [D.inspect(p, family=cfg.family, split="train") for p in cfg.data]
            cls = {tuple(i["params"]["classes"]) for i in infos}
            if len(cls) > 1:
                raise TrainError("data: the train files hold different class subsets")
            ids = [(i["params"]["seed"], i["params"]["file"]) for i in infos]
            if len(set(ids)) != len(ids):
                raise TrainError("data: two train files have the same seed and file number "
                                 "(the same trajectories)")
            self.cfg = cfg = cfg.replace(classes=next(iter(cls)))
            self.files = H5Files(cfg.data, cfg.family)
            self.spe = len(file_batches(self.files.sizes, cfg.batch_size, cfg.seed, 0,
                                        0, world, cfg.batch_order))
        if cfg.bn_batches is None:  # precise BN: about 2 % of an epoch's trajectories
            per_batch = BN_PER_CLASS * len(cfg.classes)
            share = round(0.02 * self.spe * cfg.batch_size / per_batch)
            self.cfg = cfg = cfg.replace(
                bn_batches=min(BN_MAX_BATCHES, max(BN_MIN_BATCHES, share)))
        if cfg.warmup_steps is None:  # fast recipe: 500 steps, or 10 % of a short run
            nominal = cfg.total_steps or cfg.epochs * self.spe
            self.cfg = cfg = cfg.replace(warmup_steps=min(500, max(1, nominal // 10)))

    def _setup_model(self) -> None:
        cfg, dev = self.cfg, self.dev
        torch.manual_seed(cfg.seed)
        self.model = ResAnDi(width=cfg.width, input=cfg.input).to(dev)
        self.opt = make_optimizer(cfg, self.model)
        self.history, self.best_loss, self.best_epoch, self.bad = [], None, None, 0
        self.start_epoch, self.step, self.planned = 0, 0, False
        self.total = cfg.total_steps or cfg.epochs * self.spe
        ck = self.ck
        if ck is not None:
            load_state_dict_checked(self.model, ck["model"], os.path.join(self.out, "last.pt"))
            self.opt.load_state_dict(ck["optimizer"])
            self.history = list(ck["history"])
            es = ck["early_stopping"]
            self.best_loss, self.best_epoch = es["best_val_loss"], es["best_epoch"]
            self.bad = es["bad_epochs"]
            self.start_epoch, self.step = int(ck["epoch"]), int(ck["step"])
            self.total = int(ck["total_steps"])
            self.planned = bool(ck.get("planned"))
            if self.planned and "warmup_steps" in ck.get("config", {}):
                self.cfg = cfg = cfg.replace(warmup_steps=ck["config"]["warmup_steps"])
            set_rng_state(ck.get("rng", {}), dev)
            if ck.get("stopped") in ("early_stopping", "time_budget"):
                self.start_epoch = 10**9  # finished: nothing left to do
        self.n_epochs = math.ceil(self.total / self.spe)
        self.amp = use_bf16(cfg.amp, dev)
        self.net = self.model
        if self.world > 1:
            self.net = DDP(self.model, device_ids=[dev.index] if dev.type == "cuda" else None)
        if cfg.compile:
            self.net = torch.compile(self.net)

    def _generator_backend(self) -> str:
        """Where fresh batches are generated: CPU workers overlap completely with training;
        generating on the GPU in the training process costs GPU time and host syncs, so
        "auto" picks it only when there are few CPU cores per GPU."""
        backend = self.cfg.generator
        if self.fresh is None or backend != "auto":
            return backend
        if self.dev.type == "cuda" and self.nworkers < 3:
            try:
                generate("bm", 8, 16, None, 2, 0, device=str(self.dev))
                return "cuda"
            except Exception:  # no CUDA generators in this build: CPU workers
                return "cpu"
        return "cpu"

    def _setup_loader(self) -> None:
        nworkers = self.cfg.workers
        if nworkers is None:
            ncpu = os.cpu_count() or 1
            nworkers = 0 if self.dev.type == "cpu" else max(1, min(8, ncpu // self.world - 1))
        self.nworkers = nworkers
        self.gen_backend = self._generator_backend()
        self.sampler = EpochItems()
        self.loader = None
        if self.fresh is None or self.gen_backend == "cpu":
            kw = {}
            if nworkers > 0:
                kw = dict(num_workers=nworkers, multiprocessing_context=mp.get_context("spawn"),
                          persistent_workers=True, prefetch_factor=4, worker_init_fn=worker_init)
            self.loader = torch.utils.data.DataLoader(
                self.fresh if self.fresh is not None else self.files, batch_size=None,
                sampler=self.sampler, pin_memory=self.dev.type == "cuda", **kw)

    def batches(self, epoch, nsteps):
        """The (input, label) batches of ``epoch``'s first ``nsteps`` steps, on the device."""
        dev, fresh = self.dev, self.fresh
        if fresh is not None:
            self.sampler.items = [(epoch, b) for b in range(nsteps)]
        else:
            self.sampler.items = file_batches(self.files.sizes, self.cfg.batch_size,
                                              self.cfg.seed, epoch, self.rank,
                                              self.world, self.cfg.batch_order)[:nsteps]
        if self.loader is None:  # GPU generation in this process
            for e, b in self.sampler.items:
                x, T, y = fresh.device_batch(e, b, dev)
                yield D.preprocess_torch(x.to(dev), T.to(dev), check=False,
                                         noise=self.noise(e, b, len(y)),
                                         input=self.cfg.input), y.to(dev)
            return
        for k, item in enumerate(self.loader):
            if fresh is not None:
                x, T, y = item
                e, b = self.sampler.items[k]
                x = D.preprocess_torch(x.to(dev, non_blocking=True),
                                       T.to(dev, non_blocking=True), check=False,
                                       noise=self.noise(e, b, len(y)), input=self.cfg.input)
            else:
                x, y = item
                x = x.to(dev, non_blocking=True)
            yield x, y.to(dev, non_blocking=True)

    def noise(self, epoch: int, b: int, n: int):
        """``(sigma, seed)`` of fresh batch ``b`` of ``epoch`` on this rank (None when the
        run is clean): fixed by the run's seed, so a resumed run draws the same noise."""
        if not self.cfg.noise:
            return None
        return noise_for(self.cfg.seed, self.cfg.noise, n, NOISE_TRAIN, epoch, b, self.rank)

    # ---- files ----------------------------------------------------------------------

    def checkpoint(self, epoch_done, stopped=None) -> None:
        """``last.pt``: everything needed to continue (rank 0)."""
        if self.rank != 0:
            return
        cfg = self.cfg
        state = {
            "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
            "arch": self.model.config, "family": cfg.family, "classes": list(cfg.classes),
            "recipe": cfg.recipe, "config": cfg.to_dict(), "planned": self.planned,
            "epoch": epoch_done, "step": self.step, "total_steps": self.total,
            "steps_per_epoch": self.spe, "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "early_stopping": {"best_val_loss": self.best_loss, "best_epoch": self.best_epoch,
                               "bad_epochs": self.bad},
            "history": self.history, "rng": rng_state(self.dev), "stopped": stopped,
            "anomgrad_version": str(__version__), "torch_version": str(torch.__version__),
        }
        atomic_torch_save(state, os.path.join(self.out, "last.pt"))

    def save_best(self, epoch_done, val_loss, val_acc) -> None:
        if self.rank != 0:
            return
        cfg = self.cfg
        save_checkpoint(os.path.join(self.out, "best.pt"), self.model, cfg.family,
                        classes=list(cfg.classes), recipe=cfg.recipe, config=cfg.to_dict(),
                        epoch=epoch_done, step=self.step, val_loss=val_loss, val_acc=val_acc)

    def write_metrics(self) -> None:
        if self.rank != 0 or not self.history:
            return
        atomic_write_csv(os.path.join(self.out, "metrics.csv"), self.history)
        atomic_write_json(os.path.join(self.out, "metrics.json"),
                          {"config": self.cfg_out, "history": self.history})
        plot_history(self.history, os.path.join(self.out, "training.png"),
                     f"ResAnDi, {self.cfg.family} T, recipe {self.cfg.recipe}")

    # ---- the loop --------------------------------------------------------------------

    def precise_bn(self) -> None:
        """The BatchNorm statistics of the weights just trained, recomputed on fresh
        batches that no training step draws (:mod:`.precise_bn`), before they are
        validated and saved.  The moving averages that training keeps lag the weights:
        with them, validation read 33.5 % where these give 88.4 % (docs/resandi.md §3, "Validation")."""
        cfg = self.cfg
        recalibrate_bn(self.model, cfg.family, cfg.seed, batches=cfg.bn_batches,
                       per_class=BN_PER_CLASS, classes=cfg.classes, device=self.dev,
                       amp=self.amp, noise=cfg.noise,
                       generator="cuda" if self.gen_backend == "cuda" else "cpu")

    def _reserve(self) -> float:
        """Seconds to keep for the validation, the checkpoint and the metrics."""
        nbytes = 12 * sum(p.numel() for p in self.model.parameters())  # weights + 2 moments
        dt = self.budget.dt or 0.0
        return self._n_forward() / self.world / self.cfg.batch_size * dt / 3.0 + 1.0 + nbytes / 2e8

    def _n_forward(self) -> int:
        """Trajectories through the network (no backward) at the end of an epoch, all
        ranks: the validation set, and the precise-BN batches that every rank runs."""
        bn = self.cfg.bn_batches * BN_PER_CLASS * len(self.cfg.classes)
        return self.n_val + self.world * bn

    def _plan(self, nsteps, epoch, now):
        """Time budget: fix the total steps and the warm-up from the measured time per
        step (module ``schedule``).  Returns the (possibly shorter) steps of this epoch."""
        b = self.budget
        nbytes = 12 * sum(p.numel() for p in self.model.parameters())
        total = plan_total(self.cfg, self.step, b.dt, b.left(now), self.spe, self._n_forward(),
                           self.world, save_seconds=1.0 + nbytes / 2e8)
        self.total = int(self.dist.broadcast_obj(total))
        self.cfg = self.cfg.replace(warmup_steps=warmup_for(self.total, self.nominal_warmup))
        self.planned = True
        if self.rank == 0:
            self.cfg_out.update(planned_total_steps=self.total,
                                planned_warmup_steps=self.cfg.warmup_steps,
                                planned_seconds_per_step=round(b.dt, 6))
            atomic_write_json(os.path.join(self.out, "config.json"), self.cfg_out)
        self.n_epochs = math.ceil(self.total / self.spe)
        return min(nsteps, self.total - epoch * self.spe)

    def _budget_tick(self, epoch, nsteps, bar) -> int:
        """After a step: plan or re-plan when due, and note when the time is up (every
        step with one process; every 16 steps, rank 0 deciding, with several)."""
        b, now = self.budget, time.perf_counter()
        if self.cfg.total_steps is None and b.due(self.step, now):
            if self.dev.type == "cuda":
                torch.cuda.synchronize(self.dev)
            if b.measure(self.step, time.perf_counter()) is not None:
                nsteps = self._plan(nsteps, epoch, time.perf_counter())
                bar.total = nsteps
        if self.world == 1 or self.step % 16 == 0:
            late = b.out_of_time(time.perf_counter(), self._reserve())
            self.out_of_time = bool(self.dist.broadcast_obj(late))
        return nsteps

    def _train_epoch(self, epoch: int, nsteps: int):
        """Optimizer steps of one epoch; returns (loss sum, correct, seen, wait seconds)."""
        cfg, dev = self.cfg, self.dev
        self.net.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        corr_sum = torch.zeros((), dtype=torch.float64, device=dev)
        seen = torch.zeros((), dtype=torch.float64, device=dev)
        wait = 0.0
        self.out_of_time = False
        bar = tqdm(total=nsteps, disable=not self.show, desc=f"epoch {epoch + 1}/{self.n_epochs}",
                   unit="step", mininterval=1.0, file=sys.stderr, leave=False)
        it = self.batches(epoch, nsteps)
        b = 0
        while b < nsteps:
            tw = time.perf_counter()
            try:
                x, y = next(it)
            except StopIteration:
                break
            wait += time.perf_counter() - tw
            lr = lr_at(cfg, self.step, epoch, self.total)
            for g in self.opt.param_groups:
                g["lr"] = lr
            with autocast(dev, self.amp):
                logits = self.net(x)
            loss = F.cross_entropy(logits.float(), y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            with torch.no_grad():
                loss_sum += loss.detach().double() * y.numel()
                corr_sum += (logits.detach().argmax(1) == y).sum().double()
                seen += y.numel()
            if self.callback is not None:
                self.callback({"epoch": epoch, "step": self.step, "batch": b,
                               "loss": loss.detach()})
            bar.update(1)
            if self.show and (b % 50 == 0 or b == nsteps - 1):
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}", lr=f"{lr:.2e}")
            if self.budget is not None:
                nsteps = self._budget_tick(epoch, nsteps, bar)
                if self.out_of_time:
                    break
            b += 1
        bar.close()
        del it
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return loss_sum, corr_sum, seen, wait

    def _end_epoch(self, epoch, t0, sums, wait):
        """Validate, record, checkpoint; returns why to stop (or None)."""
        cfg, dist = self.cfg, self.dist
        t_train = time.perf_counter() - t0
        tr = dist.all_sum(torch.stack(list(sums)))
        t_bn = time.perf_counter()
        self.precise_bn()
        t_bn = time.perf_counter() - t_bn
        if self.world > 1:  # equal BN statistics on every rank, whatever the device did
            for buf in self.model.buffers():
                if buf.is_floating_point():
                    dist.all_sum(buf.data)
                    buf.data /= self.world
        # the unwrapped model: DDP's per-forward buffer broadcast would need equal numbers
        # of validation batches on every rank (buffers are equal anyway)
        val_loss, val_acc = evaluate_set(self.model, self.xv, self.yv, self.dev, self.amp, dist)
        epoch += 1
        improved = self.best_loss is None or val_loss <= self.best_loss - cfg.min_delta
        if improved:
            self.best_loss, self.best_epoch, self.bad = val_loss, epoch, 0
        else:
            self.bad += 1
        n_seen = float(tr[2])
        self.history.append({
            "epoch": epoch, "step": self.step,
            "lr": lr_at(cfg, self.step - 1, epoch - 1, self.total),
            "train_loss": float(tr[0]) / max(1.0, n_seen),
            "train_acc": float(tr[1]) / max(1.0, n_seen),
            "val_loss": val_loss, "val_acc": val_acc, "improved": bool(improved),
            "samples": int(n_seen), "train_seconds": round(t_train, 3),
            "bn_seconds": round(t_bn, 3),
            "samples_per_s": round(n_seen / t_train, 1) if t_train > 0 else None,
            "data_wait_seconds": round(wait, 3),
            "epoch_seconds": round(time.perf_counter() - t0, 3),
            "elapsed_seconds": round(time.perf_counter() - self.t_start, 3),
        })
        stopped = None
        if cfg.patience is not None and self.bad >= cfg.patience:
            stopped = "early_stopping"
        elif self.budget is not None and self.out_of_time and self.step < self.total:
            stopped = "time_budget"
        elif self.budget is not None and epoch < self.n_epochs and \
                self.budget.out_of_time(time.perf_counter(), 2 * self._reserve()):
            stopped = "time_budget"  # not even one more step and validation fit
        if improved:
            self.save_best(epoch, val_loss, val_acc)
        self.checkpoint(epoch, stopped)
        self.write_metrics()
        if self.show:
            h = self.history[-1]
            print(f"epoch {epoch}/{self.n_epochs}: train loss {h['train_loss']:.4f} acc "
                  f"{100 * h['train_acc']:.2f}% | val loss {val_loss:.4f} acc "
                  f"{100 * val_acc:.2f}%{' *' if improved else ''} | "
                  f"{h['samples_per_s']:.0f} samples/s", file=sys.stderr, flush=True)
        return stopped

    def run(self) -> dict:
        stopped = None
        epochs_this_call = 0
        epoch = self.start_epoch
        while epoch < self.n_epochs:
            nsteps = min(self.spe, self.total - epoch * self.spe)
            if nsteps <= 0:
                break
            t0 = time.perf_counter()
            *sums, wait = self._train_epoch(epoch, nsteps)
            stopped = self._end_epoch(epoch, t0, sums, wait)
            epoch += 1
            epochs_this_call += 1
            if stopped:
                break
            if self.stop_after is not None and epochs_this_call >= self.stop_after:
                stopped = "stop_after"
                break
        if stopped is None:
            stopped = "completed" if self.history else "nothing_to_do"
            if self.ck is not None and self.ck.get("stopped") in ("early_stopping", "time_budget"):
                stopped = self.ck["stopped"]
        self.dist.barrier()
        summary = self._finish(stopped)
        self.dist.barrier()
        return {"model": self.model, "history": self.history, "best_val_loss": self.best_loss,
                "best_epoch": self.best_epoch, "epochs_completed": len(self.history),
                "stopped": stopped, "total_steps": self.total, "out": self.out,
                "config": self.cfg_out, "summary": summary}

    def _finish(self, stopped) -> dict:
        """``summary.json`` and, with a test file, the evaluation of ``best.pt``."""
        h = self.history
        train_s = sum(r["train_seconds"] for r in h)
        summary = {
            "stopped": stopped, "epochs_completed": len(h), "total_steps": self.total,
            "steps_per_epoch": self.spe, "best_val_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "best_val_acc": next((r["val_acc"] for r in h if r["epoch"] == self.best_epoch), None),
            "final_val_acc": h[-1]["val_acc"] if h else None,
            "wall_seconds_this_call": round(time.perf_counter() - self.t_start, 3),
            "train_seconds_total": round(train_s, 3),
            "mean_samples_per_s": (round(sum(r["samples"] for r in h) / max(1e-9, train_s), 1)
                                   if h else None),
            "device": str(self.dev), "world_size": self.world,
            "device_name": (torch.cuda.get_device_name(self.dev) if self.dev.type == "cuda"
                            else "cpu"),
        }
        if self.rank == 0 and stopped != "stop_after":
            path = os.path.join(self.out, "summary.json")
            atomic_write_json(path, summary)
            best = os.path.join(self.out, "best.pt")
            if self.cfg.test is not None and os.path.exists(best):
                res = evaluate(best, self.cfg.test, out=os.path.join(self.out, "eval"),
                               device=str(self.dev), amp=self.cfg.amp, progress=self.show)
                summary["test_accuracy"] = res["accuracy"]
                summary["test_macro_f1"] = res["macro_f1"]
                atomic_write_json(path, summary)
        return summary


__all__ = ["Run", "evaluate_set"]
