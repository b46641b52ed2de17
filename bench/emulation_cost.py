"""The CUDA kernels' memory and lock-step cost, measured without a GPU.

Runs every kernel through the emulator (csrc/emu, docs/emulation.md) with the cost model
on, at n = 4096, T = 1000, dim = 2, float32, and prints one markdown table:

* sector efficiency of the global loads and of the stores: useful bytes over 32 x the
  32-byte sectors their warp-wide instructions touch (1.00 = every byte fetched is used);
* divergence: lock-step warp iterations of the event bodies (loops marked AG_COUNT, whose
  trip count differs between the lanes of a warp) over the mean per-lane iterations
  (1.00 = no lane idles);
* for FBM, the occupancy on an H100/H200 at T = 1000 from the registers ptxas reports
  (``ptxas -v`` on nvcc's PTX, sm_90) and the launch's shared memory.

    python bench/emulation_cost.py              # builds build/emu-fast (-O2, no sanitizers)
    python bench/emulation_cost.py --sites      # also every recorded site
    AG_EMU_BIN=... python bench/emulation_cost.py --json cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "emulation"))
import emu  # noqa: E402  (tests/emulation/emu.py)

N, T, DIM = 4096, 1000, 2
# Scalar alphas of docs/benchmarks.md; "p" rows draw one alpha per trajectory from the
# model's whole range (csrc/emu/driver.cpp).
CASES = [
    ("fbm", "alpha 0.7", f"gen fbm {DIM} {T} {N} s f 132 alpha=0.7"),
    ("fbm", "alpha per traj.", f"gen fbm {DIM} {T} {N} p f 132"),
    ("ctrw", "alpha 0.9", f"gen ctrw {DIM} {T} {N} s f 132 alpha=0.9"),
    ("ctrw", "alpha per traj.", f"gen ctrw {DIM} {T} {N} p f 132"),
    ("lw", "alpha 1.5", f"gen lw {DIM} {T} {N} s f 132 alpha=1.5"),
    ("lw", "alpha per traj.", f"gen lw {DIM} {T} {N} p f 132"),
    ("attm", "alpha 0.7", f"gen attm {DIM} {T} {N} s f 132 alpha=0.7"),
    ("attm", "alpha per traj.", f"gen attm {DIM} {T} {N} p f 132"),
    ("sbm", "alpha 0.5", f"gen sbm {DIM} {T} {N} s f 132 alpha=0.5"),
    ("sbm", "alpha per traj.", f"gen sbm {DIM} {T} {N} p f 132"),
    ("bm", "", f"gen bm {DIM} {T} {N} s f 132"),
    ("normalize", "", f"proc normalize {DIM} {T} {N} f 132"),
    ("add_noise", "", f"proc noise {DIM} {T} {N} f 132"),
    ("scale_diffusion", "", f"proc scale {DIM} {T} {N} f 132"),
    ("cut", "", f"proc cut {DIM} {T} {N} f 132"),
    ("gradcam", "K 64, L 32, 10 bands", f"cam {N} 64 32 {T} 10 cam,cells,minmax 132"),
    ("rng_words", "1000 words", f"words {N} 1000 16"),
    ("rng_normals", "1000 normals", f"normals {N} 1000 16"),
]


def efficiency(m: dict) -> float | None:
    return m["useful"] / (32.0 * m["sectors"]) if m["sectors"] else None


def used_fraction(k: dict) -> float | None:
    """Events the trajectories use over events drawn (groups of four), for the event kernels."""
    drawn = sum(s["thread_iters"] for s in k["sites"] if s["kind"] == 2 and not s["what"].startswith("light:")
                and s["what"].split()[-1] in ("events", "flights", "segments"))
    used = sum(s["thread_iters"] for s in k["sites"] if s["kind"] == 2 and s["what"] == "light:used")
    return used / (4 * drawn) if drawn and used else None


def divergence(k: dict) -> float | None:
    w = sum(s["warp_iters"] for s in k["sites"] if s["kind"] == 2 and not s["what"].startswith("light:"))
    t = sum(s["thread_iters"] for s in k["sites"] if s["kind"] == 2 and not s["what"].startswith("light:"))
    return w / t if t else None


# ---- occupancy on sm_90 (H100/H200) from ptxas ---------------------------------------------

SM90 = dict(max_warps=64, max_blocks=32, regs=65536, reg_unit=256, smem=233472, smem_reserved=1024,
            smem_unit=128)


def occupancy(regs: int, threads: int, smem: int, sm=SM90) -> tuple[int, float, str]:
    """(blocks per SM, occupancy, limiting resource) as the CUDA occupancy calculator."""
    warps = -(-threads // 32)
    per_warp = -(-regs * 32 // sm["reg_unit"]) * sm["reg_unit"]
    by = {
        "warps": sm["max_warps"] // warps,
        "blocks": sm["max_blocks"],
        "registers": (sm["regs"] // per_warp) // warps if regs else sm["max_blocks"],
        "shared memory": sm["smem"] // (-(-smem // sm["smem_unit"]) * sm["smem_unit"] + sm["smem_reserved"]),
    }
    b = min(by.values())
    limit = " and ".join(k for k, v in by.items() if v == b)
    return b, b * warps / sm["max_warps"], limit


def ptxas_registers(source: Path) -> dict[str, dict]:
    """{demangled kernel: {"registers": r, "spill": bytes, "stack": bytes, "max_threads": n}}
    of one .cu for sm_90 (tests/emulation/emu.py: ptxas_report); {} without nvcc."""
    out: dict[str, dict] = {}
    for name, v in emu.ptxas_report(source).items():
        try:
            name = subprocess.run(["c++filt", name], capture_output=True, text=True).stdout.strip() or name
        except FileNotFoundError:
            pass
        out[name] = v
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", action="store_true", help="print every recorded site")
    ap.add_argument("--json", help="write the raw statistics here")
    ap.add_argument("--only", help="comma-separated subset of the rows (fbm,ctrw,...)")
    args = ap.parse_args()
    exe = Path(os.environ["AG_EMU_BIN"]) if os.environ.get("AG_EMU_BIN") else \
        emu.build(ROOT / "build" / "emu-fast", sanitize=False)
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"Emulated on {cpu}, {os.cpu_count()} cores, no GPU; n = {N}, T = {T}, dim = {DIM}, float32.\n")
    rows, raw = [], {}
    only = set(args.only.split(",")) if args.only else None
    for what, alpha, cmd in CASES:
        if only and what not in only:
            continue
        res = emu.cost(exe, cmd)
        raw[f"{what} {alpha}".strip()] = res
        for k in res["kernels"]:
            rows.append((what, alpha, k, res["compare"]))
    regs = ptxas_registers(ROOT / "csrc" / "cuda" / "generate.cu")
    print("| kernel | case | launch (grid x block, shared memory) | load eff. | store eff. | divergence | events used / drawn |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    fbm_launch = None
    for what, alpha, k, cmp in rows:
        launch = f"{k['grid'][0]} x {k['block'][0]}, {k['dyn_smem'] + k['static_smem']} B smem"
        if what == "fbm" and fbm_launch is None:
            fbm_launch = k
        print(f"| {what} (`{k['kernel']}`) | {alpha} | {launch} | {fmt(efficiency(k['load']))} | "
              f"{fmt(efficiency(k['store']))} | {fmt(divergence(k))} | {fmt(used_fraction(k))} |")
    differ = sorted({f"{w} {a}".strip() for w, a, _, c in rows if c != "equal"})
    if differ:
        print(f"\nNot bit-identical to the CPU twin in this run: {', '.join(differ)}.")
    if fbm_launch is not None:
        # the kernel that runs at T = 1000: float output, work area in shared memory (the
        # current kernel; before the rebuild there was one fbm_kernel<float>)
        fbm = {n: v for n, v in regs.items() if "fbm_kernel" in n and "registers" in v
               and ("FbmSpec<float, true>" in n or "fbm_kernel<float>" in n)}
        print()
        if not fbm:
            print("FBM occupancy: nvcc not found, registers unknown.")
        for name, v in fbm.items():
            smem = fbm_launch["dyn_smem"] + fbm_launch["static_smem"]
            b, occ, lim = occupancy(v["registers"], fbm_launch["block"][0], smem)
            short = re.sub(r"\(.*", "", re.sub(r"\w+::|\(anonymous namespace\)::", "", name))
            short = short.replace("void ", "")
            print(f"FBM occupancy at T = {T} on sm_90: `{short}` {v['registers']} registers "
                  f"(spills {v.get('spill', 0)} B), {fbm_launch['block'][0]} threads, {smem} B shared "
                  f"-> {b} blocks/SM, {occ:.0%} of 64 warps (limited by {lim}).")
    if args.sites:
        for what, alpha, k, _ in rows:
            print(f"\n{what} {alpha} `{k['kernel']}`:")
            for s in k["sites"]:
                if s["kind"] in (0, 1) and s["sectors"]:
                    print(f"  {s['site']:28s} {s['what']:6s} {s['instructions']:10d} instr  "
                          f"eff {s['useful'] / (32 * s['sectors']):.3f}")
                elif s["kind"] == 2 and s["thread_iters"]:
                    print(f"  {s['site']:28s} {s['what']:24s} divergence {s['warp_iters'] / s['thread_iters']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": raw, "ptxas": regs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
