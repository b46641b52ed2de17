"""Running csrc/emu's ag_emu: the CUDA kernels compiled for the host against the
emulator and compared with their CPU twins (docs/emulation.md).

``AG_EMU_BIN`` names a built ag_emu (``.ci/emulation.sh`` builds one with AddressSanitizer
and UBSan); otherwise it is configured and built under ``build/emu`` on first use (cmake
and a C++17 compiler needed; about a minute on 2 cores).

Where nvcc is on PATH, ``run`` also hands ag_emu each kernel's registers and launch bounds
as ptxas reports them for sm_90 (``AG_EMU_PTXAS``), so the emulated occupancy queries and
launches use the real figures instead of an assumed 64 registers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build(build_dir: Path, sanitize: bool = True) -> Path:
    """Configure and build ag_emu in build_dir (incremental); returns the executable."""
    return build_tree(ROOT, build_dir, sanitize)


def build_tree(root: Path, build_dir: Path, sanitize: bool = True) -> Path:
    """ag_emu from the csrc/ under root (a copy, for tests/emulation/mutants.py)."""
    cmake = shutil.which("cmake")
    if cmake is None:
        raise FileNotFoundError("cmake is not on PATH")
    build_dir.mkdir(parents=True, exist_ok=True)
    if not (build_dir / "CMakeCache.txt").exists():
        subprocess.run([cmake, "-S", str(root / "csrc" / "emu"), "-B", str(build_dir),
                        "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                        f"-DAG_EMU_SANITIZE={'ON' if sanitize else 'OFF'}"],
                       check=True, capture_output=True, text=True)
    r = subprocess.run([cmake, "--build", str(build_dir), "-j", os.environ.get("AG_EMU_JOBS", "2")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"building ag_emu failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return build_dir / "ag_emu"


def executable() -> Path:
    env = os.environ.get("AG_EMU_BIN")
    if env:
        p = Path(env)
        if not p.is_file():
            raise FileNotFoundError(f"AG_EMU_BIN={env} does not exist")
        return p
    return build(ROOT / "build" / "emu")


def ptxas_report(source: Path) -> dict[str, dict]:
    """{mangled kernel: {"registers", "spill", "stack", "max_threads"}} of one .cu for sm_90,
    as the wheel's build compiles it (``nvcc -ptx`` for the launch bounds, ``ptxas -v`` on
    that PTX for registers and spills); {} without nvcc."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return {}
    ptxas = str(Path(nvcc).with_name("ptxas"))
    with tempfile.TemporaryDirectory() as d:
        ptx = Path(d) / "k.ptx"
        subprocess.run([nvcc, "-std=c++17", "--fmad=false", "-arch=sm_90", "-O3",
                        f"-I{ROOT / 'csrc' / 'include'}", "-ptx", str(source), "-o", str(ptx)],
                       check=True, capture_output=True, text=True)
        text = ptx.read_text()
        r = subprocess.run([ptxas, "-arch=sm_90", "-O3", "-v", str(ptx), "-o", str(Path(d) / "k.cubin")],
                           check=True, capture_output=True, text=True)
    out: dict[str, dict] = {}
    # .entry NAME( params ) [.maxntid X, Y, Z] [.minnctapersm B] {
    for m in re.finditer(r"\.entry\s+(\S+?)\s*\((.*?)\)([^{]*)\{", text, re.S):
        nt = re.search(r"\.maxntid\s+(\d+)\s*,\s*(\d+)\s*,\s*(\d+)", m.group(3))
        out[m.group(1)] = {"max_threads": int(nt[1]) * int(nt[2]) * int(nt[3]) if nt else None}
    name = None
    for line in (r.stdout + r.stderr).splitlines():
        m = re.search(r"Compiling entry function '(\S+)' for 'sm_90'", line)
        if m:
            name = m.group(1)
            out.setdefault(name, {"max_threads": None})
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores", line)
        if m and name:
            out[name].update(stack=int(m.group(1)), spill=int(m.group(2)))
        m = re.search(r"Used (\d+) registers", line)
        if m and name:
            out[name]["registers"] = int(m.group(1))
    return out


def ptxas_table(build_dir: Path) -> Path | None:
    """The file ag_emu reads from AG_EMU_PTXAS, one kernel per line ("mangled registers
    max_threads", 0 for no launch bound), for every csrc/cuda/*.cu; rebuilt when a source
    under csrc/ is newer.  None without nvcc."""
    if shutil.which("nvcc") is None:
        return None
    table = build_dir / "ptxas_sm90.txt"
    newest = max(f.stat().st_mtime for f in (ROOT / "csrc").rglob("*") if f.suffix in (".cu", ".cuh", ".h"))
    if table.exists() and table.stat().st_mtime >= newest:
        return table
    lines = []
    for cu in sorted((ROOT / "csrc" / "cuda").glob("*.cu")):
        for name, v in ptxas_report(cu).items():
            if "registers" in v:
                lines.append(f"{name} {v['registers']} {v['max_threads'] or 0}\n")
    build_dir.mkdir(parents=True, exist_ok=True)
    tmp = table.with_suffix(".tmp")
    tmp.write_text("".join(lines))
    os.replace(tmp, table)
    return table


def run(exe: Path, cases: list[tuple[str, str]], timeout: float = 1800) -> dict[str, tuple[str, str]]:
    """Run (id, command) cases; returns id -> (status, detail) with status ok, fail, json
    or crash.  A crash (an AddressSanitizer report, an abort) marks the case that was running
    and the remaining cases run in a fresh process."""
    results: dict[str, tuple[str, str]] = {}
    todo = list(cases)
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0:halt_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if "AG_EMU_PTXAS" not in env:
        table = ptxas_table(Path(exe).parent)
        if table is not None:
            env["AG_EMU_PTXAS"] = str(table)
    while todo:
        text = "".join(f"{i} {c}\n" for i, c in todo)
        p = subprocess.run([str(exe)], input=text, capture_output=True, text=True, timeout=timeout,
                           env=env)
        done = set()
        for line in p.stdout.splitlines():
            parts = line.split(" ", 2)
            if len(parts) >= 2:
                results[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
                done.add(parts[0])
        rest = [(i, c) for i, c in todo if i not in done]
        if not rest:
            break
        if p.returncode == 0:  # finished without answering: should not happen
            for i, _ in rest:
                results[i] = ("crash", "no answer from ag_emu")
            break
        results[rest[0][0]] = ("crash", f"ag_emu exited with {p.returncode} while running "
                                        f"'{rest[0][1]}':\n{p.stderr[-6000:]}")
        todo = rest[1:]
    return results


def cost(exe: Path, command: str) -> dict:
    """The cost model of one forward-order run of a command: {"compare": "equal" or how the
    CUDA twin differed from the CPU twin, "kernels": [one dict per kernel]}."""
    r = run(exe, [("cost", "cost " + command)])["cost"]
    if r[0] != "json":
        raise RuntimeError(f"cost {command}: {r[0]} {r[1]}")
    return json.loads(r[1])
