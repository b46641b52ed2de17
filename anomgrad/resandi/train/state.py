"""What a run keeps on disk, and how a killed run continues.

After every epoch ``last.pt`` is written atomically (weights, optimizer, step, epoch,
early-stopping state, history, RNG states, config); ``best.pt`` (weights and metadata)
whenever the validation loss improves; ``metrics.csv``/``metrics.json`` and
``training.png`` with one row per epoch.  ``resume=True`` continues from ``last.pt``: a
run killed at any point (mid-epoch or while writing) redoes at most the epoch in
progress and ends with the same weights as an uninterrupted run (bit for bit on CPU; on
CUDA with ``deterministic=True``).  Resuming with settings that change the result is
refused with the list of differences.
"""

from __future__ import annotations

import os

import torch

from ...io.atomic import atomic_savefig
from ..nn import CHECKPOINT_FORMAT, CHECKPOINT_VERSION
from ..recipes import TrainError, identity


RUN_FILES = ("config.json", "last.pt", "best.pt", "metrics.csv", "metrics.json",
             "training.png", "summary.json")



def prepare_out(out, cfg, dist, resume, overwrite):
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
            why = (str(e).strip().splitlines() or ["empty or cut short"])[0][:200]
            raise TrainError(f"{last}: cannot be read to resume ({type(e).__name__}: {why}); "
                             f"delete it or use --overwrite") from e
        if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
            raise TrainError(f"{last}: not an anomgrad training checkpoint")
        if int(ck.get("format_version", -1)) != CHECKPOINT_VERSION:
            raise TrainError(f"{last}: checkpoint format_version {ck.get('format_version')}, "
                             f"this anomgrad resumes version {CHECKPOINT_VERSION}")
        have = identity(ck["config"])
        want = identity(cfg)
        # a run planned by a time budget keeps its planned steps
        diff = [k for k in set(have) | set(want)
                if have.get(k) != want.get(k) and not (k in ("total_steps", "epochs", "warmup_steps")
                                                       and ck.get("planned"))]
        if diff:
            shown = "; ".join(f"{k}: checkpoint {have.get(k)!r}, requested {want.get(k)!r}"
                              for k in sorted(diff))
            raise TrainError(f"{last} was made with different settings ({shown}); resume "
                             f"with the same arguments, or use --overwrite / another --out")
        return ck
    return None



def rng_state(device) -> dict:
    """torch's RNG states (CPU, and the device's on CUDA)."""
    st = {"torch": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(torch.device(device))
    return st



def set_rng_state(st: dict, device) -> None:
    """Restore :func:`rng_state`."""
    if "torch" in st:
        torch.set_rng_state(st["torch"].cpu())
    if "cuda" in st and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(st["cuda"].cpu(), torch.device(device))



def plot_history(history: list[dict], path, title: str = "") -> None:
    """``training.png``: loss and accuracy against epoch, train and validation."""
    from matplotlib.figure import Figure  # lazy: matplotlib
    from matplotlib.ticker import MaxNLocator  # lazy: matplotlib

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
    for a in (ax1, ax2):
        a.grid(alpha=0.3)
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    atomic_savefig(fig, path)


__all__ = ["RUN_FILES", "plot_history", "prepare_out", "rng_state", "set_rng_state"]
