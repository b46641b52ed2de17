"""Temperature scaling and the calibration error (issue 20, item 3), against torch and
against synthetic predictions whose calibration is known by construction."""

import numpy as np
import pytest
import torch

from anomgrad.resandi.calibration import ece, fit_temperature, nll, reliability, softmax


def draws(rng, n=20_000, k=8, scale=3.0):
    """Logits z and labels drawn from softmax(z): perfectly calibrated by construction."""
    z = rng.normal(scale=scale, size=(n, k))
    p = softmax(z)
    labels = (rng.random(n)[:, None] > np.cumsum(p, 1)).sum(1)
    return z, np.minimum(labels, k - 1)


def test_nll_and_softmax_equal_torch(rng):
    z, y = draws(rng, n=500)
    for T in (0.5, 1.0, 3.0):
        ref = torch.nn.functional.cross_entropy(torch.from_numpy(z) / T, torch.from_numpy(y))
        assert nll(z, y, T) == pytest.approx(float(ref), rel=1e-12)
        np.testing.assert_allclose(softmax(z, T), torch.softmax(torch.from_numpy(z) / T, 1).numpy(),
                                   rtol=1e-12)


@pytest.mark.parametrize("factor", [0.5, 1.0, 2.5])
def test_the_fitted_temperature_undoes_a_known_overconfidence(rng, factor):
    z, y = draws(rng)
    T = fit_temperature(z * factor, y)  # logits scaled by factor: the right T is factor
    assert T == pytest.approx(factor, rel=0.05)
    assert nll(z * factor, y, T) <= nll(z * factor, y, factor * 1.2)
    assert nll(z * factor, y, T) <= nll(z * factor, y, factor / 1.2)


def test_ece_is_small_when_calibrated_and_large_when_not(rng):
    z, y = draws(rng)
    assert ece(softmax(z), y) < 0.015
    over = ece(softmax(3 * z), y)
    assert over > 0.08
    assert ece(softmax(3 * z, fit_temperature(3 * z, y)), y) < 0.015
    rel = reliability(softmax(z), y)
    assert sum(rel["n"]) == len(y)
    got = [(c, a) for c, a in zip(rel["confidence"], rel["accuracy"]) if c is not None]
    assert all(0 <= a <= 1 and 0 <= c <= 1 for c, a in got)


def test_ece_by_hand():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1])
    # bins of 0.5: [0.5, 1.0) -> all four; acc 3/4, mean conf (0.9+0.9+0.6+0.7)/4
    assert ece(probs, labels, bins=2) == pytest.approx(abs(0.75 - 3.1 / 4))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="logits"):
        fit_temperature(np.zeros(5), np.zeros(5, int))
