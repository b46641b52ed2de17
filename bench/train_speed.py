"""ResAnDi on the CPU (issue #19): samples/s of the compute alone (a fixed tensor
through forward, backward and AdamW: the "plain PyTorch loop") and of the whole
``anomgrad train`` step (generation, preprocessing and bookkeeping included), for
widths 16 and 64, fp32 and bf16, 1 and 2 threads; inference; ``torch.compile``;
with ``--bound``, the shipped model's forward pass against this CPU's matrix-multiply
rate (what bounds ``anomgrad classify``).

    flock /tmp/anomgrad-cpu.lock python bench/train_speed.py --out train_speed.json
    flock /tmp/anomgrad-cpu.lock python bench/train_speed.py --bound --out bound.json

Prints a markdown table (docs/benchmarks.md) and writes the rows as JSON.  Every row
times steps after the first (allocation, Numba and oneDNN warm-up excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import torch
import torch.nn.functional as F

import anomgrad as ag
from anomgrad.resandi.nn import ResAnDi
from anomgrad.resandi.precision import cpu_has_native_bf16

BATCH = {16: 512, 64: 128}  # width 64 at batch 128 keeps a row under a minute


def compute_rate(width: int, bf16: bool, threads: int, steps: int, compile: bool = False) -> dict:
    """Training samples/s of the plain loop on a fixed input (and the first step's
    seconds: with ``compile``, the compilation)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    batch = BATCH[width]
    model = ResAnDi(width=width)
    net = torch.compile(model) if compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.rand(batch, 2, 1000), torch.randint(0, 8, (batch,))
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            logits = net(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return {"samples_per_s": round(batch * steps / sum(times[1:]), 1),
            "first_step_s": round(times[0], 2)}


def train_rate(width: int, bf16: bool, threads: int, steps: int) -> dict:
    """Samples/s of ``anomgrad.train`` itself (fast recipe, fresh data, one process):
    the time between optimizer steps 1 and ``steps``, as its callback sees them."""
    batch = BATCH[width]
    stamps = []
    with tempfile.TemporaryDirectory() as d:
        ag.train(os.path.join(d, "run"), "varying", "fast", width=width, batch_size=batch,
                 epoch_samples=batch * steps, epochs=1, val_per_class=8, bn_batches=1,
                 amp="bf16" if bf16 else "none", threads=threads, device="cpu",
                 progress=False, callback=lambda info: stamps.append(time.perf_counter()))
    return {"samples_per_s": round(batch * (steps - 1) / (stamps[-1] - stamps[0]), 1)}


def forward_rate(forward, x, steps: int) -> float:
    """Samples/s of ``forward(x)`` over ``steps`` calls after a first one (warm-up)."""
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        forward(x)
        times.append(time.perf_counter() - t)
    return len(x) * steps / sum(times[1:])


def inference_rate(width: int, bf16: bool, threads: int, steps: int) -> dict:
    torch.set_num_threads(threads)
    model = ResAnDi(width=width).eval()
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        return {"samples_per_s": round(forward_rate(model, torch.rand(512, 2, 1000), steps), 1)}


def gemm_rate(dtype, threads: int, n: int = 2048, reps: int = 3) -> float:
    """GFLOP/s of an n x n x n matrix product in ``dtype`` (oneDNN/MKL's best case)."""
    torch.set_num_threads(threads)
    a, b = torch.rand(n, n, dtype=dtype), torch.rand(n, n, dtype=dtype)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def network_bound(threads: int, steps: int, tracks: int = 10_000) -> list[dict]:
    """The shipped (robust) model as ``classify`` runs it (BatchNorm folded, eval mode)
    in fp32 and bf16: FLOPs per track (torch's counter), tracks/s, GFLOP/s against a
    matrix product in the same precision, and the seconds the network alone needs for
    ``tracks`` tracks at that product's rate (no track is shorter: every track is padded
    to the network's 1000 steps)."""
    from torch.utils.flop_counter import FlopCounterMode

    from anomgrad.resandi.nn import fold_batchnorm
    from anomgrad.resandi.precision import autocast
    from anomgrad.resandi.pretrained import pretrained

    torch.set_num_threads(threads)
    net = fold_batchnorm(pretrained("cpu", name="robust").eval())
    x = torch.rand(512, net.stem.conv.in_channels, 1000)
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        net.fc(net.features(x[:1]))
    flops = fc.get_total_flops()
    rows = []
    for bf16, dtype in ((False, torch.float32), (True, torch.bfloat16)):
        with torch.inference_mode(), autocast("cpu", bf16):
            rate = forward_rate(lambda b: net.fc(net.features(b)), x, steps)
        peak = gemm_rate(dtype, threads)
        rows.append(dict(what="shipped model, classify's forward", width=16, batch=512,
                         precision="bf16" if bf16 else "fp32", threads=threads,
                         samples_per_s=round(rate, 1), mflop_per_track=round(flops / 1e6, 2),
                         gflop_s=round(rate * flops / 1e9, 1), gemm_gflop_s=round(peak, 1),
                         fraction_of_gemm=round(rate * flops / 1e9 / peak, 3),
                         floor_s_per_10k=round(tracks * flops / 1e9 / peak, 2)))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="train_speed.json")
    ap.add_argument("--widths", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=6, help="timed steps at width 16 (64: half)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--bound", action="store_true",
                    help="only the shipped model's forward against the matrix-multiply rate")
    a = ap.parse_args()
    rows = []
    if a.bound:
        for threads in a.threads:
            rows += network_bound(threads, a.steps)
    for width in [] if a.bound else a.widths:
        steps = a.steps if width == 16 else max(2, a.steps // 2)
        for threads in a.threads:
            for bf16 in (False, True):
                for what, fn in (("compute", compute_rate), ("anomgrad train", train_rate),
                                 ("inference", inference_rate)):
                    r = fn(width, bf16, threads, steps)
                    rows.append(dict(what=what, width=width, batch=BATCH[width] if what != "inference" else 512,
                                     precision="bf16" if bf16 else "fp32", threads=threads, **r))
                    print(json.dumps(rows[-1]), flush=True)
    if a.compile:
        for bf16 in (False, True):
            r = compute_rate(16, bf16, max(a.threads), a.steps, compile=True)
            rows.append(dict(what="compute, torch.compile", width=16, batch=BATCH[16],
                             precision="bf16" if bf16 else "fp32", threads=max(a.threads), **r))
            print(json.dumps(rows[-1]), flush=True)
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "native_bf16": cpu_has_native_bf16(), "torch": torch.__version__, "rows": rows}
    with open(a.out, "w") as f:
        json.dump(info, f, indent=1)
    print("\n| what | width | batch | precision | threads | samples/s |")
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    for r in rows:
        print(f"| {r['what']} | {r['width']} | {r['batch']} | {r['precision']} | "
              f"{r['threads']} | {r['samples_per_s']:,.0f} |")


if __name__ == "__main__":
    main()
