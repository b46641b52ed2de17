"""When the input says the truth (AnDi challenge ref files, dataset files), classify
scores itself: accuracy, confusion matrix and figure, alpha MAE (issue 20, item 3)."""

import json
import os

import numpy as np
import pytest

from anomgrad.cli import main
from anomgrad.io.andi import read_andi_challenge, write_andi_challenge
from anomgrad.io.tracks import Tracks
from anomgrad.resandi import datasets as D
from anomgrad.resandi.task import andi_labels


def challenge(tmp_path, per_class=12):
    pos, model, alpha = [], [], []
    for c in range(8):
        g = D.generate_class("varying", "test", 0, c, 0, per_class, seed=3)
        m, _ = andi_labels(np.full(per_class, c))
        for x, T in zip(g["x"], g["T"]):
            T = max(int(T), 300)
            pos.append(x[:, :T].T.astype(np.float64))
        model += list(m)
        alpha += list(g["alpha"])
    t = Tracks(list(range(len(pos))), pos, None, np.array(model), np.array(alpha))
    paths = [tmp_path / n for n in ("task.txt", "ref1.txt", "ref2.txt")]
    write_andi_challenge(paths[0], t, paths[1], paths[2])
    return paths, np.repeat(np.arange(8), per_class), np.array(alpha)


def test_both_ref_files_give_the_class_and_classify_scores_itself(tmp_path):
    (task, ref1, ref2), labels, alpha = challenge(tmp_path)
    t, _ = read_andi_challenge(task, [ref1, ref2])
    np.testing.assert_allclose(t.alpha, alpha)
    out = tmp_path / "o"
    assert main(["classify", str(task), "--ref", str(ref1), "--ref", str(ref2), "--out", str(out),
                 "-q", "--device", "cpu"]) == 0
    ev = json.loads((out / "classification.json").read_text())["evaluation"]
    assert ev["n_known"] == len(labels) and ev["accuracy"] > 0.7
    cm = np.array(ev["confusion"])
    assert cm.sum() == len(labels) and (cm.sum(1) == 12).all()
    assert ev["accuracy"] == np.trace(cm) / cm.sum()
    assert ev["alpha_mae"] < 0.25 and ev["alpha_msd_mae"] > ev["alpha_mae"]
    assert os.path.getsize(out / "confusion.png") > 0
    # one ref file: the exponents only (fbm and sbm need both to name the class)
    assert main(["classify", str(task), "--ref", str(ref1), "--out", str(out), "-q",
                 "--device", "cpu"]) == 0
    ev = json.loads((out / "classification.json").read_text())["evaluation"]
    assert "accuracy" not in ev and ev["alpha_mae"] < 0.25
    assert not os.path.exists(out / "confusion.png")  # not kept from the run before


def test_without_truth_there_is_no_evaluation(tmp_path):
    (task, _, _), _, _ = challenge(tmp_path, per_class=2)
    out = tmp_path / "o"
    assert main(["classify", str(task), "--out", str(out), "-q", "--device", "cpu"]) == 0
    assert json.loads((out / "classification.json").read_text())["evaluation"] is None


def test_a_truth_column_of_a_tracking_table(tmp_path):
    import csv

    from anomgrad.tracks.classify import classify

    per = 6
    path = tmp_path / "t.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame", "particle", "x", "y", "cls"])
        for c in range(8):
            g = D.generate_class("varying", "test", 0, c, 0, per, seed=4)
            for j, (x, T) in enumerate(zip(g["x"], g["T"])):
                name = D.CLASS_NAMES[c] if j % 2 else str(c)  # names and labels both
                for t in range(max(int(T), 300)):
                    w.writerow([t, f"{c}-{j}", x[0, t], x[1, t], name.upper() if j == 1 else name])
    res = classify(path, device="cpu", truth_col="cls")
    np.testing.assert_array_equal(res.truth, np.repeat(np.arange(8), per))
    ev = res.evaluation()
    assert ev["n_known"] == 8 * per and ev["accuracy"] > 0.6
    bad = tmp_path / "bad.csv"
    bad.write_text(path.read_text().replace("sub-FBM", "subFBM", 1))
    with pytest.raises(ValueError, match=r"truth column 'cls': 'subFBM' is not a class"):
        classify(bad, device="cpu", truth_col="cls")
    np.save(tmp_path / "a.npy", np.zeros((2, 2, 50)))
    with pytest.raises(ValueError, match="applies to tracking tables"):
        classify(tmp_path / "a.npy", device="cpu", truth_col="cls")
