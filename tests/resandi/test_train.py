"""Training (anomgrad.train, `anomgrad train`): schedules, data order, a tiny run that
learns, resume == uninterrupted, early stopping, DDP with gloo, bad input."""

from __future__ import annotations

import json
import math
import os
import socket

import numpy as np
import pytest
import torch

from anomgrad.resandi import datasets as D
from anomgrad.resandi import train as T
from anomgrad.cli import main

TINY = dict(epochs=2, epoch_samples=128, batch_size=32, width=4, classes=(1, 5),
            val_per_class=32, warmup_steps=2, progress=False, seed=5)
TIMING = ("train_seconds", "bn_seconds", "samples_per_s", "data_wait_seconds", "epoch_seconds",
          "elapsed_seconds")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two tiny train files and a val file (fixed family, CTRW vs LW)."""
    d = tmp_path_factory.mktemp("data")
    for k in (0, 1):
        D.write(d / f"train_{k}.h5", "fixed", "train", 24, seed=7, file=k, classes=[1, 5],
                progress=False, fsync=False)
    D.write(d / "val.h5", "fixed", "val", 16, seed=7, classes=[1, 5], progress=False,
            fsync=False)
    return d


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def strip(history):
    return [{k: v for k, v in h.items() if k not in TIMING} for h in history]


# ---------------------------------------------------------------------------------
# Pieces


def test_learning_rate_schedules():
    paper = T.resolve("paper", "varying", data=["x.h5"])
    assert [T.lr_at(paper, 0, e, 0) for e in (0, 9, 10, 19, 20, 35)] == \
        [1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5, 1e-4 * 0.5**3]
    fast = T.resolve("fast", "varying", warmup_steps=10)
    lrs = [T.lr_at(fast, s, 0, 100) for s in range(100)]
    assert lrs[9] == pytest.approx(2e-3) and lrs[0] == pytest.approx(2e-4)
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10]))  # warm-up rises
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # cosine falls
    assert lrs[-1] < 1e-6


@pytest.mark.parametrize("order", ["files", "global"])
def test_file_batches_permute_and_split_over_ranks(order):
    one = T.file_batches(103, 16, seed=3, epoch=0, rank=0, world=1, order=order)
    assert np.array_equal(np.sort(np.concatenate(one)), np.arange(103))
    assert [len(b) for b in one] == [16] * 6 + [7]
    assert not np.array_equal(np.concatenate(one), np.arange(103))
    assert np.array_equal(np.concatenate(T.file_batches(103, 16, 3, 0, 0, 1, order)),
                          np.concatenate(one))  # reproducible
    assert not np.array_equal(np.concatenate(T.file_batches(103, 16, 3, 1, 0, 1, order)),
                              np.concatenate(one))  # a new order every epoch
    r0 = T.file_batches(103, 16, 3, 0, 0, 2, order)
    r1 = T.file_batches(103, 16, 3, 0, 1, 2, order)
    assert len(r0) == len(r1) == 7
    for a, b, g in zip(r0, r1, one):  # two ranks together see the one-process batch
        assert np.array_equal(np.sort(np.concatenate([a, b])), np.sort(g))
    r = [T.file_batches(17, 8, 3, 0, k, 3, order) for k in range(3)]
    assert all(len(x) == 2 for x in r)  # the last global batch (1 row < 3 ranks) dropped


def test_paper_order_walks_the_files_in_turn():
    """The published training: file 0's rows (shuffled), then file 1's, ..., every
    epoch; a file's last batch may be short, and no batch mixes two files."""
    sizes = [100, 60, 37]
    b = T.file_batches(sizes, 16, seed=5, epoch=2, rank=0, world=1, order="files")
    assert [len(x) for x in b] == [16] * 6 + [4] + [16] * 3 + [12] + [16] * 2 + [5]
    starts = np.cumsum([0] + sizes)
    which = [np.searchsorted(starts, x, side="right") - 1 for x in b]
    assert all(np.all(w == w[0]) for w in which)  # one file per batch
    assert [int(w[0]) for w in which] == [0] * 7 + [1] * 4 + [2] * 3  # in turn
    for k in range(3):
        rows = np.concatenate([x for x, w in zip(b, which) if w[0] == k])
        assert np.array_equal(np.sort(rows), np.arange(starts[k], starts[k + 1]))
        assert not np.array_equal(rows, np.arange(starts[k], starts[k + 1]))  # shuffled
    g = T.file_batches(sizes, 16, seed=5, epoch=2, rank=0, world=1, order="global")
    assert any(len(set(np.searchsorted(starts, x, side="right"))) > 1 for x in g)  # mixes
    assert T.resolve("paper", "varying", data=["a.h5"]).batch_order == "files"
    assert T.resolve("paper", "varying", data=["a.h5"], batch_order="global").batch_order \
        == "global"
    assert T.resolve("fast", "varying").batch_order is None
    with pytest.raises(T.TrainError, match="batch_order"):
        T.resolve("paper", "varying", data=["a.h5"], batch_order="by-class")


def test_fresh_batches_are_balanced_and_split_over_ranks():
    one = T.FreshBatches("varying", 9, (0, 3, 7), per_class=4)
    x, L, y = one[(2, 5)]
    assert x.shape == (12, 2, 1000) and L.shape == (12,)
    assert np.array_equal(np.bincount(y.numpy()), [4, 0, 0, 4, 0, 0, 0, 4])
    ref = D.generate_class("varying", "fresh", 2, 3, 5 * 4, 4, 9)
    assert torch.equal(x[4:8], torch.from_numpy(ref["x"]))
    assert torch.equal(L[4:8], torch.from_numpy(ref["T"]))
    parts = [T.FreshBatches("varying", 9, (0, 3, 7), per_class=4, rank=k, world=2)[(2, 5)]
             for k in (0, 1)]
    both = torch.cat([p[0] for p in parts])
    assert sorted(r.numpy().tobytes() for r in both) == sorted(r.numpy().tobytes() for r in x)
    # the in-process path (GPU generators when on a GPU) gives the same batch
    xd, Ld, yd = one.device_batch(2, 5, "cpu")
    assert torch.equal(xd, x) and torch.equal(Ld, L) and torch.equal(yd, y)
    assert not torch.equal(one[(3, 5)][0], x)  # another epoch, other trajectories


def test_time_budget_planning():
    cfg = T.TrainConfig(batch_size=100, epochs=12, epochs_given=False, classes=(0, 1, 2, 3))
    # 0.01 s per step, 110 s of budget left for steps + per-epoch overhead
    total = T.plan_total(cfg, step=100, dt=0.01, left=110.0, spe=1000, n_forward=3000, world=1)
    per_epoch = 3000 / 100 * 0.01 / 3 + 2.0
    assert total == 100 + int((110.0 - per_epoch) / (0.01 + per_epoch / 1000))
    cfg = cfg.replace(epochs_given=True)
    assert T.plan_total(cfg, 100, 0.01, 1e9, 1000, 3000, 1) == 12000
    assert T.plan_total(cfg, 100, 0.01, -5.0, 1000, 3000, 1) == 100  # nothing left: stop


def test_budget_plans_from_the_first_seconds_and_replans_once():
    from anomgrad.resandi.train.schedule import Budget, warmup_for

    b = Budget(600.0, t_start=0.0, planned=False)
    assert b.probe == 3.0 and b.due(1, 10.0)
    assert b.measure(1, 10.0) is None  # the first step is not timed
    assert not b.due(3, 13.5)  # two timed steps only
    assert not b.due(5, 11.0)  # not yet 3 s
    assert b.due(21, 14.0) and b.measure(21, 14.0) == "plan"
    assert b.dt == pytest.approx(0.2) and b.replan_after == pytest.approx(0.2 * 586.0)
    assert not b.due(100, 100.0)  # re-plan after a fifth of what was left
    assert b.due(700, 132.0) and b.measure(700, 132.0) == "replan"  # 0.17 s/step: off > 10 %
    assert b.dt == pytest.approx(118.0 / 679) and not b.due(800, 200.0)  # only once
    assert not b.out_of_time(598.0, 1.0) and b.out_of_time(599.0, 1.0)
    short = Budget(30.0, 0.0, planned=False)
    assert short.probe == pytest.approx(0.6)  # 2 % of a short budget
    assert warmup_for(3000, 500) == 300 and warmup_for(90000, 500) == 500


def test_a_tiny_run_ends_within_its_budget(tmp_path):
    """Planned from the first seconds: a run whose nominal epoch would take many minutes
    stops cleanly, validated and checkpointed, inside its 18-second budget."""
    import json
    import time

    t0 = time.perf_counter()
    r = T.train(tmp_path / "r", "varying", "fast", minutes=0.3, width=4, batch_size=64,
                epoch_samples=64 * 5000, val_per_class=16, device="cpu", progress=False)
    wall = time.perf_counter() - t0
    s = r["summary"]
    assert s["stopped"] in ("time_budget", "completed") and s["epochs_completed"] == 1
    assert wall <= 18.0 * 1.1 + 1.0, f"{wall:.1f} s for an 18 s budget"
    assert s["wall_seconds_this_call"] <= 18.0 * 1.1 + 1.0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert 4 <= cfg["planned_total_steps"] < 5000 and cfg["planned_warmup_steps"] >= 1
    assert cfg["planned_warmup_steps"] <= cfg["planned_total_steps"] // 10 + 1
    for f in ("last.pt", "best.pt", "metrics.csv", "summary.json"):
        assert (tmp_path / "r" / f).exists(), f


# ---------------------------------------------------------------------------------
# Runs


def test_tiny_run_learns_an_easy_pair(tmp_path):
    """CTRW (sub) vs Levy walk (super): learned clearly above chance in a few seconds."""
    out = tmp_path / "run"
    r = T.train(out, "varying", "fast", epochs=4, epoch_samples=1024, batch_size=64, width=8,
                classes=(1, 5), val_per_class=200, warmup_steps=2, lr=3e-3, progress=False)
    h = r["history"]
    assert r["stopped"] == "completed" and len(h) == 4 and r["total_steps"] == 64
    assert h[-1]["train_loss"] < 0.7 * h[0]["train_loss"]
    assert h[-1]["val_loss"] < h[0]["val_loss"]
    assert max(x["val_acc"] for x in h) >= 0.75  # chance: 0.5
    assert all(x["samples"] == 1024 and x["samples_per_s"] > 0 for x in h)
    for name in ("config.json", "last.pt", "best.pt", "metrics.csv", "metrics.json",
                 "training.png", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    lines = (out / "metrics.csv").read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("epoch,step,lr,train_loss,train_acc")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["recipe"] == "fast" and cfg["steps_per_epoch"] == 16 and cfg["device"] == "cpu"
    s = json.loads((out / "summary.json").read_text())
    assert s["best_epoch"] == min(range(1, 5), key=lambda e: h[e - 1]["val_loss"] - 1e-12 * e)
    assert (out / "training.png").read_bytes()[:4] == b"\x89PNG"
    # the best checkpoint scores the same pair on the test split
    from anomgrad.resandi.evaluate import evaluate

    test = D.resandi("varying", "test", 100, seed=0, classes=(1, 5), z=False)
    res = evaluate(out / "best.pt", test, progress=False)
    assert res["accuracy"] >= 0.7 and res["model_family"] == "varying"


@pytest.mark.parametrize("recipe", ["fast", "paper"])
def test_resume_equals_uninterrupted(tmp_path, files, recipe):
    if recipe == "fast":
        kw = dict(TINY, family="varying", recipe="fast")
    else:
        kw = dict(family="fixed", recipe="paper", data=[files / "train_0.h5",
                  files / "train_1.h5"], val=files / "val.h5", epochs=3, batch_size=16,
                  width=4, progress=False, seed=5)
    a = T.train(tmp_path / "a", **kw)
    assert a["stopped"] == "completed"

    # killed in the middle of the second epoch: redo it from the first checkpoint
    def die(info):
        if info["step"] == a["config"]["steps_per_epoch"] + 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        T.train(tmp_path / "b", callback=die, **kw)
    ck = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert ck["epoch"] == 1
    b = T.train(tmp_path / "b", resume=True, **kw)
    assert same_weights(a["model"], b["model"])
    assert strip(a["history"]) == strip(b["history"])

    # stopped right after a checkpoint, resumed twice
    c1 = T.train(tmp_path / "c", stop_after=1, **kw)
    assert c1["stopped"] == "stop_after" and c1["epochs_completed"] == 1
    c = T.train(tmp_path / "c", resume=True, **kw)
    assert same_weights(a["model"], c["model"]) and c["stopped"] == "completed"
    # a finished run resumed again does nothing and keeps its result
    d = T.train(tmp_path / "c", resume=True, **kw)
    assert d["epochs_completed"] == len(a["history"]) and same_weights(a["model"], d["model"])
    # the uninterrupted run is not a trivial one: weights moved
    torch.manual_seed(5)
    from anomgrad.resandi.nn import ResAnDi

    assert not same_weights(ResAnDi(width=4), a["model"])


def test_worker_processes_give_the_same_run(tmp_path):
    """Fresh batches depend on (seed, epoch, batch) only, not on who generates them."""
    a = T.train(tmp_path / "w0", workers=0, **TINY)
    b = T.train(tmp_path / "w2", workers=2, **TINY)
    assert b["config"]["workers"] == 2
    assert same_weights(a["model"], b["model"])
    assert strip(a["history"]) == strip(b["history"])


def test_resume_and_overwrite_rules(tmp_path):
    out = tmp_path / "r"
    kw = dict(TINY, epochs=1)
    T.train(out, **kw)
    with pytest.raises(T.TrainError, match="already holds a run.*--resume.*--overwrite"):
        T.train(out, **kw)
    with pytest.raises(T.TrainError, match=r"different settings \(lr: checkpoint 0.002, "
                                           r"requested 0.1\)"):
        T.train(out, resume=True, **dict(kw, lr=0.1))
    r = T.train(out, overwrite=True, **dict(kw, lr=0.1))
    assert r["config"]["lr"] == 0.1 and len(r["history"]) == 1


def test_paper_recipe_early_stopping(tmp_path, files):
    """Patience 2 with a min_delta no epoch can beat: stops after 1 + 2 epochs, best = 1."""
    r = T.train(tmp_path / "p", "fixed", "paper", data=[files / "train_0.h5"],
                val=files / "val.h5", epochs=10, batch_size=16, width=4, patience=2,
                min_delta=100.0, progress=False)
    assert r["stopped"] == "early_stopping" and r["epochs_completed"] == 3
    assert r["best_epoch"] == 1 and [h["improved"] for h in r["history"]] == [True, False, False]
    best = torch.load(tmp_path / "p" / "best.pt", weights_only=True)
    assert best["epoch"] == 1 and best["family"] == "fixed"
    cfg = json.loads((tmp_path / "p" / "config.json").read_text())
    assert (cfg["optimizer"], cfg["lr"], cfg["schedule"], cfg["step_size"], cfg["gamma"]) == \
        ("adam", 1e-4, "step", 10, 0.5)
    assert cfg["n_train"] == 48 and cfg["steps_per_epoch"] == 3


def test_bad_setup_is_refused(tmp_path, files):
    with pytest.raises(T.TrainError, match="recipe must be one of paper, fast"):
        T.train(tmp_path / "x", recipe="slow")
    with pytest.raises(T.TrainError, match="recipe 'paper' trains on dataset files: give data="):
        T.train(tmp_path / "x", recipe="paper")
    with pytest.raises(D.DatasetFormatError, match="family 'fixed'.*'varying' is expected"):
        T.train(tmp_path / "x", "varying", "paper", data=[files / "train_0.h5"], **{
            k: v for k, v in TINY.items() if k not in ("epoch_samples", "classes")})
    with pytest.raises(D.DatasetFormatError, match="a 'val' split, but a 'train' split"):
        T.train(tmp_path / "x", "fixed", "paper", data=[files / "val.h5"], width=4,
                progress=False)
    with pytest.raises(T.TrainError, match="the same file is listed twice"):
        T.train(tmp_path / "x", "fixed", "paper", data=[files / "train_0.h5",
                files / "." / "train_0.h5"], width=4, progress=False)
    import shutil

    shutil.copy(files / "train_0.h5", tmp_path / "copy.h5")
    with pytest.raises(T.TrainError, match="same seed and file number"):
        T.train(tmp_path / "x", "fixed", "paper", data=[files / "train_0.h5",
                tmp_path / "copy.h5"], width=4, progress=False)
    with pytest.raises(T.TrainError, match="batch_size must be a multiple of the number of "
                                           "classes"):
        T.train(tmp_path / "x", **dict(TINY, batch_size=33))
    with pytest.raises(T.TrainError, match="lr must be a positive number"):
        T.train(tmp_path / "x", **dict(TINY, lr=-1.0))
    with pytest.raises(ValueError, match="epochs must be in"):
        T.train(tmp_path / "x", **dict(TINY, epochs=0))
    with pytest.raises(T.TrainError, match="epoch_samples applies to fresh data only"):
        T.train(tmp_path / "x", "fixed", "paper", data=[files / "train_0.h5"], epoch_samples=5)
    assert not (tmp_path / "x" / "last.pt").exists()


def test_cli_train(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["train", "--family", "fixed", "--out", out, "--width", 4, "--epochs", 1,
            "--epoch-samples", 64, "--batch-size", 16, "--classes", 1, 5, "--val-per-class",
            8, "--warmup-steps", 1, "--quiet"]
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 0
    assert (out / "best.pt").exists() and (out / "metrics.json").exists()
    assert main([str(a) for a in argv]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main([str(a) for a in argv + ["--resume"]]) == 0
    assert main([str(a) for a in argv + ["--resume", "--lr", "0.5"]]) == 2
    err = capsys.readouterr().err
    assert "different settings (lr: checkpoint 0.002, requested 0.5)" in err
    assert "Traceback" not in err
    assert main(["train", "--family", "fixed", "--recipe", "paper", "--out",
                 str(tmp_path / "p")]) == 2
    assert "give data=" in capsys.readouterr().err


# ---------------------------------------------------------------------------------
# DDP on CPU (gloo, 2 processes)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, out, res):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    r = T.train(out, **dict(TINY, epochs=2, epoch_samples=256, width=4, device="cpu"))
    torch.save(r["model"].state_dict(), os.path.join(res, f"rank{rank}.pt"))
    with open(os.path.join(res, f"rank{rank}.json"), "w") as f:
        json.dump({"history": strip(r["history"]), "world": r["config"]["world_size"]}, f)


def test_ddp_gloo_two_processes(tmp_path, monkeypatch):
    import torch.multiprocessing as mp

    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")
    out, res = tmp_path / "ddp", tmp_path / "res"
    res.mkdir()
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(out), str(res)), nprocs=2, join=True)
    s0 = torch.load(res / "rank0.pt", weights_only=True)
    s1 = torch.load(res / "rank1.pt", weights_only=True)
    assert s0.keys() == s1.keys() and all(torch.equal(s0[k], s1[k]) for k in s0)
    h0 = json.loads((res / "rank0.json").read_text())
    h1 = json.loads((res / "rank1.json").read_text())
    assert h0 == h1 and h0["world"] == 2  # reduced metrics agree on both ranks
    h = h0["history"]
    assert len(h) == 2 and all(x["samples"] == 256 for x in h)  # both ranks' samples
    assert h[1]["train_loss"] < h[0]["train_loss"]
    assert math.isfinite(h[1]["val_loss"])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["world_size"] == 2
    ck = torch.load(out / "last.pt", weights_only=True)  # rank 0 wrote the checkpoint
    assert all(torch.equal(ck["model"][k], s0[k]) for k in s0)
    assert not list(out.glob("*.tmp*"))
