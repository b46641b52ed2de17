"""Training ResAnDi on the CPU (issue #19): one optimizer step at width 16, batch 512,
of the plain fp32 PyTorch loop (the baseline) and of ``anomgrad train`` with its default
precision (bf16 where the CPU has it natively; generation and preprocessing included).
The full table (widths 16 and 64, fp32 and bf16, 1 and 2 threads) is
``bench/train_speed.py``; figures in docs/benchmarks.md."""

import pytest
from train_speed import compute_rate, train_rate

from anomgrad.resandi.precision import cpu_has_native_bf16


@pytest.mark.parametrize("impl", ["plain fp32 loop", "anomgrad train (amp auto)"])
def test_train_step_width16(benchmark, impl):
    benchmark.group = "ResAnDi training step, width 16, batch 512, cpu"
    if impl == "plain fp32 loop":
        fn = lambda: compute_rate(16, False, 2, steps=2)  # noqa: E731
    else:
        fn = lambda: train_rate(16, cpu_has_native_bf16(), 2, steps=3)  # noqa: E731
    r = benchmark.pedantic(fn, rounds=1, iterations=1)
    benchmark.extra_info["samples_per_s"] = r["samples_per_s"]
    assert r["samples_per_s"] > 0
