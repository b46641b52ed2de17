"""The emulator itself: what a real launch rejects is rejected, a missing barrier shows in
some thread order, a vote or a shuffle publishes no store under the weak model, shared
memory is poisoned, warp intrinsics work in lock-step, and the cost model counts sectors
and lock-step iterations as docs/emulation.md defines them."""

import pytest

from . import emu

pytestmark = pytest.mark.emulation

SELFTESTS = ["launch_limits", "dynamic_smem_limits", "static_smem_limit", "barrier_orders",
             "divergent_barrier", "deadlock", "exited_barrier", "poisoned_smem", "intrinsics",
             "shuffle_edges", "block_bounds", "cost_model", "weak_memory"]
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
