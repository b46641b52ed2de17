"""One command proves the GPU path, within a time budget (docs/benchmarks.md, "The GPU
check").  Run it first whenever a GPU is at hand:

    CUDAARCHS=90 pip install --no-build-isolation . && python bench/gpu_check.py --out gpu_check.json
    python bench/gpu_check.py --quick          # the same stages, tiny, on the CPU (CI)

Stages, in order; each is skipped with a recorded reason when too little of the budget
is left or something it needs is missing:

1. ``environment``: card, driver, CUDA and torch versions, anomgrad's build, the card's
   device-to-device copy bandwidth;
2. ``correctness``: every generator (6 models, dims 1-3, scalar and per-trajectory
   alpha, several T), the processing functions and the fused Grad-CAM kernel on the GPU
   against the CPU, same seeds: the fraction of identical trajectories, the largest
   difference;
3. ``throughput``: the generators at n = 1 M, T = 1000, 2-D, float32, beside the plain
   torch baselines (bench/torch_baselines.py), in trajectories/s and GB/s against the
   copy bandwidth;
4. ``classify``: ``anomgrad classify`` end to end (a child process: start-up, reading,
   checks, the shipped model, the outputs) on a trackpy CSV of 10,000 tracks x 200
   frames (bench/experiment_csv.py), on the GPU and then on the host's CPU, in tracks/s
   against the 2,500 of issue 19, and the share of tracks both give the same class
   (about a minute; before ``accuracy``, whose training takes what budget is left);
5. ``accuracy``: the fast recipe on the varying-T family with batches generated on the
   GPU for a fixed share of the budget, then the accuracy per class on a 10,000-per-class
   test set generated on the GPU with the test split's seeds, beside the paper's
   90.36 %; the T = 1000 family the same way when the budget allows (94.89 %); and 20 s
   of the paper recipe for its samples/s;
6. ``gradcam``: layer-4 Grad-CAM end to end (anomgrad against captum's LayerGradCam +
   interpolate, on the trained model) and the fused kernel against the torch
   composition and the copy bandwidth.

It writes one JSON with every number, the wall time of each stage and the git commit,
prints a markdown summary, and exits 0 only when every check held (a result that
differs from the CPU beyond its tolerance, an accuracy below the paper's or a throughput
below its target is a failed check, never hidden).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anomgrad as ag  # noqa: E402
import experiment_csv  # noqa: E402
import anomgrad.cam  # noqa: E402,F401  (ag.cam.fused)
from anomgrad import _core  # noqa: E402
from anomgrad.experiments import paper  # noqa: E402
from anomgrad.resandi import datasets as D  # noqa: E402
from torch_baselines import BASELINES  # noqa: E402
from gpu_estimate import load as load_estimates  # noqa: E402

ESTIMATES = load_estimates()  # {model: H200 estimate, trajectories/s} (bench/gpu_estimate.json)

# Targets (2-D, T = 1000, float32, one H100/H200): trajectories per second.
TARGETS = {"fbm": 20e6, "sbm": 50e6, "bm": 50e6, "ctrw": 20e6, "lw": 20e6, "attm": 20e6}
CLASSIFY_TARGET = 2500.0  # tracks/s end to end on a 10,000-track CSV (issue 19)
MODELS = [("fbm", 0.7, (0.1, 1.9)), ("ctrw", 0.6, (0.1, 1.0)), ("lw", 1.5, (1.1, 2.0)),
          ("attm", 0.7, (0.1, 1.0)), ("sbm", 0.5, (0.1, 1.9)), ("bm", None, None)]
EVENT_MODELS = ("ctrw", "lw", "attm")
SIZES = {  # full (a GPU) / quick (a CPU in CI)
    "copy_mb": (1024, 16), "n_check": (2000, 64), "T_check": ((257, 1000, 4098), (257,)),
    "n_speed": (1_000_000, 0), "test_per_class": (10_000, 32), "width": (64, 4),
    "paper_seconds": (20.0, 4.0), "paper_per_class": (2000, 64), "cam_n": (8192, 64),
    "classify_tracks": (10_000, 64),
}


class Check:
    """The run: budget, stages, checks, and the JSON they end up in."""

    def __init__(self, budget: float, quick: bool, device: str, out: str | None = None):
        self.t0, self.budget, self.quick, self.device = time.perf_counter(), budget, quick, device
        self.out = out
        self.results = {"commit": _git_commit(), "quick": quick, "budget_s": budget,
                        "device": device, "started": _now(), "stages": {}, "checks": []}
        self.cuda = device.startswith("cuda")

    def size(self, key):
        return SIZES[key][1 if self.quick else 0]

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t0)

    def save(self) -> dict:
        """Write the JSON (atomically) with every number so far; returns it."""
        r = self.results
        r["wall_seconds"] = round(time.perf_counter() - self.t0, 1)
        r["all_held"] = all(k["ok"] for k in r["checks"])
        if self.out:
            tmp = self.out + ".new"
            with open(tmp, "w") as f:
                json.dump(r, f, indent=1, default=float)
            os.replace(tmp, self.out)
        return r

    def expect(self, name: str, ok: bool, value=None, target=None) -> None:
        self.results["checks"].append({"name": name, "ok": bool(ok), "value": value,
                                       "target": target})

    def stage(self, name: str, fn, min_seconds: float, needs_cuda: bool = False) -> None:
        rec = {"status": "skipped"}
        if needs_cuda and not self.cuda:
            rec["reason"] = "no CUDA device"
        elif self.left() < min_seconds:
            rec["reason"] = f"{self.left():.0f} s of budget left, {min_seconds:.0f} s needed"
        else:
            t = time.perf_counter()
            try:
                rec.update(fn(self) or {})
                rec["status"] = "ok"
            except Exception as e:  # recorded: the summary says what broke
                rec.update(status="error", error=f"{type(e).__name__}: {e}",
                           traceback=traceback.format_exc(limit=5))
                self.expect(f"{name} ran", False, rec["error"])
            rec["seconds"] = round(time.perf_counter() - t, 2)
        self.results["stages"][name] = rec
        self.save()  # after every stage: a run killed later keeps what it measured
        print(f"[{time.perf_counter() - self.t0:6.1f} s] {name}: {rec['status']}"
              + (f" ({rec.get('reason') or rec.get('error')})" if rec["status"] != "ok" else ""),
              flush=True)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _git_commit():
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _sync(c):
    if c.cuda:
        torch.cuda.synchronize()


def _timed(c, fn, repeat: int = 3):
    """Median seconds of ``fn()`` (one warm-up call first), and its last result."""
    out = fn()
    times = []
    for _ in range(repeat):
        _sync(c)
        t = time.perf_counter()
        out = fn()
        _sync(c)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


# ---------------------------------------------------------------------------------
# 1. environment


def environment(c: Check) -> dict:
    info = {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "anomgrad": ag.__version__, "built_with_cuda": bool(_core.built_with_cuda),
            "cuda_device_available": bool(_core.cuda_device_available()),
            "python": sys.version.split()[0], "cpu_count": os.cpu_count()}
    if c.cuda:
        p = torch.cuda.get_device_properties(0)
        info.update(card=p.name, memory_gib=round(p.total_memory / 2**30, 1),
                    capability=f"{p.major}.{p.minor}", multiprocessors=p.multi_processor_count)
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            info["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20).stdout.strip()
        c.expect("anomgrad built with CUDA", _core.built_with_cuda)
    n = c.size("copy_mb") * 2**20 // 4
    src = torch.empty(n, device=c.device)
    dst = torch.empty_like(src)
    dt, _ = _timed(c, lambda: dst.copy_(src), repeat=5)
    info["copy_GBps"] = round(2 * n * 4 / dt / 1e9, 1)  # read + write
    c.copy_GBps = info["copy_GBps"]
    return info


# ---------------------------------------------------------------------------------
# 2. correctness


def _compare(model, alpha, dim, T, n, per_traj):
    a = alpha
    if per_traj and model != "bm":
        lo, hi = dict((m, r) for m, _, r in MODELS)[model]
        a = np.random.default_rng(T + dim).uniform(lo, hi, n)
    cpu = ag.generate(model, n, T, a, dim=dim, seed=3, start=11, dtype=np.float64)
    gpu = ag.generate(model, n, T, a, dim=dim, seed=3, start=11, dtype=np.float64,
                      device="cuda").cpu().numpy()
    same = float(np.mean(np.all(gpu == cpu, axis=(1, 2))))
    return same, float(np.abs(gpu - cpu).max())


def correctness(c: Check) -> dict:
    rows = []
    n = c.size("n_check")
    for model, alpha, _ in MODELS:
        for dim in (1, 2, 3):
            for T in c.size("T_check"):
                for per_traj in (False, True):
                    same, diff = _compare(model, alpha, dim, T, n, per_traj)
                    if model == "fbm":
                        ok, tol = diff <= 1e-9, "max |diff| <= 1e-9"
                    elif model in EVENT_MODELS:
                        ok, tol = same >= 0.999, "identical >= 99.9 %"
                    else:
                        ok, tol = same == 1.0, "identical"
                    name = f"{model} dim {dim} T {T} {'per-trajectory' if per_traj else 'scalar'} alpha"
                    rows.append({"case": name, "identical": same, "max_diff": diff, "ok": ok})
                    c.expect(f"GPU = CPU: {name}", ok, {"identical": same, "max_diff": diff}, tol)
    x = ag.generate("ctrw", 500, 300, 0.6, seed=1)
    L, p = ag.cut(x, seed=2)
    P, Lt = torch.as_tensor(p, device="cuda"), torch.as_tensor(L, device="cuda")
    for name, cpu, gpu in (
            ("normalize", ag.normalize(p, lengths=L), ag.normalize(P, lengths=Lt)),
            ("add_noise", ag.add_noise(p, 0.5, seed=3, lengths=L), ag.add_noise(P, 0.5, seed=3, lengths=Lt)),
            ("scale_diffusion", ag.scale_diffusion(p, seed=4, lengths=L),
             ag.scale_diffusion(P, seed=4, lengths=Lt))):
        ok = np.array_equal(gpu.cpu().numpy(), cpu)
        rows.append({"case": name, "ok": ok})
        c.expect(f"GPU = CPU: {name}", ok)
    g = torch.Generator().manual_seed(0)
    for L_, T_ in [(32, 1000), (7, 100), (1, 10)]:
        A, w = torch.randn(300, 64, L_, generator=g), torch.randn(300, 64, generator=g)
        ref = ag.cam.fused(A, w, T_, normalize=True, cells=True, nbands=10)
        got = ag.cam.fused(A.cuda(), w.cuda(), T_, normalize=True, cells=True, nbands=10)
        ok = all(torch.equal(a, b.cpu()) for a, b in zip(ref, got))
        rows.append({"case": f"gradcam kernel L={L_} T={T_}", "ok": ok})
        c.expect(f"GPU = CPU: gradcam kernel L={L_} T={T_}", ok)
    return {"cases": rows, "passed": sum(r["ok"] for r in rows), "total": len(rows)}


# ---------------------------------------------------------------------------------
# 3. throughput


def throughput(c: Check) -> dict:
    n, T = c.size("n_speed"), 1000
    out = {}
    for model, alpha, _ in MODELS:
        dt, x = _timed(c, lambda: ag.generate(model, n, T, alpha, dim=2, seed=0, device="cuda"))
        gbps = x.numel() * 4 / dt / 1e9
        r = {"traj_per_s": n / dt, "GBps": gbps, "of_copy": gbps / (c.copy_GBps / 2)}
        del x
        if model in BASELINES:
            dtb, xb = _timed(c, lambda: BASELINES[model](n, T, alpha or 1.0, 2, c.device))
            r["torch_traj_per_s"] = n / dtb
            r["speedup_vs_torch"] = dtb / dt
            del xb
        if model in ESTIMATES:  # bench/gpu_estimate.py: the H200 roofline of the kernel
            r["estimate_traj_per_s"] = ESTIMATES[model]
            r["of_estimate"] = n / dt / ESTIMATES[model]
        out[model] = {k: round(v, 3) for k, v in r.items()}
        c.expect(f"{model} >= {TARGETS[model] / 1e6:.0f} M traj/s", n / dt >= TARGETS[model],
                 round(n / dt), TARGETS[model])
        torch.cuda.empty_cache()
    return {"n": n, "T": T, "models": out}


# ---------------------------------------------------------------------------------
# 4. classify


def classify(c: Check) -> dict:
    n = c.size("classify_tracks")
    out, predicted = {"tracks": n, "frames": 200}, {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tracks.csv")
        experiment_csv.make(path, n, 200, by_track=True)
        out["file_mb"] = round(os.path.getsize(path) / 1e6, 1)
        for dev in ("cuda", "cpu") if c.cuda else ("cpu",):
            r = experiment_csv.run(path, os.path.join(tmp, dev), [], device=dev)
            out[dev] = {k: r[k] for k in ("wall_s", "tracks_per_s", "classified", "command")}
            with open(os.path.join(tmp, dev, "classification.csv"), newline="") as f:
                predicted[dev] = [row["predicted"] for row in csv.DictReader(f)]
            c.expect(f"classify on the {dev}: >= 90 % of {n} tracks classified",
                     r["classified"] >= 0.9 * n, r["classified"], int(np.ceil(0.9 * n)))
    if c.cuda:
        same = float(np.mean([a == b for a, b in zip(predicted["cuda"], predicted["cpu"])]))
        out["same_class_gpu_cpu"] = same
        c.expect("classify: the GPU and the CPU give the same class for >= 99 % of tracks",
                 same >= 0.99, round(same, 4), 0.99)
        c.expect(f"classify on the GPU: >= {CLASSIFY_TARGET:,.0f} tracks/s end to end (issue 19)",
                 out["cuda"]["tracks_per_s"] >= CLASSIFY_TARGET, out["cuda"]["tracks_per_s"],
                 CLASSIFY_TARGET)
    return out


# ---------------------------------------------------------------------------------
# 5. accuracy


def test_set(family, per_class, seed, device):
    """The test split's trajectories (file 0) of every class, generated on ``device``
    and preprocessed there: ``(x, label)`` tensors."""
    xs, ys = [], []
    for label in range(D.NUM_CLASSES):
        g = D.generate_class(family, "test", 0, label, 0, per_class, seed, device=device)
        raw = torch.as_tensor(g["x"], device=device)
        xs.append(D.preprocess_torch(raw, torch.as_tensor(g["T"], device=device), check=False))
        ys.append(torch.full((per_class,), label, device=device))
    return torch.cat(xs), torch.cat(ys)


@torch.no_grad()
def _accuracy(model, x, y, batch=2048):
    pred = torch.cat([model(x[s:s + batch]).argmax(1) for s in range(0, len(x), batch)])
    ok = (pred == y).float()
    return float(ok.mean()), {D.CLASS_NAMES[k]: float(ok[y == k].mean()) for k in range(8)}


def _train_family(c: Check, family: str, seconds: float, workdir: str) -> dict:
    run = ag.train(os.path.join(workdir, family), family, "fast", minutes=seconds / 60.0,
                   width=c.size("width"), device=c.device, progress=False,
                   generator="cuda" if c.cuda else "cpu",
                   **({"val_per_class": 16, "batch_size": 64} if c.quick else {}))
    model = run["model"].eval()
    x, y = test_set(family, c.size("test_per_class"), 0, c.device)
    acc, per_class = _accuracy(model, x, y)
    s = run["summary"]
    c.trained = model
    rec = {"accuracy": acc, "per_class": per_class, "paper": paper.ACCURACY[family],
           "train_seconds": s["train_seconds_total"], "wall_seconds": s["wall_seconds_this_call"],
           "total_steps": s["total_steps"], "samples_per_s": s["mean_samples_per_s"],
           "stopped": s["stopped"], "test_rows": int(len(y))}
    if not c.quick:  # tiny CPU runs only check the plumbing
        c.expect(f"{family}: test accuracy >= the paper's {paper.ACCURACY[family]} %",
                 100 * acc >= paper.ACCURACY[family], round(100 * acc, 2), paper.ACCURACY[family])
    c.expect(f"{family}: training ended inside its budget",
             s["wall_seconds_this_call"] <= seconds * 1.05 + 2, s["wall_seconds_this_call"], seconds)
    return rec


def _paper_speed(c: Check, workdir: str) -> dict:
    npc = c.size("paper_per_class")
    train, val = os.path.join(workdir, "train.h5"), os.path.join(workdir, "val.h5")
    D.write(train, "varying", "train", npc, 0, progress=False, fsync=False)
    D.write(val, "varying", "val", max(8, npc // 10), 0, progress=False, fsync=False)
    secs = c.size("paper_seconds")
    run = ag.train(os.path.join(workdir, "paper"), "varying", "paper", data=[train], val=val,
                   minutes=secs / 60.0, epochs=1, width=c.size("width"), device=c.device,
                   progress=False)
    h = run["history"]
    return {"samples_per_s": h[-1]["samples_per_s"] if h else None, "seconds": secs,
            "rows": 8 * npc}


def accuracy(c: Check) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        reserve = 90.0 if not c.quick else 8.0  # the paper recipe and the Grad-CAM stage
        share = (0.55 if not c.quick else 0.4) * max(0.0, c.left() - reserve)
        out["varying"] = _train_family(c, "varying", min(share, 300.0), tmp)
        fixed_s = min(300.0, c.left() - reserve - (60.0 if not c.quick else 4.0))
        if fixed_s >= (120.0 if not c.quick else 6.0):
            out["fixed"] = _train_family(c, "fixed", fixed_s, tmp)
        else:
            out["fixed"] = {"status": "skipped", "reason": f"{max(0.0, fixed_s):.0f} s left"}
        out["paper_recipe"] = _paper_speed(c, tmp)
    return out


# ---------------------------------------------------------------------------------
# 6. Grad-CAM


def gradcam(c: Check) -> dict:
    model = getattr(c, "trained", None) or ag.nn.ResAnDi(width=c.size("width")).to(c.device).eval()
    n = c.size("cam_n")
    x = torch.rand(n, 2, 1000, device=c.device)
    y = torch.randint(0, 8, (n,), device=c.device)
    dt, _ = _timed(c, lambda: ag.gradcam(model, x, "layer4", y, batch_size=1024))
    out = {"end_to_end_traj_per_s": n / dt}
    try:
        from captum.attr import LayerAttribution, LayerGradCam
    except ImportError:
        out["captum"] = "skipped: captum is not installed"
    else:
        lgc = LayerGradCam(model, model.layer4)

        def captum_cam():
            parts = []
            for s in range(0, n, 1024):
                a = lgc.attribute(x[s:s + 1024], target=y[s:s + 1024], relu_attributions=False)
                parts.append(LayerAttribution.interpolate(a, (1000,), interpolate_mode="nearest")[:, 0])
            return torch.cat(parts)

        dtc, _ = _timed(c, captum_cam, repeat=2)
        out["captum_traj_per_s"] = n / dtc
        out["speedup_vs_captum"] = dtc / dt
    A = torch.randn(n, 512, 32, device=c.device)
    w = torch.randn(n, 512, device=c.device)
    dtk, _ = _timed(c, lambda: ag.cam.fused(A, w, 1000, normalize=True))
    dtt, _ = _timed(c, lambda: ag.cam.torch_composition(A, w, 1000, normalize=True))
    gbps = (A.numel() + w.numel() + n * 1000) * 4 / dtk / 1e9
    out.update(kernel_maps_per_s=n / dtk, composition_maps_per_s=n / dtt,
               kernel_speedup=dtt / dtk, kernel_GBps=gbps,
               kernel_of_copy=gbps / (c.copy_GBps / 2) if hasattr(c, "copy_GBps") else None)
    if c.cuda:
        c.expect("fused kernel >= 3x the torch composition", dtt / dtk >= 3, round(dtt / dtk, 2), 3)
        c.expect("fused kernel >= 60 % of copy bandwidth", out["kernel_of_copy"] >= 0.6,
                 round(out["kernel_of_copy"], 3), 0.6)
        if "captum_traj_per_s" in out:
            c.expect("end to end >= 150k traj/s", n / dt >= 150e3, round(n / dt), 150e3)
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}


# ---------------------------------------------------------------------------------


def summary(r: dict) -> str:
    L = [f"# GPU check ({'quick, ' if r['quick'] else ''}{r['device']}, commit "
         f"{(r['commit'] or '?')[:10]})", ""]
    env = r["stages"].get("environment", {})
    L.append(f"Card: {env.get('card', 'none')}, driver {env.get('driver', '?')}, torch "
             f"{env.get('torch')}, CUDA {env.get('torch_cuda')}, copy bandwidth "
             f"{env.get('copy_GBps')} GB/s.\n")
    L += ["| stage | status | seconds |", "| --- | --- | ---: |"]
    for name, s in r["stages"].items():
        L.append(f"| {name} | {s['status']}{': ' + s['reason'] if 'reason' in s else ''}"
                 f"{': ' + s['error'] if 'error' in s else ''} | {s.get('seconds', '')} |")
    L += ["", "| check | held | value | target |", "| --- | --- | --- | --- |"]
    for k in r["checks"]:
        L.append(f"| {k['name']} | {'yes' if k['ok'] else '**NO**'} | {k['value']} | "
                 f"{k['target'] if k['target'] is not None else ''} |")
    speed = r["stages"].get("throughput", {}).get("models", {})
    if any("estimate_traj_per_s" in v for v in speed.values()):
        L += ["", "| generator | measured, M traj/s | estimate (bench/gpu_estimate.py) | of estimate |",
              "| --- | ---: | ---: | ---: |"]
        for m, v in speed.items():
            if "estimate_traj_per_s" in v:
                L.append(f"| {m} | {v['traj_per_s'] / 1e6:.1f} | {v['estimate_traj_per_s'] / 1e6:.1f} | "
                         f"{v['of_estimate']:.2f} |")
    L.append(f"\nAll checks held: **{r['all_held']}** ({sum(k['ok'] for k in r['checks'])} of "
             f"{len(r['checks'])}); wall {r['wall_seconds']} s of a {r['budget_s']} s budget.")
    return "\n".join(L)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", type=float, default=540.0, help="seconds (default 540)")
    p.add_argument("--quick", action="store_true", help="tiny sizes on the CPU (CI)")
    p.add_argument("--out", default="gpu_check.json", help="the JSON with every number")
    a = p.parse_args(argv)
    cuda = torch.cuda.is_available() and _core.cuda_device_available() and not a.quick
    c = Check(a.budget if not a.quick else min(a.budget, 60.0), a.quick, "cuda" if cuda else "cpu",
              a.out)
    c.stage("environment", environment, 2)
    c.stage("correctness", correctness, 20, needs_cuda=True)
    c.stage("throughput", throughput, 20, needs_cuda=True)
    c.stage("classify", classify, 120 if not a.quick else 20)
    c.stage("accuracy", accuracy, 150 if not a.quick else 10)
    c.stage("gradcam", gradcam, 20 if not a.quick else 2)
    r = c.save()
    print(summary(r))
    return 0 if r["all_held"] else 1


if __name__ == "__main__":
    sys.exit(main())
