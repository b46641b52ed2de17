"""``anomgrad reproduce --quick`` end to end on the CPU (tiny data, width-8 networks), and
the experiment commands' files and errors.

The quick run is deterministic (seeded data, deterministic CPU training), so the
properties below are checked on one fixed outcome; they held for every seed tried
(0-4: erasure band 0-10 beat band 90-100 by 6-11 points, and random erasure by 8-13).
"""

import csv
import dataclasses
import json
import os

import h5py
import numpy as np
import pytest

from anomgrad import cli
from anomgrad.experiments import noise as N
from anomgrad.resandi import datasets as D

PNG = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper") / "paper"
    assert cli.main(["reproduce", "--quick", "--out", str(out), "--quiet"]) == 0
    return out


def load(path):
    with open(path) as f:
        return json.load(f)


def test_every_file_is_written(quick):
    expected = [
        "report.md", "verdicts.png", "stages.json", "profile.json",
        "data/varying/train_0.h5", "data/varying/val.h5", "data/varying/test.h5",
        "data/fixed/train_0.h5", "data/fixed/val.h5", "data/fixed/test.h5",
        "runs/varying/best.pt", "runs/fixed/best.pt", "runs/varying/summary.json",
        "eval/varying/metrics.json", "eval/fixed/confusion.png",
        "eval/shipped-varying/metrics.json", "eval/shipped-fixed/metrics.json",
        "erasure/erasure.json", "erasure/erasure.csv", "erasure/erasure_per_class.csv",
        "erasure/erasure.png",
        "augment/augment.json", "augment/augment.csv", "augment/augment_models.csv",
        "augment/augment.png", "augment/sets/targeted.h5", "augment/sets/random.h5",
        "augment/scores.npz", "augment/selection.npz",
        "probes/probes.json", "probes/probes.csv", "probes/tsne.png", "probes/tsne.npz",
        "probes/probe_1.json", "probes/probe_2.json", "probes/probe_3.json",
        "relevance/relevance.json", "relevance/relevance.csv", "relevance/relevance.png",
    ] + [f"augment/models/{a}_{k}/{f}" for a in ("targeted", "random") for k in (0, 1)
         for f in ("best.pt", "noise.json", "summary.json")]
    missing = [f for f in expected if not os.path.isfile(quick / f)]
    assert not missing
    for f in expected:
        if f.endswith(".png"):
            assert (quick / f).read_bytes()[:8] == PNG and (quick / f).stat().st_size > 5000
    leftovers = [p for p in quick.rglob("*") if ".tmp" in p.name or p.name.endswith(".partial")]
    assert not leftovers
    st = load(quick / "stages.json")
    assert [st["stages"][s]["status"] for s in st["stages"]] == ["done"] * 8
    assert all(st["stages"][s]["seconds"] > 0 for s in st["stages"])
    # a calibration planned every stage before the run, and each records its plan
    plan = st["calls"][0]["plan"]
    assert set(plan["seconds"]) == set(st["stages"]) and plan["rates"]["train_8_128"] > 0
    assert plan["rates"]["train_8_64"] > 0  # the augmented networks' batch
    assert all(st["stages"][s]["planned_seconds"] == plan["seconds"][s] for s in st["stages"])


def test_report_is_labelled_and_complete(quick):
    rep = (quick / "report.md").read_text()
    assert "QUICK RUN" in rep and "not a reproduction" in rep
    for choice in ("never move are redrawn", "*effective* levels", "random runs of the",
                   "files in turn", "its own T and alpha"):
        assert choice in rep, choice
    for heading in ("Verdicts", "Protocol", "Test accuracy", "Targeted erasure",
                    "Targeted augmentation", "Layer-wise linear probes", "Statistical relevance"):
        assert heading in rep
    # every finding has one of the three words, and the rules are written beside them
    verdicts = rep.split("## Verdicts")[1].split("\n## ")[0]
    rows = [ln for ln in verdicts.splitlines() if ln.startswith("| ") and "**" in ln]
    assert len(rows) >= 2 + 8 + 1 + 1 + 5 and all(
        any(f"**{w}**" in ln for w in ("reproduced", "not reproduced", "inconclusive"))
        for ln in rows)
    assert "* `erasure_extremes`: reproduced if our 95 % interval excludes 0" in verdicts
    # the paper's numbers stand beside ours
    for paper in ("90.36", "94.89", "44.74", "23.75", "49.43", "45.61", "89.44", "86.91",
                  "93.24", "-0.357"):
        assert paper in rep
    # the shipped model on the same test files, the reference of a width-16 run
    shipped = rep.split("The shipped clean model")[1].split("\n\n")[1]
    assert shipped.count("| varying |") == shipped.count("| fixed |") == 1
    assert "AMD" in rep or "Intel" in rep or "CPU" in rep
    assert "wall time" in rep and "--seed 0" in rep


def test_shapes(quick):
    for fam in ("varying", "fixed"):
        assert D.inspect(quick / f"data/{fam}/train_0.h5", family=fam)["n"] == 8 * 256
        assert D.inspect(quick / f"data/{fam}/test.h5", family=fam)["n"] == 8 * 128
        m = load(quick / f"eval/{fam}/metrics.json")
        assert m["n"] == 1024 and np.array(m["confusion"]).shape == (8, 8)
    er = load(quick / "erasure/erasure.json")
    assert er["n"] == 1024 and er["bands"][0] == "0-10" and er["bands"][-1] == "90-100"
    assert len(er["targeted"]) == len(er["random"]) == len(er["random_runs"]) == 10
    assert np.array(er["targeted_per_class"]).shape == (10, 8)
    assert er["per_class_count"] == [128] * 8
    assert all(0 <= a <= 100 for a in er["targeted"] + er["random"] + er["random_runs"])
    assert 0 < sum(er["mean_cells_erased"]) <= 32
    assert len((quick / "erasure/erasure_per_class.csv").read_text().splitlines()) == 81

    ag = load(quick / "augment/augment.json")
    for arm in ("targeted", "random"):
        assert np.array(ag["accuracy"][arm]).shape == (2, 11)
        s = ag["sets"][arm]
        assert s["extra"] == 8 * 153 and s["extra_per_class"] == [153] * 8
        assert s["rows"] == 8 * (256 + 153)
        with h5py.File(quick / f"augment/sets/{arm}.h5") as f:
            assert np.all(np.bincount(f["label"][...]) == 256 + 153)
        for k in (0, 1):
            lv = load(quick / f"augment/models/{arm}_{k}/noise.json")["levels"]
            # the paper's levels as the noise it actually added (effective sigma)
            assert sorted(map(float, lv)) == list(N.EFFECTIVE)
    assert ag["model_seeds"] == [0, 1] and len(set(ag["noise_seeds"])) == 11
    summ = ag["summary"]
    assert len(summ["difference"]) == len(summ["difference_unc"]) == 11
    np.testing.assert_allclose(summ["difference"],
                               np.subtract(summ["targeted"], summ["random"]), atol=1e-9)
    assert len((quick / "augment/augment_models.csv").read_text().splitlines()) == 1 + 44
    rows = list(csv.DictReader(open(quick / "augment/augment.csv")))
    assert [float(r["paper_nominal_sigma"]) for r in rows] == N.PAPER["sigma"]
    assert [float(r["paper_targeted"]) for r in rows] == N.PAPER["targeted"]
    # noise costs accuracy: the noisiest level is below the clean one in both arms
    for arm in ("targeted", "random"):
        assert summ[arm][-1] < summ[arm][0]

    pr = load(quick / "probes/probes.json")
    assert [t["groups"] for t in pr["table"]] == [4, 6, 8]
    # balanced by undersampling: the smallest group is one class (256 train, 128 test)
    assert [t["n_train"] for t in pr["table"]] == [4 * 256, 6 * 256, 8 * 256]
    assert [t["n_test"] for t in pr["table"]] == [4 * 128, 6 * 128, 8 * 128]
    with np.load(quick / "probes/tsne.npz") as z:
        assert all(z[layer].shape == (400, 2) for layer in ("layer1", "layer2", "layer3",
                                                            "layer4"))

    rl = load(quick / "relevance/relevance.json")
    assert rl["n"] == 1024 and len(rl["rows"]) == 32 and len(rl["largest"]) == 8
    assert {(r["name"], r["statistic"]) for r in rl["rows"]} == {
        (c, s) for c in D.CLASS_NAMES for s in ("AC", "CS", "SG", "VD")}
    assert all(np.isfinite(r["pearson"]) and -1 <= r["pearson"] <= 1 for r in rl["rows"])
    assert all(r["paper_pearson"] is not None for r in rl["rows"])


def test_trained_models_are_above_chance(quick):
    for fam in ("varying", "fixed"):
        acc = load(quick / f"eval/{fam}/metrics.json")["accuracy"]
        assert acc >= 0.35, f"{fam}: {acc:.3f} (chance 0.125)"


def test_erasing_the_least_relevant_band_hurts_least(quick):
    er = load(quick / "erasure/erasure.json")
    assert er["accuracy_no_erasure"] >= 35
    assert er["targeted"][0] >= er["targeted"][-1]  # band 0-10 vs band 90-100
    assert er["targeted"][0] > np.mean(er["random"])  # and beats random erasure
    assert er["targeted"][0] > np.mean(er["random_runs"])  # either baseline


def test_rerun_skips_every_stage(quick, capsys):
    before = (quick / "erasure/erasure.json").stat().st_mtime_ns
    rc, _, err = run(capsys, "reproduce", "--quick", "--out", quick)
    assert rc == 0
    assert err.count("complete, skipped") == 8
    st = load(quick / "stages.json")
    assert st["calls"][-1]["stages_run"] == []
    assert (quick / "erasure/erasure.json").stat().st_mtime_ns == before


def test_other_settings_are_refused(quick, capsys):
    rc, _, err = run(capsys, "reproduce", "--quick", "--seed", 1, "--out", quick)
    assert rc == 2 and "other settings" in err and len(err.strip().splitlines()) == 1
    rc, _, err = run(capsys, "reproduce", "--out", quick)
    assert rc == 2 and "quick run" in err


def test_experiment_commands_on_the_quick_models(quick, tmp_path, capsys):
    rc, _, err = run(capsys, "erasure", quick / "runs/varying/best.pt",
                     quick / "data/varying/test.h5", "--out", tmp_path / "er", "--n", 64,
                     "--chunk", 24, "-q")
    assert rc == 0, err
    er = load(tmp_path / "er/erasure.json")
    assert er["n"] == 64 and er["per_class_count"] == [8] * 8
    assert len(list((tmp_path / "er/chunks").glob("*.json"))) == 3
    rc, _, err = run(capsys, "relevance", quick / "runs/fixed/best.pt",
                     quick / "data/fixed/val.h5", "--out", tmp_path / "rel", "-q")
    assert rc == 0, err
    assert load(tmp_path / "rel/relevance.json")["n"] == 8 * 64
    # family checks: a varying-T file for the window statistics, a model of the other family
    rc, _, err = run(capsys, "relevance", quick / "runs/fixed/best.pt",
                     quick / "data/varying/val.h5", "--out", tmp_path / "rel2", "-q")
    assert rc == 2 and "family" in err
    rc, _, err = run(capsys, "erasure", quick / "runs/varying/best.pt",
                     quick / "data/fixed/test.h5", "--out", tmp_path / "er2", "-q")
    assert rc == 2 and "family" in err


@pytest.mark.parametrize("argv, named", [
    (["erasure", "nope.pt", "nope.h5", "--out", "x"], "checkpoint"),
    (["erasure", "nope.pt", "nope.h5", "--out", "x", "--n", "0"], "n must be"),
    (["augment", "--out", "x", "--models", "0"], "models"),
    (["augment", "--out", "x", "--fraction", "1.5"], "fraction"),
    (["augment", "--out", "x", "--sigmas", "0", "-1"], "sigmas"),
    (["augment", "--out", "x", "--train", "nope.h5"], "nope.h5"),
    (["probes", "nope.pt", "--out", "x"], "checkpoint"),
    (["probes", "nope.pt", "--out", "x", "--epochs", "0"], "epochs"),
    (["relevance", "nope.pt", "nope.h5", "--out", "x"], "checkpoint"),
    (["reproduce", "--out", "x", "--quick", "--profile", "cpu"], "--profile cpu"),
    (["reproduce", "--out", "x", "--profile", "cpu", "--recipe", "fast"], "recipe"),
    (["reproduce", "--out", "x", "--varying-start", "shipped"], "varying_start"),
])
def test_bad_arguments(tmp_path, capsys, monkeypatch, argv, named):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run(capsys, *argv)
    assert rc == 2
    assert named in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("cmd", ["erasure", "augment", "probes", "relevance", "reproduce"])
def test_help(capsys, cmd):
    assert run(capsys, cmd, "--help")[0] == 0


def test_profiles():
    from anomgrad.experiments.profiles import PROFILES, profile

    assert profile(False) == PROFILES["full"]
    full = PROFILES["full"]
    # the paper's sizes and recipe at full size
    assert (full.n_per_class.train, full.n_per_class.val, full.n_per_class.test) == \
        (10000, 10000, 10000)
    assert full.train_files == 5 and full.relevance_files == 5
    assert full.base.recipe == "paper" and full.base.width == 64
    assert full.augment.models == 5 and full.augment.recipe == "paper"
    fast = profile(False, recipe="fast")
    assert fast.base.recipe == "fast" and fast.base.fresh and fast.base.minutes == 9.5
    assert fast.n_per_class == full.n_per_class and fast.label == "full-fast"
    p = profile(True, {"augment": {"models": 3}})
    assert p.augment.models == 3 and p.augment.width == 8
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.base.width = 8  # profiles are values: overrides make new ones
    with pytest.raises(ValueError, match="unknown setting"):
        profile(True, {"augment": {"model": 3}})
    with pytest.raises(ValueError, match="recipe"):
        profile(True, recipe="fast")
    # the cpu profile (issue 21): width 16, time-budgeted fresh training, >= 3 networks per arm
    cpu = profile(name="cpu")
    assert cpu == PROFILES["cpu"] and cpu.base.width == cpu.augment.width == 16
    assert cpu.base.fresh and cpu.base.minutes and cpu.augment.models >= 3
    with pytest.raises(ValueError, match="profile must be one of full, quick, cpu, got 'gpu'"):
        profile(name="gpu")
    # the shipped varying-T network: only where the profile trains what was shipped
    assert cpu.base.varying_start == "scratch"
    shipped = profile(name="cpu", varying_start="shipped")
    assert shipped.base.varying_start == "shipped" and shipped != cpu
    assert dataclasses.replace(shipped.base, varying_start="scratch") == cpu.base
    for name in ("full", "quick"):
        with pytest.raises(ValueError, match="width-16 network of the fast recipe"):
            profile(name=name, varying_start="shipped")
    with pytest.raises(ValueError, match="varying_start must be one of scratch, shipped"):
        profile(name="cpu", varying_start="pretrained")


def test_shipped_varying_network(tmp_path):
    """--varying-start shipped: the varying-T stage copies the shipped "clean" weights
    byte for byte, says where they come from, and plans no training time for them."""
    from anomgrad.experiments.pipeline import STAGE_FUNCTIONS, _Ctx
    from anomgrad.experiments.plan import plan
    from anomgrad.experiments.profiles import paths, profile
    from anomgrad.resandi import pretrained as P

    prof = profile(name="cpu", varying_start="shipped")
    p = paths(str(tmp_path), prof)
    STAGE_FUNCTIONS["train_varying"](_Ctx(prof, p, 0, "cpu", False))
    with open(p["varying_ckpt"], "rb") as a, open(P.weights_path("clean"), "rb") as b:
        assert a.read() == b.read()
    s = load(os.path.join(p["varying_run"], "summary.json"))
    assert s["source"] == "shipped" and s["model"] == "clean"
    assert s["sha256"] == P.SHIPPED["clean"][1] and s["best_val_acc"] > 0.85
    assert "anomgrad train --family varying" in s["command"]
    assert not os.path.exists(p["fixed_ckpt"])  # the T = 1000 network is still trained
    rates = {"gen": 1000.0, "train_16_512": 500.0, "infer_16": 2000.0}
    planned = plan(prof, rates)
    assert planned["train_varying"] == 0 and planned["train_fixed"] == 60 * prof.base.minutes
    # the report says so; the from-scratch profile's does not
    from anomgrad.experiments.report import write_report

    state = {"stages": {}, "hardware": {}}
    text = write_report(str(tmp_path), prof, 0, state)
    assert "CPU profile" in text and "was not trained by this run" in text
    assert "was not trained" not in write_report(str(tmp_path), profile(name="cpu"), 0, state)


def test_plan_counts_each_stages_work():
    from anomgrad.experiments.plan import CAM_FORWARDS, ERASURE_FORWARDS, describe, plan
    from anomgrad.experiments.profiles import profile

    cpu = profile(name="cpu")
    rates = {"gen": 1000.0, "train_16_512": 500.0, "infer_16": 2000.0}
    p = plan(cpu, rates)
    assert p["train_varying"] == p["train_fixed"] == 60 * cpu.base.minutes  # the budget
    n = 8 * cpu.n_per_class.test
    assert p["evaluate"] == pytest.approx(2 * n / 2000)
    assert p["erasure"] == pytest.approx(n * (CAM_FORWARDS + ERASURE_FORWARDS) / 2000)
    # twice the training rows: data and augmentation take longer, evaluation does not
    big = profile(name="cpu", overrides={"n_per_class": {"train": 20000}})
    q = plan(big, rates)
    assert q["data"] > p["data"] and q["augment"] > 1.9 * p["augment"] - 60
    assert q["evaluate"] == p["evaluate"]
    # twice as fast a machine: half the time of every stage without a time budget
    fast = plan(cpu, {k: 2 * v for k, v in rates.items()})
    assert fast["augment"] == pytest.approx(p["augment"] / 2)
    assert fast["train_fixed"] == p["train_fixed"]
    text = describe(p)
    assert "train_varying" in text and "60.0 min" in text and "total" in text


TINY_FULL = {"n_per_class": {"train": 32, "val": 16, "test": 16}, "train_files": 2,
             "relevance_files": 2, "base": {"width": 4, "epochs": 1, "batch_size": 64},
             "augment": {"models": 1, "width": 4, "epochs": 1, "test_rows": 8},
             "erasure": {"n": 40}, "probes": {"epochs": 2, "tsne_points": 40}}


def test_full_size_code_paths_on_tiny_sizes(tmp_path):
    """The full profile's paths (paper recipe on train files, several files per family,
    several relevance files, subsets) with tiny sizes and a custom-sizes label."""
    from anomgrad.experiments.pipeline import reproduce

    st = reproduce(tmp_path / "p", overrides=TINY_FULL, progress=False)
    assert all(s["status"] == "done" for s in st["stages"].values())
    assert load(tmp_path / "p/runs/varying/config.json")["recipe"] == "paper"
    assert load(tmp_path / "p/runs/varying/config.json")["n_train"] == 2 * 8 * 32
    assert load(tmp_path / "p/relevance/relevance.json")["n"] == 2 * 8 * 16
    assert load(tmp_path / "p/erasure/erasure.json")["n"] == 40
    ag = load(tmp_path / "p/augment/augment.json")
    assert ag["test_rows_used"] == 64 and np.array(ag["accuracy"]["random"]).shape == (1, 11)
    assert np.isnan(ag["summary"]["targeted_sem"]).all()  # one model: no s.e.m.
    assert load(tmp_path / "p/probes/probes.json")["table"][0]["n_train"] == 4 * 2 * 32
    rep = (tmp_path / "p/report.md").read_text()
    assert "CUSTOM SIZES" in rep and "QUICK RUN" not in rep


def test_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    from anomgrad.experiments import augment as T  # trains the augmented networks
    from anomgrad.experiments.pipeline import reproduce

    ov = dict(TINY_FULL, augment=dict(TINY_FULL["augment"], models=2))
    real = T.train_fn

    def killed_at_the_third_augmented_network(out, *a, **k):
        if str(out).endswith("targeted_1"):
            raise KeyboardInterrupt
        return real(out, *a, **k)

    monkeypatch.setattr(T, "train_fn", killed_at_the_third_augmented_network)
    out = tmp_path / "p"
    with pytest.raises(KeyboardInterrupt):
        reproduce(out, overrides=ov, progress=False)
    st = load(out / "stages.json")
    assert st["stages"]["augment"]["status"] == "running"
    assert "probes" not in st["stages"]
    first = out / "augment/models/targeted_0/summary.json"
    t0 = first.stat().st_mtime_ns
    monkeypatch.setattr(T, "train_fn", real)
    st = reproduce(out, overrides=ov, progress=False)
    assert st["calls"][-1]["stages_run"] == ["augment", "probes", "relevance"]
    assert st["stages"]["augment"]["resumed"] is True
    assert first.stat().st_mtime_ns == t0  # the finished network was not trained again
    assert np.array(load(out / "augment/augment.json")["accuracy"]["targeted"]).shape == (2, 11)
