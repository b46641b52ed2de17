import os
import sys

import numpy as np
import pytest

# the helpers beside this file (reference.py, stats.py, devices.py, ...) are importable
# from the test folders
sys.path.insert(0, os.path.dirname(__file__))

from devices import cuda_missing  # noqa: E402


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
