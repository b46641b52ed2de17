"""Track files in and out: anomgrad tracks files, andi-datasets arrays and AnDi 2020
challenge files, tracking CSVs; round trips keep every number, and the class labels map
to andi-datasets' model numbers and back."""

import os

import h5py
import numpy as np
import pytest

import anomgrad as ag
from anomgrad.cli import main
from anomgrad.io import andi, convert
from anomgrad.io.h5 import FileFormatError
from anomgrad.io.tracks import Tracks, read_tracks, write_tracks
from anomgrad.resandi import task


@pytest.fixture
def andi_rows(rng):
    """An andi-datasets create_dataset array: [model, alpha, x_0..x_T-1, y_0..y_T-1]."""
    n, T = 12, 50
    model = rng.integers(0, 5, n).astype(float)
    alpha = np.round(rng.uniform(0.05, 2, n), 2)
    pos = np.cumsum(rng.normal(size=(n, 2, T)), axis=-1) * rng.uniform(0.1, 100)
    return np.concatenate([model[:, None], alpha[:, None], pos.reshape(n, -1)], axis=1)


def test_andi_array_round_trips_exactly(tmp_path, andi_rows):
    t = andi.read_andi_array(andi_rows, dim=2)
    assert len(t) == 12 and t.dim == 2 and set(t.lengths) == {50}
    np.testing.assert_array_equal(t.positions[3][:, 1], andi_rows[3, 52:])  # y after x
    np.testing.assert_array_equal(andi.andi_array(t), andi_rows)
    for name in ("a.npy", "a.txt"):
        andi.write_andi_array(tmp_path / name, t)
        back = andi.read_andi_array(tmp_path / name, dim=2)
        np.testing.assert_array_equal(andi.andi_array(back), andi_rows)  # every digit kept
    with pytest.raises(ValueError, match="multiple of dim = 3"):
        andi.read_andi_array(andi_rows[:, :-2], dim=3)
    bad = andi_rows.copy()
    bad[0, 0] = 7
    with pytest.raises(ValueError, match="model numbers 0..4"):
        andi.read_andi_array(bad, dim=2)


def test_challenge_files_round_trip(tmp_path, rng):
    pos = [np.cumsum(rng.normal(size=(T, 2)), axis=0) for T in (10, 57, 300)]
    t = Tracks([0, 1, 2], pos, model=[0, 3, 4], alpha=[0.35, 1.55, 1.0])
    andi.write_andi_challenge(tmp_path / "task2.txt", t, tmp_path / "ref1.txt",
                              tmp_path / "ref2.txt")
    first = (tmp_path / "task2.txt").read_text().splitlines()[0].split(";")
    assert first[0] == "2.0" and len(first) == 1 + 2 * 10
    with open(tmp_path / "task2.txt", "a") as f:  # a 1-D line among them, as in the challenge
        f.write("1.0;0.0;0.5;1.0\n")
    for ref, key in (("ref2.txt", "model"), ("ref1.txt", "alpha")):
        if ref == "ref2.txt":
            with pytest.raises(ValueError, match="line by line"):  # the extra line has no ref
                andi.read_andi_challenge(tmp_path / "task2.txt", tmp_path / ref, dim=1)
        back, skipped = andi.read_andi_challenge(tmp_path / "task2.txt", tmp_path / ref, dim=2)
        assert skipped == 1 and len(back) == 3
        for a, b in zip(back.positions, pos):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(getattr(back, key), getattr(t, key))


def test_tracks_file_round_trip_and_damage(tmp_path, rng):
    pos = [rng.normal(size=(T, 2)) for T in (3, 40, 7)]
    t = Tracks(["a", "b", "c"], pos, [np.arange(3) + 5, np.arange(40), np.arange(7) * 2],
               model=[1, -1, 2], alpha=[0.4, np.nan, 1.5])
    write_tracks(tmp_path / "t.h5", t)
    back = read_tracks(tmp_path / "t.h5")
    assert back.ids == ["a", "b", "c"]
    for x, y in zip(back.positions + back.frames, pos + t.frames):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(back.model, t.model)
    np.testing.assert_array_equal(back.alpha, t.alpha)
    data = (tmp_path / "t.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="cut.h5"):
        read_tracks(tmp_path / "cut.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(FileFormatError, match="not an anomgrad tracks file"):
        read_tracks(tmp_path / "other.h5")


def test_class_labels_map_to_andi_models_and_back():
    """Table of docs/classify.md: our 8 classes as andi-datasets (model, alpha)."""
    model, alpha = task.andi_labels(np.arange(8))
    names = [andi.ANDI_MODELS[m] for m in model]
    assert names == ["attm", "ctrw", "fbm", "sbm", "fbm", "lw", "sbm", "fbm"]  # BM: fbm at 1
    assert np.isnan(alpha[:7]).all() and alpha[7] == 1.0
    sub, sup = np.full(8, 0.5), np.full(8, 1.5)
    a = np.where(np.arange(8) < 4, sub, sup)
    a[7] = 1.0
    np.testing.assert_array_equal(task.class_of_andi(model, a), np.arange(8))
    # andi trajectories outside the 8 classes have none
    assert task.class_of_andi([0, 1, 3, -1, 2], [1.0, 1.0, 0.8, 0.5, np.nan]).tolist() == \
        [-1, -1, -1, -1, -1]


def test_convert_command_round_trip(tmp_path, andi_rows):
    np.save(tmp_path / "andi.npy", andi_rows)
    assert main(["convert", str(tmp_path / "andi.npy"), "--to", str(tmp_path / "tracks.h5"),
                 "-q"]) == 2  # andi arrays do not record their dimension
    assert main(["convert", str(tmp_path / "andi.npy"), "--to", str(tmp_path / "tracks.h5"),
                 "--dim", "2", "-q"]) == 0
    assert main(["convert", str(tmp_path / "tracks.h5"), "--to", "andi", "--out",
                 str(tmp_path / "back.npy"), "-q"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "back.npy"), andi_rows)
    assert main(["convert", str(tmp_path / "tracks.h5"), "--to", str(tmp_path / "task2.txt"),
                 "-q"]) == 0
    assert os.path.exists(tmp_path / "ref1.txt") and os.path.exists(tmp_path / "ref2.txt")
    assert main(["convert", str(tmp_path / "task2.txt"), "--ref", str(tmp_path / "ref2.txt"),
                 "--to", str(tmp_path / "t.csv"), "-q"]) == 0
    back, _ = convert.load_tracks(tmp_path / "t.csv")
    np.testing.assert_array_equal(np.stack(back.positions).transpose(0, 2, 1).reshape(12, -1),
                                  andi_rows[:, 2:])
    assert main(["convert", str(tmp_path / "andi.npy"), "--to", "andi"]) == 2  # needs --out


def test_trajectory_files_and_arrays_are_tracks(tmp_path):
    x = ag.generate("sbm", 5, 30, 0.5, seed=1)
    np.save(tmp_path / "x.npy", x)
    t, _ = convert.load_tracks(tmp_path / "x.npy")
    assert convert.guess_format(tmp_path / "x.npy") == "array"
    np.testing.assert_array_equal(np.stack(t.positions).transpose(0, 2, 1), x)
    assert main(["generate", "--model", "sbm", "--n", "5", "--T", "30", "--alpha", "0.5",
                 "--seed", "1", "--out", str(tmp_path / "g.h5"), "-q"]) == 0
    g, _ = convert.load_tracks(tmp_path / "g.h5")
    np.testing.assert_array_equal(np.stack(g.positions).transpose(0, 2, 1), x)
    assert (g.alpha == 0.5).all()


def test_tracking_csv_groups_rows_like_a_plain_loop(tmp_path, rng):
    """The vectorized reader (pandas) against an obviously-correct loop: tracks in order
    of first appearance, rows sorted by frame, untracked spots and non-numeric rows left
    out and counted; a table with no data rows is an error."""
    from anomgrad.io.tracking import read_tracking_csv

    rows = [(int(f), f" {int(p)}", float(x), float(y)) for f, p, x, y in zip(
        rng.permutation(60), rng.integers(0, 7, 60), rng.normal(size=60), rng.normal(size=60))]
    rows += [(3, "", 0.0, 0.0), (4, "None", 1.0, 1.0)]  # untracked spots
    path = tmp_path / "t.csv"
    with open(path, "w") as f:
        f.write("frame,particle,x,y\nFrame,Particle,X,Y\n")  # a TrackMate-like extra header
        f.writelines(f"{fr},{p},{x!r},{y!r}\n" for fr, p, x, y in rows)
    tracks, skipped = read_tracking_csv(path)
    want = {}
    for fr, p, x, y in rows:
        if p.strip() not in ("", "None"):
            want.setdefault(p.strip(), []).append((fr, x, y))
    assert skipped == {"header_rows": 1, "untracked_rows": 2}
    assert list(tracks.ids) == list(want)
    for i, tid in enumerate(want):
        got = sorted(want[tid])
        np.testing.assert_array_equal(tracks.frames_of(i), [g[0] for g in got])
        np.testing.assert_array_equal(tracks.positions[i], [g[1:] for g in got])
    (tmp_path / "h.csv").write_text("frame,particle,x,y\n")
    with pytest.raises(ValueError, match="header and no data rows"):
        read_tracking_csv(tmp_path / "h.csv")
