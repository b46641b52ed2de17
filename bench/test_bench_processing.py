"""AnDi processing throughput (2-D, T = 1000, float32) against numpy compositions."""

import numpy as np
import pytest
from conftest import run

import anomgrad as ag


@pytest.fixture(scope="module")
def data():
    import conftest

    return ag.generate("fbm", conftest.N, 1000, 0.7, seed=0)


def np_normalize(x):
    d = np.diff(x, axis=-1)
    sd = d.std(axis=-1, keepdims=True)
    sd[sd == 0] = 1
    out = np.zeros_like(x)
    np.cumsum(d / sd, axis=-1, out=out[..., 1:])
    return out


@pytest.mark.parametrize("impl", ["anomgrad", "numpy"])
def test_normalize(benchmark, data, impl):
    benchmark.group = "normalize 2D T=1000"
    fn = (lambda: ag.normalize(data)) if impl == "anomgrad" else (lambda: np_normalize(data))
    z = run(benchmark, fn, len(data))
    assert z.shape == data.shape


@pytest.mark.parametrize("impl", ["anomgrad", "numpy"])
def test_add_noise(benchmark, data, impl):
    benchmark.group = "add_noise 2D T=1000"
    rng = np.random.default_rng(0)
    if impl == "anomgrad":
        fn = lambda: ag.add_noise(data, 0.5, seed=1)  # noqa: E731
    else:
        fn = lambda: data + 0.5 * rng.standard_normal(data.shape, dtype=np.float32)  # noqa: E731
    z = run(benchmark, fn, len(data))
    assert z.shape == data.shape
