"""CPU generators against their bounds (issue 22): throughput per model on 1 and 2
threads, and ``anomgrad generate`` against generation alone and writing alone.

    python bench/cpu_bounds.py --n 100000 --out cpu_bounds.json          # the models
    python bench/cpu_bounds.py --cli --n 1000000 --dir /tmp/x --out cli.json

Models: 2-D, T = 1000, float32, scalar alpha (the benchmark group's), ``--rounds``
calls after a warm-up, the median; ``out=`` reuses one array, so the first touch of
fresh pages (slow on this VM) stays out of the figure; "alloc" is the same call
allocating its output as ``ag.generate`` does by default.

``--cli``: 2-D LW at alpha 1.5, T = 1000, ``--n`` trajectories in chunks of
``--chunk``: (a) generation alone (``ag.generate(out=...)`` per chunk), (b) writing
alone (the command's writer, the same chunk written ``n / chunk`` times, fsync per
chunk as the command does), (c) ``anomgrad generate`` itself (generation and writing
overlapped).  The issue asks (c) >= 0.85 x the slower of (a) and (b).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numba
import numpy as np

import anomgrad as ag
from anomgrad.config import CLI_CHUNK_BYTES

CASES = [("fbm", 0.7), ("ctrw", 0.9), ("lw", 1.5), ("attm", 0.7), ("sbm", 0.5), ("bm", None)]
T = 1000


def rate(fn, n: int, rounds: int) -> float:
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return n / float(np.median(times))


def models(n: int, rounds: int, alloc_only: bool = False) -> dict:
    res = {}
    buf = np.empty((n, 2, T), np.float32)
    for model, alpha in CASES:
        res[model] = {}
        for threads in () if alloc_only else (1, 2):
            numba.set_num_threads(threads)
            res[model][f"{threads} threads, out="] = round(rate(
                lambda: ag.generate(model, n, T, alpha, seed=0, out=buf), n, rounds))
        res[model]["2 threads, alloc"] = round(rate(
            lambda: ag.generate(model, n, T, alpha, seed=0), n, rounds))
        print(model, res[model], flush=True)
    return res


def cli(n: int, chunk: int, folder: str) -> dict:
    from anomgrad.io import trajectories as tr
    from anomgrad.io.h5 import Writer

    os.makedirs(folder, exist_ok=True)
    buf = np.empty((chunk, 2, T), np.float32)
    alpha = np.full(chunk, 1.5)
    t0 = time.perf_counter()
    for r0 in range(0, n, chunk):
        m = min(chunk, n - r0)
        ag.generate("lw", m, T, 1.5, seed=0, start=r0, out=buf[:m])
    gen = time.perf_counter() - t0
    path = os.path.join(folder, "write-alone.h5")
    params = tr.generation_params("lw", n, T, 2, 0, 0, "float32", alpha=1.5)
    tr.create(path, params)
    t0 = time.perf_counter()
    with Writer(path) as w:
        for r0 in range(0, n, chunk):
            m = min(chunk, n - r0)
            w.write_rows(x=buf[:m], alpha=alpha[:m])
    write = time.perf_counter() - t0
    os.remove(path)
    out = os.path.join(folder, "lw.h5")
    cmd = ["anomgrad", "generate", "--model", "lw", "--n", str(n), "--T", str(T), "--alpha",
           "1.5", "--chunk", str(chunk), "--out", out, "--overwrite", "--quiet"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    both = time.perf_counter() - t0
    os.remove(out)
    return {"n": n, "chunk": chunk, "generation_alone_s": round(gen, 2),
            "writing_alone_s": round(write, 2), "command_s": round(both, 2),
            "command": " ".join(cmd),
            "ratio_to_slower": round(max(gen, write) / both, 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--cli", action="store_true")
    p.add_argument("--alloc-only", action="store_true",
                   help="only the allocating call (code without out=, for a before/after)")
    p.add_argument("--chunk", type=int, default=CLI_CHUNK_BYTES // (2 * T * 4),
                   help="trajectories per chunk (default: the command's, CLI_CHUNK_BYTES)")
    p.add_argument("--dir", default="/tmp/anomgrad-cpu-bounds")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    res = cli(a.n, a.chunk, a.dir) if a.cli else models(a.n, a.rounds, a.alloc_only)
    print(json.dumps(res, indent=1))
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
