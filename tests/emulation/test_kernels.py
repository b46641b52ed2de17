"""Every CUDA kernel, emulated on the CPU, equals its CPU twin bit for bit in every thread
order (forward, reverse, shuffled), under AddressSanitizer and UBSan when ag_emu is built
as .ci/emulation.sh builds it; a subset again under the weak model of shared memory, in
which votes and shuffles order no stores (docs/emulation.md).  Cases: csrc/emu/driver.cpp
reads them."""

from __future__ import annotations

import pytest

from . import emu

pytestmark = pytest.mark.emulation

MODELS = ["fbm", "ctrw", "lw", "attm", "sbm", "bm"]
TS = [2, 31, 257, 258, 1000, 4097, 4098, 10000]


def _gen_cases():
    cases = []
    k = 0
    for model in MODELS:
        for T in TS:
            for dim in (1, 2, 3):
                for am in ("s", "p"):
                    # n is never a multiple of a block or a warp; long FBM trajectories cost most
                    n = 3 if (model == "fbm" and T >= 4097) else (37 if T >= 4097 else 70)
                    dt = "d" if (dim + TS.index(T) + (am == "p")) % 2 else "f"
                    sms = 2 if k % 3 == 0 else 132  # few SMs: grid-stride loops run
                    cases.append((f"gen-{model}-T{T}-d{dim}-{am}-{dt}", f"gen {model} {dim} {T} {n} {am} {dt} {sms}"))
                    k += 1
        for dt in ("f", "d"):
            cases.append((f"gen-{model}-n0-{dt}", f"gen {model} 2 1000 0 p {dt} 132"))
            cases.append((f"gen-{model}-n1-{dt}", f"gen {model} 2 100 1 p {dt} 132"))
    return cases


def _proc_cases():
    cases = []
    for kind in ("normalize", "noise", "scale", "cut"):
        for T in (1, 2, 31, 257, 1000):
            for dim in (1, 2, 3):
                for dt in ("f", "d"):
                    n = 37 if T < 1000 else 19
                    cases.append((f"proc-{kind}-T{T}-d{dim}-{dt}", f"proc {kind} {dim} {T} {n} {dt} {2 if dim == 2 else 132}"))
        cases.append((f"proc-{kind}-n0", f"proc {kind} 2 100 0 f 132"))
    return cases


def _cam_cases():
    cases = []
    shapes = [(1, 10), (1, 1), (7, 100), (32, 1000), (500, 1000), (50, 50), (25, 50), (50, 20), (3, 1)]
    flags = ["cam,cells,minmax", "cam,linear,minmax", "cam,cells,relu", "cells", "cam,linear,relu,minmax"]
    for j, (L, T) in enumerate(shapes):
        for q, f in enumerate(flags):
            nb = 10 if (j + q) % 2 == 0 else 0
            K = (16, 64, 9)[(j + q) % 3]
            cases.append((f"cam-L{L}-T{T}-{f.replace(',', '+')}-b{nb}", f"cam 13 {K} {L} {T} {nb} {f} {2 if q % 2 else 132}"))
    cases.append(("cam-n0", "cam 0 16 32 1000 10 cam,cells,minmax 132"))
    return cases


def _rng_cases():
    return [("words-3x64", "words 3 64 5"), ("words-70x8", "words 70 8 1"), ("words-0", "words 0 8 1"),
            ("words-1x4", "words 1 4 65"), ("normals-5x63", "normals 5 63 16"),
            ("normals-300x7", "normals 300 7 32"), ("normals-0", "normals 0 5 16")]


def _weak_cases():
    """Each kernel under the weak model (10-20x slower): every generator with scalar and
    per-trajectory alpha, each processing kernel, Grad-CAM with and without bands, the RNG."""
    cases = []
    for k, model in enumerate(MODELS):
        n = 3 if model == "fbm" else 70
        cases.append((f"weak-{model}-T1000-s", f"weak gen {model} {1 + k % 3} 1000 {n} s {'fd'[k % 2]} 2"))
        cases.append((f"weak-{model}-T257-p", f"weak gen {model} {1 + (k + 1) % 3} 257 {n} p {'df'[k % 2]} 132"))
    cases.append(("weak-fbm-T4098-p", "weak gen fbm 2 4098 3 p d 2"))
    for kind in ("normalize", "noise", "scale", "cut"):
        cases.append((f"weak-proc-{kind}", f"weak proc {kind} 2 257 37 f 2"))
    cases += [("weak-cam-bands", "weak cam 13 64 32 1000 10 cam,cells,minmax 132"),
              ("weak-cam", "weak cam 13 16 7 100 0 cam,linear,minmax 2"),
              ("weak-words", "weak words 70 8 1"), ("weak-normals", "weak normals 300 7 32")]
    return cases


CASES = _gen_cases() + _proc_cases() + _cam_cases() + _rng_cases() + _weak_cases()
@pytest.fixture(scope="module")
def results(emu_exe):
    return emu.run(emu_exe, CASES)


@pytest.mark.parametrize("case", [i for i, _ in CASES])
def test_cuda_twin_equals_cpu_twin(results, case):
    status, detail = results.get(case, ("missing", ""))
    assert status == "ok", f"{case}: {status} {detail}"
