"""Evaluation (anomgrad.evaluate, `anomgrad evaluate`): metrics on hand-made predictions,
outputs, and the errors for foreign checkpoints and datasets."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from torch import nn

from anomgrad.resandi import datasets as D
from anomgrad.cli import main
from anomgrad.resandi.evaluate import (ALPHA_EDGES, confusion_matrix, evaluate,
                               metrics_from_predictions)
from anomgrad.resandi.nn import CheckpointError, ResAnDi, save_checkpoint


class Oracle(nn.Module):
    """Predicts the class written (times 0.1) in x[:, 0, 0]."""

    num_classes = 8

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        c = torch.round(x[:, 0, 0] * 10).long()
        return nn.functional.one_hot(c, 8).float() + 0 * self.dummy


def hand_made():
    """12 trajectories of classes 1, 5, 7 with a known confusion."""
    label = np.array([1, 1, 1, 1, 5, 5, 5, 5, 7, 7, 7, 7])
    pred = np.array([1, 1, 1, 7, 5, 5, 1, 1, 7, 7, 7, 0])
    alpha = np.array([0.15, 0.25, 0.25, 0.85, 1.15, 1.15, 1.55, 1.85, 1, 1, 1, 1.0])
    T = np.array([10, 15, 999, 1000, 20, 500, 500, 510, 10, 100, 1000, 1000])
    return label, pred, alpha, T


def test_metrics_by_hand():
    label, pred, alpha, T = hand_made()
    m = metrics_from_predictions(label, pred, alpha, T)
    cm = np.array(m["confusion"])
    want = np.zeros((8, 8), int)
    want[1, 1], want[1, 7], want[5, 5], want[5, 1], want[7, 7], want[7, 0] = 3, 1, 2, 2, 3, 1
    assert np.array_equal(cm, want)
    assert m["n"] == 12 and m["accuracy"] == pytest.approx(8 / 12)
    # precision / recall per class: 1: 3/5, 3/4; 5: 2/2, 2/4; 7: 3/4, 3/4; 0: 0 (predicted once)
    pc = m["per_class"]
    assert set(pc) == {"sub-ATTM", "sub-CTRW", "super-LW", "BM"}
    assert pc["sub-CTRW"]["precision"] == pytest.approx(3 / 5)
    assert pc["sub-CTRW"]["recall"] == pc["sub-CTRW"]["accuracy"] == pytest.approx(3 / 4)
    assert pc["super-LW"]["precision"] == 1.0 and pc["super-LW"]["recall"] == 0.5
    assert pc["BM"]["f1"] == pytest.approx(0.75)
    assert pc["sub-ATTM"]["support"] == 0 and pc["sub-ATTM"]["f1"] == 0.0
    f1 = [2 * 0.6 * 0.75 / 1.35, 2 * 1 * 0.5 / 1.5, 0.75, 0.0]
    assert m["macro_f1"] == pytest.approx(np.mean(f1))  # over true or predicted labels
    # accuracy against alpha: class 1 bins [0.1,0.2): 1/1, [0.2,0.3): 2/2, [0.8,0.9): 0/1
    ba = [(r["class"], r["alpha_lo"], r["n"], r["correct"]) for r in m["by_alpha"]]
    assert ba == [(1, 0.1, 1, 1), (1, 0.2, 2, 2), (1, 0.8, 1, 0), (5, 1.1, 2, 2),
                  (5, 1.5, 1, 0), (5, 1.8, 1, 0), (7, 1.0, 4, 3)]
    bt = [(r["class"], r["T_lo"], r["n"], r["correct"]) for r in m["by_T"]]
    assert bt == [(1, 10, 2, 2), (1, 900, 2, 1), (5, 20, 1, 1), (5, 500, 3, 1), (7, 10, 1, 1),
                  (7, 100, 1, 1), (7, 900, 2, 1)]
    assert ALPHA_EDGES[0] == 0.1 and ALPHA_EDGES[-1] == 1.9 and len(ALPHA_EDGES) == 19
    with pytest.raises(ValueError, match="pred values must be in 0..7"):
        confusion_matrix([1, 2], [1, 8])
    with pytest.raises(ValueError, match="equal length"):
        confusion_matrix([1, 2], [1])


def test_evaluate_writes_everything(tmp_path):
    label, pred, alpha, T = hand_made()
    x = np.random.default_rng(0).random((12, 2, 1000)).astype(np.float32)
    x[:, 0, 0] = pred / 10
    res = evaluate(Oracle(), (x, label, alpha, T), out=tmp_path / "ev", batch_size=5,
                   progress=False)
    assert res["accuracy"] == pytest.approx(8 / 12)
    ev = tmp_path / "ev"
    conf = json.loads((ev / "confusion.json").read_text())
    assert conf["matrix"] == metrics_from_predictions(label, pred)["confusion"]
    assert conf["classes"][5] == "super-LW" and conf["rows"] == "true label"
    rows = list(csv.DictReader(open(ev / "accuracy_vs_alpha.csv")))
    assert [(r["name"], r["alpha_lo"], r["accuracy"]) for r in rows][:2] == \
        [("sub-CTRW", "0.1", "1.0"), ("sub-CTRW", "0.2", "1.0")]
    assert len(list(csv.DictReader(open(ev / "accuracy_vs_T.csv")))) == 7
    for png in ("confusion.png", "accuracy_vs_alpha.png", "accuracy_vs_T.png"):
        assert (ev / png).read_bytes()[:4] == b"\x89PNG"
    p = np.load(ev / "predictions.npz")
    assert np.array_equal(p["pred"], pred) and np.array_equal(p["label"], label)
    assert json.loads((ev / "metrics.json").read_text())["macro_f1"] == res["macro_f1"]


@pytest.fixture(scope="module")
def ckpt_and_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("ev")
    torch.manual_seed(0)
    save_checkpoint(d / "best.pt", ResAnDi(width=4), "varying", epoch=3)
    D.write(d / "test.h5", "varying", "test", 6, seed=1, progress=False, fsync=False)
    D.write(d / "fixed.h5", "fixed", "test", 6, seed=1, progress=False, fsync=False)
    return d


def test_evaluate_checkpoint_on_file(ckpt_and_data):
    d = ckpt_and_data
    res = evaluate(d / "best.pt", d / "test.h5", out=d / "out", progress=False)
    assert res["n"] == 48 and res["family"] == res["model_family"] == "varying"
    assert res["checkpoint_epoch"] == 3
    # the same data in memory gives the same result
    mem = evaluate(d / "best.pt", D.load(d / "test.h5"), progress=False)
    assert mem["confusion"] == res["confusion"]
    assert {r["class"] for r in res["by_T"]} == set(range(8))


def test_evaluate_errors(ckpt_and_data, tmp_path):
    d = ckpt_and_data
    with pytest.raises(D.DatasetFormatError, match="family 'fixed'.*'varying' is expected"):
        evaluate(d / "best.pt", d / "fixed.h5", progress=False)
    assert evaluate(d / "best.pt", d / "fixed.h5", check_family=False, progress=False)["n"] == 48
    other = tmp_path / "other.pt"
    torch.save(nn.Linear(3, 4).state_dict(), other)
    with pytest.raises(CheckpointError, match="not a ResAnDi state dict"):
        evaluate(other, d / "test.h5", progress=False)
    with pytest.raises(ValueError, match=r"data x must have shape \(N, 2, 1000\).*\(5, 2, 500\)"):
        evaluate(d / "best.pt", (np.zeros((5, 2, 500), np.float32), np.zeros(5, int)),
                 progress=False)
    with pytest.raises(ValueError, match="data label must be an integer array"):
        evaluate(d / "best.pt", (np.zeros((5, 2, 1000), np.float32), np.zeros(4, int)),
                 progress=False)
    traj = tmp_path / "traj.h5"
    assert main(["generate", "--model", "bm", "--n", "3", "--T", "1000", "--out", str(traj),
                 "--quiet"]) == 0
    with pytest.raises(D.DatasetFormatError, match="trajectory file, not a ResAnDi dataset"):
        evaluate(d / "best.pt", traj, progress=False)
    with pytest.raises(TypeError, match="model must be a checkpoint path or a torch.nn.Module"):
        evaluate(42, d / "test.h5")


def test_cli_evaluate(ckpt_and_data, capsys):
    d = ckpt_and_data
    capsys.readouterr()
    assert main(["evaluate", str(d / "best.pt"), str(d / "test.h5"), "--quiet"]) == 0
    assert (d / "eval-test" / "confusion.png").exists()
    assert main(["evaluate", str(d / "best.pt"), str(d / "fixed.h5")]) == 2
    err = capsys.readouterr().err
    assert "family 'fixed'" in err and "Traceback" not in err
    assert main(["evaluate", str(d / "best.pt"), str(d / "fixed.h5"), "--any-family",
                 "--out", str(d / "cross"), "--quiet"]) == 0
    assert json.loads((d / "cross" / "metrics.json").read_text())["family"] == "fixed"
    assert main(["evaluate", str(d / "test.h5"), str(d / "test.h5")]) == 2
    assert "not a torch checkpoint" in capsys.readouterr().err
