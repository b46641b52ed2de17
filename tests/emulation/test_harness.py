"""The emulator itself: what a real launch rejects is rejected, a missing barrier shows in
some thread order, shared memory is poisoned, warp intrinsics work in lock-step, and the
cost model counts sectors and lock-step iterations as docs/emulation.md defines them."""

import pytest

from . import emu

pytestmark = pytest.mark.emulation

SELFTESTS = ["launch_limits", "dynamic_smem_limits", "static_smem_limit", "barrier_orders",
             "divergent_barrier", "deadlock", "exited_barrier", "poisoned_smem", "intrinsics",
             "shuffle_edges", "block_bounds", "cost_model"]


@pytest.fixture(scope="module")
def results(emu_exe):
    return emu.run(emu_exe, [(n, f"selftest {n}") for n in SELFTESTS])


@pytest.mark.parametrize("name", SELFTESTS)
def test_emulator(results, name):
    status, detail = results[name]
    assert status == "ok", detail
