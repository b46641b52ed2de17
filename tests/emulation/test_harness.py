"""The emulator itself: what a real launch rejects is rejected, a missing barrier shows in
some thread order, a vote or a shuffle publishes no store under the weak model, shared
memory is poisoned, warp intrinsics work in lock-step, and the cost model counts sectors
and lock-step iterations as docs/emulation.md defines them."""

import shutil

import pytest

from . import emu

pytestmark = pytest.mark.emulation

SELFTESTS = ["launch_limits", "dynamic_smem_limits", "static_smem_limit", "barrier_orders",
             "divergent_barrier", "deadlock", "exited_barrier", "poisoned_smem", "intrinsics",
             "shuffle_edges", "block_bounds", "cost_model", "weak_memory", "resources"]
# the emulator's own kernels again under the weak model of shared memory
WEAK = ["barrier_orders", "intrinsics", "block_bounds"]


@pytest.fixture(scope="module")
def results(emu_exe):
    return emu.run(emu_exe, [(n, f"selftest {n}") for n in SELFTESTS]
                   + [(f"weak-{n}", f"weak selftest {n}") for n in WEAK])


@pytest.mark.parametrize("name", SELFTESTS + [f"weak-{n}" for n in WEAK])
def test_emulator(results, name):
    status, detail = results[name]
    assert status == "ok", detail


# (case, the kernel's mangled name contains this): float FBM with one alpha per trajectory,
# 3-D CTRW in double, and one kernel of every other .cu
PTXAS_CASES = [("gen fbm 2 1000 3 p f 2", "fbm_kernelINS1_7FbmSpecIfLb1EEEE"),
               ("gen ctrw 3 257 70 s d 132", "traj_kernelINS1_8TrajSpecIdLi1ELi3EEEEE"),
               ("proc normalize 2 257 37 f 2", "normalize_kernelIfEE"),
               ("cam 13 64 32 1000 10 cam,cells,minmax 132", "gradcam_kernel"),
               ("words 70 8 1", "words_kernel")]


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc for ptxas' report")
@pytest.mark.parametrize("command,mangled", PTXAS_CASES, ids=["fbm", "ctrw", "normalize", "gradcam", "words"])
def test_registers_and_launch_bounds_from_ptxas(emu_exe, command, mangled):
    """Every launch takes its kernel's registers and __launch_bounds__ from ptxas, not the
    assumed 64 registers: the kernel is found by its mangled name in the executable."""
    table = emu.ptxas_table(emu_exe.parent)
    rows = [ln.split() for ln in table.read_text().splitlines()]
    (regs, bound), = [(int(r[1]), int(r[2])) for r in rows if mangled in r[0]]
    (k,) = emu.cost(emu_exe, command)["kernels"]
    assert k["from_ptxas"] and (k["registers"], k["max_threads"]) == (regs, bound)
