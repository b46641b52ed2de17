"""The alpha head (issue 20, item 2): it learns a known relation with a calibrated
uncertainty, its outputs stay in range, and the shipped heads estimate the exponent of
tracks of known alpha."""

import numpy as np
import pytest
import torch

import anomgrad as ag
from anomgrad.resandi.alpha import MIN_STD, AlphaHead, fit_head


def test_head_outputs_a_mean_in_0_2_and_a_positive_std():
    torch.manual_seed(0)
    h = AlphaHead(16)
    m, sd = h(torch.randn(100, 16) * 50, torch.randint(10, 1001, (100,)))
    assert ((m > 0) & (m < 2)).all() and (sd >= MIN_STD).all()


def test_fit_head_learns_a_known_relation_with_calibrated_intervals(rng):
    n = 6000
    alpha = rng.uniform(0.1, 1.9, n)
    T = rng.integers(10, 1001, n)
    noise_sd = 0.3 / np.sqrt(T / 10)  # shorter tracks: a noisier feature
    f = np.stack([alpha + rng.normal(size=n) * noise_sd, rng.normal(size=n)], 1)
    head, rec = fit_head(f, T, alpha, epochs=40, seed=1)
    with torch.no_grad():
        m, sd = head(torch.as_tensor(f, dtype=torch.float32), torch.as_tensor(T))
    err = np.abs(m.numpy() - alpha)
    assert err.mean() < 0.06
    cover = np.mean(err <= 1.96 * sd.numpy())
    assert 0.88 < cover < 0.99
    short, long_ = T < 100, T > 500
    assert np.median(sd.numpy()[short]) > 1.5 * np.median(sd.numpy()[long_])
    assert len(rec["history"]) == 40


@pytest.mark.parametrize("alpha", [0.4, 1.6])
def test_the_shipped_heads_estimate_fbm_alpha(alpha):
    x = ag.generate("fbm", 64, 500, alpha, dim=2, seed=2)
    for name in ("clean", "robust"):
        res = ag.classify(list(x.transpose(0, 2, 1)), model=name, device="cpu")
        assert np.abs(np.median(res.alpha) - alpha) < 0.15, (name, np.median(res.alpha))
        assert (res.alpha_std > 0).all()
        assert res.rows()[0]["alpha"] == pytest.approx(res.alpha[0], abs=1e-4)


def test_a_user_checkpoint_has_no_alpha(tmp_path):
    from anomgrad.resandi.nn import ResAnDi

    x = ag.generate("bm", 4, 100, dim=2, seed=2)
    res = ag.classify(list(x.transpose(0, 2, 1)), model=ResAnDi(width=4), device="cpu")
    assert np.isnan(res.alpha).all() and res.rows()[0]["alpha"] == ""
