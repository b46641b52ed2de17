"""bench/gpu_estimate.py: its PTX accounting, and that the committed estimate
(bench/gpu_estimate.json, printed by gpu_check.py beside each measurement) is the one
today's kernels give."""

import json
import math
import shutil

import pytest

import gpu_estimate as G


@pytest.mark.parametrize("op,want", [
    ("add.rn.f64", {"issue": 1, "fp64": 1}),
    ("setp.lt.f64", {"issue": 1, "fp64": 1}),
    ("div.rn.f64", {"issue": G.DIV_SQRT["issue"], "fp64": G.DIV_SQRT["fp64"], "mufu": 1}),
    ("sqrt.rn.f64", {"issue": G.DIV_SQRT["issue"], "fp64": G.DIV_SQRT["fp64"], "mufu": 1}),
    ("cvt.rn.f32.f64", {"issue": 1, "cvt64": 1}),
    ("add.s32", {"issue": 1}),
    ("add.s64", {"issue": 2}),
    ("mul.wide.u32", {"issue": 2}),
    ("ld.param.u64", {}),
])
def test_ptx_instruction_classes(op, want):
    assert {k: v for k, v in G.classify(op).items() if v} == want


def test_ptx_counts_read_only_the_probes():
    ptx = """
.visible .entry _Z5otherPd(
)
{
\tadd.rn.f64 \t%fd1, %fd2, %fd3;
}
.entry _ZN8anomgrad4cuda10p_normals4EmPd(
\t.param .u64 a
)
{
\t.reg .f64 \t%fd<3>;
\tld.param.u64 \t%rd1, [a];
\tmul.rn.f64 \t%fd1, %fd2, %fd2;
\t@%p1 bra \t$L__BB0_2;
$L__BB0_2:
\tsqrt.rn.f64 \t%fd2, %fd1;
\tret;
}
"""
    c = G.ptx_counts(ptx)
    assert list(c) == ["normals4"]
    assert c["normals4"] == {"issue": 1 + 1 + G.DIV_SQRT["issue"], "fp64": 1 + G.DIV_SQRT["fp64"],
                             "mufu": 1, "branches": 1}


@pytest.mark.skipif(shutil.which("nvcc") is None or shutil.which("cmake") is None,
                    reason="needs nvcc (the probes' PTX) and cmake (the emulator)")
def test_committed_estimate_is_todays():
    rows, _ = G.run(G.emu.executable())
    committed = {(r["model"], str(r["alpha"])): r for r in json.loads(G.ESTIMATE_JSON.read_text())["rows"]}
    for r in rows:
        old = committed[(r["model"], str(r["alpha"]))]
        assert math.isclose(r["estimate"], old["estimate"], rel_tol=0.01), (
            f"{r['model']} ({r['alpha']}): the kernels now give {r['estimate']:,} traj/s against "
            f"{old['estimate']:,} in bench/gpu_estimate.json: run python bench/gpu_estimate.py --write")
        assert r["bound"] == old["bound"]
    assert len(rows) == len(committed)
