"""The defects of issue #10, through the emulator: bad arguments are rejected with a clear
ValueError before any launch (T = 0, L = 0, model ids, dims, sizes, null pointers, the FBM
scratch), and a negative circulant eigenvalue is reported by the CUDA twin exactly as by
the CPU twin (the most negative one, whatever the order the blocks run in: "m").  Each case runs in its own process: before the fixes some of them were an
AddressSanitizer report (an out-of-bounds write), which ends the process."""

import pytest

from . import emu

pytestmark = pytest.mark.emulation

INVALID = ["gen_model", "gen_dim", "gen_sizes", "gen_null", "gen_alpha", "gen_fbm_scratch",
           "proc_T0", "proc_args", "cam_L0", "cam_args", "rng_args"]


@pytest.mark.parametrize("what", INVALID)
def test_bad_arguments_rejected_before_launch(emu_exe, what):
    status, detail = emu.run(emu_exe, [(what, f"invalid {what}")])[what]
    assert status == "ok", detail


@pytest.mark.parametrize("T,alpha", [(100, "s"), (1000, "p"), (5000, "p"), (100, "m"),
                                     (1000, "m")])
def test_fbm_negative_eigenvalue_reported_like_the_cpu(emu_exe, T, alpha):
    case = f"fbmneg-{T}-{alpha}"
    status, detail = emu.run(emu_exe, [(case, f"fbmneg {T} {alpha}")])[case]
    assert status == "ok", detail
