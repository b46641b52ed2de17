"""Precise BN: the stem's recalibrated statistics equal a plain recomputation, nothing
but BatchNorm buffers changes, and the batches are none of a training run's."""

import numpy as np
import pytest
import torch

from anomgrad.resandi import datasets as D
from anomgrad.resandi.nn import ResAnDi
from anomgrad.resandi.train.data import FreshBatches
from anomgrad.resandi.train.precise_bn import CALIBRATION_FILE, recalibrate_bn


def _model():
    torch.manual_seed(0)
    m = ResAnDi(width=4)
    with torch.no_grad():  # running statistics far from any data, as after a bad epoch
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.fill_(5.0)
                mod.running_var.fill_(9.0)
    return m


def test_stem_statistics_are_the_average_of_the_batch_statistics():
    m = _model()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    rec = recalibrate_bn(m, "varying", seed=3, batches=3, per_class=2)
    assert rec == {"family": "varying", "seed": 3, "file": CALIBRATION_FILE, "batches": 3,
                   "per_class": 2, "trajectories": 48, "noise": 0.0}
    assert not m.training and m.stem.bn.momentum == 0.1

    # reference: the stem conv's output on the same batches, mean and unbiased variance
    # per channel of each batch, averaged over the batches
    src = FreshBatches("varying", 3, range(8), 2)
    means, vars_ = [], []
    with torch.no_grad():
        for b in range(3):
            x, T, _ = src[(CALIBRATION_FILE, b)]
            h = m.stem.conv(D.preprocess_torch(x, T, check=False))
            means.append(h.mean((0, 2)))
            vars_.append(h.var((0, 2), unbiased=True))
    torch.testing.assert_close(m.stem.bn.running_mean, torch.stack(means).mean(0))
    torch.testing.assert_close(m.stem.bn.running_var, torch.stack(vars_).mean(0))

    after = m.state_dict()
    for k, v in before.items():
        if k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert not torch.equal(after[k], v), k
        else:
            assert torch.equal(after[k], v), k  # learned parameters untouched


def test_deterministic_and_independent_of_the_old_statistics():
    a, b = _model(), ResAnDi(width=4)
    b.load_state_dict({k: v for k, v in a.state_dict().items()
                       if not k.endswith(("running_mean", "running_var"))}, strict=False)
    recalibrate_bn(a, "fixed", batches=2, per_class=1)
    recalibrate_bn(b, "fixed", batches=2, per_class=1)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_the_calibration_batches_are_not_training_batches():
    """Training epoch e draws split "fresh", file e: the calibration file is another."""
    x_cal = FreshBatches("fixed", 0, range(8), 1)[(CALIBRATION_FILE, 0)][0]
    for epoch in range(3):
        x_train = FreshBatches("fixed", 0, range(8), 1)[(epoch, 0)][0]
        assert not np.allclose(x_cal.numpy(), x_train.numpy())


@pytest.mark.parametrize("kw,words", [({"batches": 0}, "batches"), ({"per_class": 0}, "per_class")])
def test_bad_arguments(kw, words):
    with pytest.raises(ValueError, match=words):
        recalibrate_bn(_model(), "fixed", **kw)
    with pytest.raises(ValueError, match="no BatchNorm"):
        recalibrate_bn(torch.nn.Linear(2, 2), "fixed")
