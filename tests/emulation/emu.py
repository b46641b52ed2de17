"""Running csrc/emu's ag_emu: the CUDA kernels compiled for the host against the
emulator and compared with their CPU twins (docs/emulation.md).

``AG_EMU_BIN`` names a built ag_emu (``.ci/emulation.sh`` builds one with AddressSanitizer
and UBSan); otherwise it is configured and built under ``build/emu`` on first use (cmake
and a C++17 compiler needed; about a minute on 2 cores)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
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


def run(exe: Path, cases: list[tuple[str, str]], timeout: float = 1800) -> dict[str, tuple[str, str]]:
    """Run (id, command) cases; returns id -> (status, detail) with status ok, fail, json
    or crash.  A crash (an AddressSanitizer report, an abort) marks the case that was running
    and the remaining cases run in a fresh process."""
    results: dict[str, tuple[str, str]] = {}
    todo = list(cases)
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0:halt_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
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
