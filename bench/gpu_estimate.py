"""An H200 estimate of the generator kernels that can be checked (issue #22, item 5).

Everything is counted without a GPU, per trajectory (2-D, T = 1000, float32 output, the
alphas of ``bench/gpu_check.py``), then turned into trajectories/s on one H200:

1. **Operations of the shared math.** nvcc (sm_90, ``--fmad=false``, the project's
   flags) compiles small probe kernels that call the very device functions the kernels
   call -- ``normals_group`` (one Philox block, two Box-Muller pairs: four normals),
   ``draw_group<Model, 2>`` (four CTRW events, LW flights or ATTM segments),
   ``sbm_scale``, ``circulant_row``, and ``block_fft``'s two-stage unit, butterfly and
   swap (with the 32-bit indices of the shared-memory path) -- and the PTX of each is
   counted by class: fp64 add/mul/compare (the fp64 pipe), fp64
   division and square root (each a MUFU approximation and a refinement on the fp64
   pipe), conversions to or from 64-bit types, integer, and all instructions (issue).
2. **How many of each per trajectory.** Normals: T - 1 per axis (groups of four);
   FBM: M / 2 Philox blocks for the spectrum, the FFT's floor(log2 M / 2) two-stage
   passes of M / 4 units (an odd last stage: M / 2 butterflies) and M swaps;
   events: the groups of four drawn per trajectory and the owners' and the replay's
   loop iterations, *counted by running the kernel in the CUDA emulator*
   (``csrc/emu``: warp iterations of the ``AG_COUNT`` sites, so divergence is paid);
   the bytes stored and loaded (the emulator's count); the bookkeeping per position
   and axis (an assumption, ``BOOKKEEPING``).
3. **Occupancy** from ptxas' register report of the kernel that runs (``-Xptxas -v``)
   and the launch's threads and shared memory (the emulator's), as the CUDA occupancy
   calculator computes it.
4. **Ceilings** per trajectory from the resources of one H200 (``H200``, assumptions:
   the CUDA programming guide's per-SM throughputs for compute capability 9.0, the
   copy bandwidth ``gpu_check.py`` measured): instruction issue, the fp64 pipe, MUFU,
   64-bit conversions, shared memory, DRAM, and for FBM the serial prefix sum (one
   thread per axis, a chain of dependent fp64 adds). The estimate is the lowest
   ceiling times a latency factor: min(1, warps per scheduler / 4), i.e. four resident
   warps per scheduler are assumed to hide the pipelines' latency.

The result is a roofline, not a simulation: it names the resource each kernel should
run out of first, and the H200 measurement (``MEASURED``, 2026-12-04, or the one
``gpu_check.py`` takes) says how close the kernel comes to it.

    python bench/gpu_estimate.py            # prints the table (needs nvcc, cmake)
    python bench/gpu_estimate.py --write    # and updates bench/gpu_estimate.json

``gpu_check.py`` prints the estimate of ``bench/gpu_estimate.json`` beside each
throughput it measures (``bench/test_gpu_estimate.py`` fails when the file no longer
matches the kernels); docs/benchmarks.md holds the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "emulation"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import emu  # noqa: E402  (tests/emulation/emu.py)
from emulation_cost import occupancy, ptxas_registers  # noqa: E402

from anomgrad.models.fbm import embedding_size  # noqa: E402  (M of the circulant embedding)

T, DIM = 1000, 2
N_EMU = 1024  # trajectories the emulator runs per model to count events (mean per trajectory)

# One H200 SXM (sm_90): per SM and clock, from the CUDA C++ Programming Guide's
# arithmetic-instruction throughput table for compute capability 9.0, and the device-to-
# device copy bandwidth gpu_check.py measured on 2026-12-04 (bytes read + written).
H200 = dict(
    sms=132, clock_hz=1.98e9,
    issue=128,        # thread instructions: 4 schedulers x 1 warp instruction
    fp64=64,          # fp64 add, multiply, compare (no fma: --fmad=false)
    mufu=16,          # special-function unit (rcp/rsqrt seeds of fp64 div and sqrt)
    cvt64=16,         # conversions from and to 64-bit types
    smem_bytes=128,   # shared memory bandwidth
    dram_bytes_s=3994e9,  # copy bandwidth measured (read + written)
    dadd_latency=8,   # cycles between dependent fp64 adds (assumption)
)
# fp64 division and square root: one MUFU seed and a Newton refinement (assumption: 10
# fp64 instructions and 10 issue slots each, as nvcc's inline sequences are about long).
DIV_SQRT = dict(mufu=1, fp64=10, issue=10)
# Per position and axis of a trajectory kernel: the running sum (1 fp64 add), the
# conversion to the output type, the ring buffer in shared memory (put, flush: 8 bytes)
# and their index arithmetic (assumption: 12 issue slots).
BOOKKEEPING = dict(issue=12, fp64=1, cvt64=1, smem=8)
# One iteration of an owner's or the replay's loop over events ("light:" sites):
# a buffer read, an add or compare, the ring index (assumption).
LIGHT = dict(issue=12, fp64=2, cvt64=1, smem=16)

# The H200 measurement of 2026-12-04 (docs/benchmarks.md, n = 1 M, trajectories/s) of
# the kernels that have not changed since (FBM's, 7.75 M, was the radix-2 one before
# its two-stage FFT passes: owed to the next GPU run, which prints its own figure).
MEASURED = {"ctrw": 61.3e6, "lw": 43.3e6, "attm": 37.0e6, "sbm": 50.8e6, "bm": 63.8e6}
ALPHA = {"fbm": 0.7, "ctrw": 0.6, "lw": 1.5, "attm": 0.7, "sbm": 0.5, "bm": None}  # gpu_check.py

PROBES = r"""
#include "__GENERATE__"
namespace anomgrad::cuda { namespace {
__global__ void p_normals4(uint64_t seed, double* out) {
  double g[4];
  normals_group(seed, threadIdx.x, STREAM_AXIS, blockIdx.x, g);
  for (int j = 0; j < 4; ++j) out[4 * threadIdx.x + j] = g[j];
}
template <int Model>
__global__ void p_draw(GenerateArgs g, double p0, double p1, double* key, double* val) {
  draw_group<Model, 2>(g, threadIdx.x, blockIdx.x, p0, p1, key + threadIdx.x * kBuf,
                       val + threadIdx.x * kBuf * 2, 0);
}
template __global__ void p_draw<CTRW>(GenerateArgs, double, double, double*, double*);
template __global__ void p_draw<LW>(GenerateArgs, double, double, double*, double*);
template __global__ void p_draw<ATTM>(GenerateArgs, double, double, double*, double*);
__global__ void p_sbm_scale(double alpha, double* out) {
  out[threadIdx.x] = sbm_scale(alpha, int64_t(blockIdx.x) * blockDim.x + threadIdx.x + 1);
}
__global__ void p_circulant(double alpha, int64_t M, double* out) {
  out[threadIdx.x] = circulant_row(alpha, M, int64_t(blockIdx.x) * blockDim.x + threadIdx.x);
}
// the FFT as the shared-memory path (T <= 4097, T = 1000 here) runs it: 32-bit indices
__global__ void p_butterfly(double* re, double* im, const double* tq, int M, int l, int lh) {
  fft_radix2_at<int32_t>(re, im, tq, M, l, lh, int(blockIdx.x * blockDim.x + threadIdx.x));
}
__global__ void p_radix4(double* re, double* im, const double* tq, int M, int l, int lh) {
  fft_radix4_at<int32_t>(re, im, tq, M, l, lh, int(blockIdx.x * blockDim.x + threadIdx.x));
}
__global__ void p_swap(double* re, double* im, int l) {
  fft_swap_at<int32_t>(re, im, l, int(blockIdx.x * blockDim.x + threadIdx.x));
}
}}
"""
PROBE_NAMES = {"p_normals4": "normals4", "p_drawILi1E": "ctrw4", "p_drawILi2E": "lw4",
               "p_drawILi3E": "attm4", "p_sbm_scale": "sbm_scale", "p_circulant": "circulant",
               "p_butterfly": "butterfly", "p_radix4": "radix4", "p_swap": "swap"}


def classify(op: str) -> dict:
    """The cost of one PTX instruction by class (issue slots, fp64 pipe, MUFU, 64-bit
    conversions); memory instructions count as issue only (their bytes come from the
    emulator and the formulas below)."""
    base = op.split(".")[0]
    if base in ("ret", "exit") or op.startswith(("ld.param", "cvta", "bar")):
        return {}
    c = Counter(issue=1)
    if ".f64" in op and base in ("div", "sqrt", "rcp", "rsqrt"):
        c.update(DIV_SQRT)
        c["issue"] -= 1
    elif base == "cvt" and (".f64" in op or ".u64" in op or ".s64" in op):
        c["cvt64"] += 1
    elif ".f64" in op and base in ("add", "sub", "mul", "fma", "neg", "abs", "min", "max", "setp", "testp"):
        c["fp64"] += 1
    elif base in ("mul", "mad") and (".lo.u64" in op or ".lo.s64" in op or ".wide" in op):
        c["issue"] += 1  # 64-bit products take two or more integer multiply-adds
    elif any(t in op for t in (".u64", ".s64", ".b64")) and base not in ("ld", "st", "mov", "cvta"):
        c["issue"] += 1  # other 64-bit integer ops: two 32-bit halves
    return c


def ptx_counts(ptx: str) -> dict[str, dict]:
    """{probe: Counter of classes} for every probe entry of the PTX (straight-line code:
    a probe with a loop is flagged)."""
    out = {}
    for m in re.finditer(r"\.entry (\S+)\(.*?\n\{(.*?)\n\}", ptx, re.S):
        name = next((v for k, v in PROBE_NAMES.items() if k in m.group(1)), None)
        if name is None:
            continue
        c = Counter()
        loops = 0
        for line in m.group(2).splitlines():
            s = line.strip()
            if not s or s.startswith(("//", ".", "$", "{", "}")) or s.endswith(":"):
                continue
            s = re.sub(r"^@!?%p\d+\s+", "", s)
            op = s.split()[0].rstrip(";")
            if op.startswith("bra"):
                loops += 1
            c.update(classify(op))
        c["branches"] = loops
        out[name] = dict(c)
    return out


def compile_probes(workdir: Path) -> dict[str, dict]:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise FileNotFoundError("nvcc is not on PATH (the estimate counts nvcc's PTX)")
    src = workdir / "probes.cu"
    src.write_text(PROBES.replace("__GENERATE__", str(ROOT / "csrc" / "cuda" / "generate.cu")))
    ptx = workdir / "probes.ptx"
    subprocess.run([nvcc, "-std=c++17", "--fmad=false", "-arch=sm_90", "-O3",
                    f"-I{ROOT / 'csrc' / 'include'}", "-ptx", str(src), "-o", str(ptx)],
                   check=True, capture_output=True, text=True)
    return ptx_counts(ptx.read_text())


def emulator_counts(exe: Path, model: str, per_traj: bool) -> dict:
    """Per trajectory, from one emulated launch of N_EMU trajectories: warp iterations of
    each AG_COUNT site (x 32 / n: what a trajectory's warp issues), bytes stored and
    loaded, and the launch (threads, shared memory)."""
    a = ALPHA[model]
    cmd = f"gen {model} {DIM} {T} {N_EMU} {'p' if per_traj else 's'} f 132" + \
        ("" if per_traj or a is None else f" alpha={a}")
    k = emu.cost(exe, cmd)["kernels"][0]
    sites = {}
    for s in k["sites"]:
        if s["kind"] == 2:
            sites[s["what"]] = sites.get(s["what"], 0.0) + s["warp_iters"] * 32 / N_EMU
    return dict(sites=sites, store_bytes=k["store"]["sectors"] * 32 / N_EMU,
                load_bytes=k["load"]["sectors"] * 32 / N_EMU, threads=k["block"][0],
                smem=k["dyn_smem"] + k["static_smem"], kernel=k["kernel"])


def demand(model: str, per_traj: bool, probes: dict, em: dict) -> tuple[Counter, float]:
    """(resources one trajectory uses, the cycles of its serial chain)."""
    d = Counter()

    def add(unit: dict, times: float) -> None:
        for key in ("issue", "fp64", "mufu", "cvt64"):
            d[key] += unit.get(key, 0) * times

    steps = T - 1
    groups = DIM * math.ceil(steps / 4)  # normals_group calls for T - 1 normals per axis
    serial = 0.0
    if model == "fbm":
        M = embedding_size(T)
        l = int(math.log2(M))

        def fft() -> None:  # l // 2 two-stage passes of M / 4 units, an odd stage alone, swaps
            add(probes["radix4"], (l // 2) * (M // 4))
            add(probes["butterfly"], (l % 2) * (M // 2))
            add(probes["swap"], M)

        add(probes["normals4"], M // 2)       # the spectrum: M / 2 Philox blocks
        d["fp64"] += 2 * M                    # scaled by sqrt(lambda_k / M)
        d["issue"] += 2 * M
        fft()
        d["smem"] += 8 * (2 * M + M // 2)     # the spectrum written, e read
        # each unit reads and writes 8 doubles and 3 twiddles; a butterfly 4 and 1
        d["smem"] += (l // 2) * (M // 4) * (16 * 8 + 3 * 16) + (l % 2) * (M // 2) * (8 * 8 + 16)
        d["smem"] += 8 * 2 * M                # the swap pass (about half the pairs move)
        d["fp64"] += DIM * steps              # the prefix sums
        d["issue"] += 4 * DIM * steps
        d["smem"] += 16 * DIM * steps + 8 * DIM * T  # prefix read+write, output read
        d["cvt64"] += DIM * T
        serial = steps * H200["dadd_latency"]  # one thread per axis, axes in parallel
        if per_traj:  # the eigenvalues of each trajectory's own alpha
            add(probes["circulant"], M // 2 + 1)  # the symmetric row, mirrored
            fft()
            add(DIV_SQRT, 2 * (M // 2 + 1))
    else:
        add(BOOKKEEPING, DIM * T)
        d["smem"] += BOOKKEEPING["smem"] * DIM * T
        if model in ("bm", "sbm", "attm"):
            add(probes["normals4"], groups)
        if model in ("sbm", "attm"):
            d["fp64"] += DIM * steps           # the step's scale
            d["issue"] += DIM * steps
        if model == "sbm":
            add(probes["sbm_scale"], steps if per_traj else steps / 32)
        if model in ("ctrw", "lw", "attm"):
            what = {"ctrw": "ctrw events", "lw": "lw flights", "attm": "attm segments"}[model]
            add(probes[f"{model}4"], em["sites"].get(what, 0.0))
            light = sum(v for k, v in em["sites"].items() if k.startswith("light:"))
            add(LIGHT, light)
            d["smem"] += LIGHT["smem"] * light
    d["dram"] = em["store_bytes"] + em["load_bytes"]
    return d, serial


def estimate(model: str, per_traj: bool, probes: dict, em: dict, regs: dict) -> dict:
    d, serial = demand(model, per_traj, probes, em)
    h = H200
    cyc = {"issue": d["issue"] / h["issue"], "fp64 pipe": d["fp64"] / h["fp64"],
           "MUFU": d["mufu"] / h["mufu"], "64-bit conversions": d["cvt64"] / h["cvt64"],
           "shared memory": d["smem"] / h["smem_bytes"]}
    per_sm_s = {k: v / h["clock_hz"] for k, v in cyc.items()}  # SM-seconds per trajectory
    rates = {k: h["sms"] / v for k, v in per_sm_s.items() if v > 0}
    rates["DRAM"] = h["dram_bytes_s"] / d["dram"]
    kernel = "fbm_kernel<FbmSpec<float, true>>" if model == "fbm" else \
        f"traj_kernel<TrajSpec<float, {['fbm', 'ctrw', 'lw', 'attm', 'sbm', 'bm'].index(model)}, {DIM}>>"
    r = next((v for n, v in regs.items() if kernel.replace(" ", "") in n.replace(" ", "")
              .replace("anomgrad::cuda::(anonymousnamespace)::", "")), {})
    blocks, occ, limit = occupancy(r.get("registers", 64), em["threads"], em["smem"])
    warps = blocks * em["threads"] // 32
    if serial:
        rates["serial prefix sum"] = blocks * h["sms"] * h["clock_hz"] / serial
    bound = min(rates, key=rates.get)
    latency = min(1.0, warps / 4 / 4)
    return dict(model=model, alpha="per trajectory" if per_traj else ALPHA[model],
                demand={k: round(v, 1) for k, v in d.items()}, ceilings={k: round(v) for k, v in rates.items()},
                bound=bound, registers=r.get("registers"), spill=r.get("spill"),
                blocks_per_sm=blocks, warps_per_sm=warps, occupancy_limit=limit,
                latency_factor=round(latency, 3), estimate=round(rates[bound] * latency),
                measured=None if per_traj else MEASURED.get(model))


def run(exe: Path | None = None) -> tuple[list[dict], dict]:
    """(a row per kernel and alpha, the per-unit PTX counts); the emulator is ``exe``,
    ``$AG_EMU_BIN``, or built under build/emu-fast."""
    if exe is None:
        exe = Path(os.environ["AG_EMU_BIN"]) if os.environ.get("AG_EMU_BIN") else \
            emu.build(ROOT / "build" / "emu-fast", sanitize=False)
    with tempfile.TemporaryDirectory() as d:
        probes = compile_probes(Path(d))
    regs = ptxas_registers(ROOT / "csrc" / "cuda" / "generate.cu")
    rows = []
    for model in ("fbm", "ctrw", "lw", "attm", "sbm", "bm"):
        for per_traj in ((False, True) if model in ("fbm", "sbm") else (False,)):
            rows.append(estimate(model, per_traj, probes, emulator_counts(exe, model, per_traj), regs))
    return rows, probes


def table(rows: list[dict]) -> str:
    L = ["| model (alpha) | bound | ceilings, M traj/s | registers | warps/SM | estimate | measured (H200) | measured / estimate |",
         "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        ceil = ", ".join(f"{k} {v / 1e6:.0f}" for k, v in sorted(r["ceilings"].items(), key=lambda kv: kv[1])[:3])
        meas, est = r["measured"], r["estimate"]
        got = "" if meas is None else f"{meas / 1e6:.1f} M"
        frac = "" if meas is None else f"{meas / est:.2f}"
        alpha = "-" if r["alpha"] is None else r["alpha"]
        L.append(f"| {r['model']} ({alpha}) | {r['bound']} | {ceil} | {r['registers']} | "
                 f"{r['warps_per_sm']} | {est / 1e6:.1f} M | {got} | {frac} |")
    return "\n".join(L)


ESTIMATE_JSON = Path(__file__).resolve().parent / "gpu_estimate.json"


def load() -> dict:
    """{model: estimate in trajectories/s} of the committed table (scalar alpha), or {}."""
    try:
        rows = json.loads(ESTIMATE_JSON.read_text())["rows"]
    except (OSError, ValueError, KeyError):
        return {}
    return {r["model"]: r["estimate"] for r in rows if r["alpha"] != "per trajectory"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help=f"update {ESTIMATE_JSON.name}")
    a = ap.parse_args()
    rows, probes = run()
    print("Per-unit PTX counts:", json.dumps(probes))
    print(table(rows))
    if a.write:
        ESTIMATE_JSON.write_text(json.dumps({"H200": H200, "probes": probes, "rows": rows},
                                            indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
