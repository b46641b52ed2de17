import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)


def _cuda_ready():
    try:
        from anomgrad import _core

        if not (_core.built_with_cuda and _core.cuda_device_available()):
            return "no CUDA device, or anomgrad built without CUDA"
        import torch

        if not torch.cuda.is_available():
            return "torch cannot see the GPU"
    except Exception as e:  # pragma: no cover
        return f"CUDA unavailable: {e}"
    return None


def pytest_collection_modifyitems(config, items):
    why = _cuda_ready()
    if why is None:
        return
    skip = pytest.mark.skip(reason=f"gpu test skipped: {why} (run on a GPU machine with -m gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
