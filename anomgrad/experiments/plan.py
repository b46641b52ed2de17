"""How long each stage of ``anomgrad reproduce`` will take on this machine, planned
before the run from a short calibration (issue 21): the run prints it and records it in
``stages.json`` beside the measured times.

:func:`calibrate` measures, in seconds of this machine's time: dataset rows written per
second, training samples per second and inference rows per second of a ResAnDi at each
width the profile trains.  :func:`plan` counts each stage's work from the profile (rows
generated, samples trained, forward passes) and divides.  Training stages with a time
budget (``minutes``) take that budget.  It is an estimate: Grad-CAM counts as three
forward passes, and the small costs (probe heads, t-SNE, statistics, files) as none.
"""

from __future__ import annotations

import time

import torch

from ..resandi import datasets as D
from ..resandi.nn import ResAnDi
from ..resandi.precision import autocast, use_bf16
from ..resandi.recipes import resolve
from .augment import FRACTION
from .common import AMP
from .profiles import STAGES, Profile

CAM_FORWARDS = 3  # a Grad-CAM pass (forward, backward of the top) as forward passes
ERASURE_FORWARDS = 10 * 3  # 10 bands x (targeted, random cells, random runs)
# a probe head's epoch over one pooled-feature row costs about 1/100 of a network forward
# pass (measured on a quick run: 3 heads x 2,000 epochs x 2,048 rows in 17 s)
PROBE_ROWS_PER_FORWARD = 100


def _rate(fn, work: int, repeats: int = 2) -> float:
    """``work`` units per second of ``fn()``, the best of ``repeats`` after one warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return work / max(best, 1e-9)


def _batches(prof: Profile) -> tuple[int, int]:
    """The batch sizes of the base and the augmented networks' training."""
    b, a = prof.base, prof.augment
    base = b.batch_size or resolve(b.recipe, "varying",
                                   data=None if b.fresh else ["a.h5"]).batch_size
    aug = a.batch_size or resolve(a.recipe, "varying", data=["a.h5"]).batch_size
    return base, aug


def calibrate(prof: Profile, device="cpu", *, batch: int = 256) -> dict:
    """Measured rates on ``device`` (a few seconds): ``gen`` (dataset rows/s), and per
    network width ``w`` the profile trains: ``train_w_b`` (samples/s of a training step
    at batch ``b``, the batch that training uses: forward, backward, AdamW, under the
    default precision) and ``infer_w`` (rows/s of a forward pass under the experiments'
    precision, :data:`~.common.AMP`: fp32, which on a bf16 CPU is 2-3x slower)."""
    dev = torch.device(device)
    rates = {"gen": _rate(lambda: D.resandi("varying", "val", batch // 8, 0), batch, 1)}
    bf16 = use_bf16("auto", dev)
    infer_bf16 = use_bf16(AMP, dev)
    g = torch.Generator().manual_seed(0)
    base_b, aug_b = _batches(prof)
    wanted = {(prof.base.width, base_b), (prof.augment.width, aug_b)}
    for w in sorted({w for w, _ in wanted}):
        torch.manual_seed(0)
        net = ResAnDi(width=w).to(dev)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
        for b in sorted(bb for ww, bb in wanted if ww == w):
            x = torch.rand(b, D.DIM, D.LENGTH, generator=g).to(dev)
            y = torch.randint(0, D.NUM_CLASSES, (b,), generator=g).to(dev)

            def step():
                with autocast(dev, bf16):
                    loss = torch.nn.functional.cross_entropy(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)

            net.train()
            rates[f"train_{w}_{b}"] = _rate(step, b)
        x = torch.rand(batch, D.DIM, D.LENGTH, generator=g).to(dev)

        def infer():
            with torch.no_grad(), autocast(dev, infer_bf16):
                net(x)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)

        net.eval()
        rates[f"infer_{w}"] = _rate(infer, batch)
    return rates


def _train_seconds(prof: Profile, family: str, rates: dict) -> float:
    b = prof.base
    if family == "varying" and b.varying_start == "shipped":
        return 0.0  # copied, not trained
    if b.minutes is not None:
        return 60.0 * b.minutes
    kw = {k: getattr(b, k) for k in ("epochs", "epoch_samples", "batch_size", "lr")
          if getattr(b, k) is not None}
    data = None if b.fresh else [f"train_{k}.h5" for k in range(prof.train_files)]
    cfg = resolve(b.recipe, family, data=data, **kw)
    rows = 8 * prof.n_per_class.train * prof.train_files
    per_epoch = cfg.epoch_samples if cfg.source == "fresh" else rows
    # every epoch also validates on the val file
    return cfg.epochs * (per_epoch / rates[f"train_{b.width}_{cfg.batch_size}"]
                         + 8 * prof.n_per_class.val / rates[f"infer_{b.width}"])


def plan(prof: Profile, rates: dict) -> dict:
    """Planned seconds per stage (:data:`STAGES`) of ``prof`` at the measured ``rates``."""
    n, a = prof.n_per_class, prof.augment
    infer_b, infer_a = rates[f"infer_{prof.base.width}"], rates[f"infer_{a.width}"]
    test_rows = 8 * n.test
    rows = 2 * 8 * (n.train * prof.train_files + n.val) + test_rows * (1 + prof.relevance_files)
    erased = test_rows if prof.erasure.n is None else min(test_rows, prof.erasure.n)
    aug_rows = 8 * n.train * (1 + FRACTION)
    aug_test = test_rows if a.test_rows is None else 8 * min(n.test, a.test_rows)
    probe_rows = 8 * n.train * prof.train_files
    aug_epochs = a.epochs if a.epochs is not None else resolve(a.recipe, "varying",
                                                               data=["a.h5"]).epochs
    out = {
        "data": rows / rates["gen"],
        "train_varying": _train_seconds(prof, "varying", rates),
        "train_fixed": _train_seconds(prof, "fixed", rates),
        "evaluate": 2 * test_rows / infer_b,
        "erasure": erased * (CAM_FORWARDS + ERASURE_FORWARDS) / infer_b,
        "augment": (8 * n.train * CAM_FORWARDS / infer_b
                    + 2 * a.models * (aug_epochs * aug_rows
                                      / rates[f"train_{a.width}_{_batches(prof)[1]}"]
                                      + 11 * aug_test / infer_a)),
        "probes": ((probe_rows + test_rows)
                   + 3 * prof.probes.epochs * probe_rows / PROBE_ROWS_PER_FORWARD) / infer_b,
        "relevance": prof.relevance_files * test_rows * CAM_FORWARDS / infer_b,
    }
    return {s: float(out[s]) for s in STAGES}


def describe(planned: dict) -> str:
    """The plan as lines for the terminal: seconds (or minutes) per stage and the total."""
    def t(s):
        return f"{s:7.0f} s" if s < 120 else f"{s / 60:7.1f} min"
    total = sum(planned.values())
    lines = [f"  {name:<14} {t(sec)}" for name, sec in planned.items()]
    return "\n".join(lines + [f"  {'total':<14} {t(total)}"])


__all__ = ["CAM_FORWARDS", "ERASURE_FORWARDS", "PROBE_ROWS_PER_FORWARD", "calibrate",
           "describe", "plan"]
