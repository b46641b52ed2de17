import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# the helpers beside this file (reference.py, stats.py, devices.py, ...) are importable
# from the test folders
sys.path.insert(0, os.path.dirname(__file__))

from devices import cuda_missing  # noqa: E402

# Property-based tests (tests/fuzz): a fixed example budget in CI, a longer search by
# HYPOTHESIS_PROFILE=long.  No deadline: the first example pays Numba's compilation.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture,
                                                 HealthCheck.data_too_large])
settings.register_profile("long", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture,
                                                 HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)


def pytest_collection_modifyitems(config, items):
    why = cuda_missing()
    if why is None:
        return
    skip = pytest.mark.skip(reason=f"gpu test skipped: {why} (runs on a GPU machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _auto_precision_is_fp32_on_the_cpu(monkeypatch):
    """``amp="auto"`` means bf16 on CPUs with avx512_bf16/AMX: the suite must not depend
    on which CPU runs it, so "auto" is fp32 here, as on a CPU without them.  Tests of
    bf16 ask for it ("bf16", emulated where the CPU lacks it) or re-patch this."""
    from anomgrad.resandi import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
