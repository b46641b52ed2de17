"""The ResAnDi dataset (anomgrad.datasets, `anomgrad dataset`): classes, seeds, splits,
preprocessing (numpy and torch), files, the lazy torch Dataset."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

import anomgrad as ag
from anomgrad.resandi import datasets as D
from anomgrad.cli import main
from anomgrad.processing import random_lengths
from anomgrad.rng import uniforms, words


@pytest.fixture(scope="module")
def small():
    return D.resandi("varying", "test", 40, seed=11)


def run(capsys, *argv):
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


# ---------------------------------------------------------------------------------
# Seed scheme and draws


def test_index_scheme_is_disjoint():
    idx = {}
    for split in ("train", "val", "test", "fresh"):
        for file in (0, 1, 2**24 - 1):
            for label in range(8):
                first = int(D.trajectory_index(split, file, label, 0))
                last = int(D.trajectory_index(split, file, label, 2**28 - 1))
                assert first == (D.SPLITS[split] << 56) | (file << 32) | (label << 28)
                idx[(split, file, label)] = (first, last)
    spans = sorted(idx.values())
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))  # no two ranges overlap
    assert spans[-1][1] < 2**64
    with pytest.raises(ValueError, match="j must be < 2\\*\\*28"):
        D.trajectory_index("train", 0, 0, 2**28)
    with pytest.raises(ValueError, match="file must be in"):
        D.trajectory_index("train", 2**24, 0, 0)
    with pytest.raises(ValueError, match="split must be one of"):
        D.trajectory_index("validation", 0, 0, 0)


def test_draws_use_the_documented_streams():
    seed = 2**63 + 12345
    first = int(D.trajectory_index("test", 3, 2, 17))
    a, T, key = D.class_draws("varying", 2, seed, first, 300)
    np.testing.assert_array_equal(a, 0.1 + (0.9 - 0.1) * uniforms(seed, first, 64, 1, 300)[:, 0])
    np.testing.assert_array_equal(T, random_lengths(300, 10, 1000, seed, start=first))
    w = words(seed, first, 65, 4, 300).astype(np.uint64)
    np.testing.assert_array_equal(key, (w[:, 0] << np.uint64(32)) | w[:, 1])
    a5, T5, _ = D.class_draws("fixed", 5, seed, first, 10)
    assert np.all(T5 == 1000) and np.all((a5 > 1.1) & (a5 < 1.9))
    a7, _, _ = D.class_draws("fixed", 7, seed, first, 10)
    assert np.all(a7 == 1.0)


# ---------------------------------------------------------------------------------
# Contents


def test_classes_balance_alpha_and_lengths(small):
    lab, a, T = small["label"], small["alpha"], small["T"]
    assert small["x"].shape == (320, 2, 1000) and small["x"].dtype == np.float32
    assert np.array_equal(np.bincount(lab, minlength=8), np.full(8, 40))
    assert not np.all(np.diff(lab) >= 0)  # rows are shuffled
    sub, sup = np.isin(lab, [0, 1, 2, 3]), np.isin(lab, [4, 5, 6])
    assert np.all((a[sub] > 0.1) & (a[sub] < 0.9)) and np.all((a[sup] > 1.1) & (a[sup] < 1.9))
    assert np.all(a[lab == 7] == 1.0)
    assert T.min() >= 10 and T.max() <= 1000 and np.unique(T).size > 100
    assert small["meta"]["family"] == "varying" and small["meta"]["n"] == 320
    fixed = D.resandi("fixed", "test", 5, seed=11, classes=[1, 5])
    assert np.all(fixed["T"] == 1000) and set(fixed["label"]) == {1, 5}


def test_preprocessing_properties(small):
    x, z, T = small["x"].astype(np.float64), small["z"].astype(np.float64), small["T"]
    assert x.min() >= 0.0 and x.max() <= 1.0
    lo, hi = x.min(-1), x.max(-1)
    const = lo == hi
    assert np.all(lo[~const] == 0.0) and np.all(hi[~const] == 1.0)
    assert np.all(x[const] == 0.0)  # a constant row (no range) is 0
    for i in range(len(x)):
        off = 1000 - T[i]
        assert np.all(z[i, :, :off] == 0.0)  # z: left zero padding
        assert np.all(z[i, :, off] == 0.0)  # normalized trajectories start at 0
        # x: the padding is the scaled start position (min-max over the padded 1000 steps)
        assert np.all(x[i, :, :off] == x[i, :, off:off + 1])
        d = np.diff(z[i, :, off:], axis=-1)
        sd = d.std(-1)
        assert np.all((np.abs(sd - 1) < 1e-5) | (sd == 0))  # AnDi: unit-std increments
        # min-max of z is x
        r = z[i].max(-1) - z[i].min(-1)
        ok = r > 0
        np.testing.assert_allclose(x[i][ok], ((z[i] - z[i].min(-1, keepdims=True))
                                              / np.where(r > 0, r, 1)[:, None])[ok], atol=1e-6)


def test_rows_are_the_documented_trajectories(small):
    """Row r is trajectory index[r]: generate, keep the first T, normalize, pad, scale."""
    for r in (0, 7, 100, 319):
        i, lab, T, a = (int(small["index"][r]), int(small["label"][r]), int(small["T"][r]),
                        float(small["alpha"][r]))
        assert i >> 56 == D.SPLITS["test"] and (i >> 28) & 0xF == lab
        raw = ag.generate(D.CLASS_MODELS[lab], 1, 1000, a, 2, seed=11, start=i)
        z = np.zeros((1, 2, 1000), np.float32)
        z[..., 1000 - T:] = ag.normalize(raw[..., :T])
        assert z.tobytes() == small["z"][r:r + 1].tobytes()
        assert D.minmax(z).tobytes() == small["x"][r:r + 1].tobytes()
        # a fixed-family trajectory with the same index is the full-length version
        fx = D.generate_class("fixed", "test", 0, lab, i & (2**28 - 1), 1, 11)["x"]
        assert fx.tobytes() == raw.tobytes()


def test_reproducible_and_splits_disjoint(small):
    again = D.resandi("varying", "test", 40, seed=11)
    for k in ("x", "z", "label", "alpha", "T", "index"):
        assert again[k].tobytes() == small[k].tobytes()
    val = D.resandi("varying", "val", 40, seed=11, z=False)
    other_file = D.resandi("varying", "test", 40, seed=11, file=1, z=False)
    other_seed = D.resandi("varying", "test", 40, seed=12, z=False)
    assert "z" not in val
    assert not set(val["index"]) & set(small["index"])
    assert not set(other_file["index"]) & set(small["index"])
    assert np.array_equal(np.sort(other_seed["index"]), np.sort(small["index"]))
    def rows(d):  # rows that are not constant, as bytes
        flat = d["x"].reshape(len(d["x"]), -1)
        keep = flat.max(1) > flat.min(1)
        return {r.tobytes() for r in d["x"][keep]}

    for d in (val, other_file, other_seed):  # different trajectories
        assert not rows(d) & rows(small)


def test_blocks_are_balanced():
    d = D.resandi("fixed", "train", D.BLOCK_PER_CLASS + 30, seed=3, classes=[1, 7], z=False)
    first = d["label"][:2 * D.BLOCK_PER_CLASS]
    assert np.array_equal(np.bincount(first, minlength=8)[[1, 7]], [D.BLOCK_PER_CLASS] * 2)
    assert np.array_equal(np.bincount(d["label"][2 * D.BLOCK_PER_CLASS:], minlength=8)[[1, 7]],
                          [30, 30])
    j = d["index"] & np.uint64(2**28 - 1)
    assert j[:2 * D.BLOCK_PER_CLASS].max() < D.BLOCK_PER_CLASS <= j[2 * D.BLOCK_PER_CLASS:].min()


# ---------------------------------------------------------------------------------
# numpy vs torch preprocessing


def _raw_mix():
    parts = [D.generate_class("varying", "train", 0, c, 0, 64, 5) for c in range(8)]
    x = np.concatenate([p["x"] for p in parts])
    T = np.concatenate([p["T"] for p in parts])
    T[:8] = [10, 11, 2, 1, 1000, 999, 3, 500]  # extremes, including 1 and 2 positions
    x[8] = 0.0  # a constant trajectory
    return x, T


def test_torch_preprocessing_equals_numpy():
    x, T = _raw_mix()
    zn = D.normalize_padded(x, T)
    zt = D.normalize_torch(torch.from_numpy(x), torch.from_numpy(T)).numpy()
    # same operations in float64, different summation order: float32 rounding at most
    np.testing.assert_allclose(zt, zn, rtol=0, atol=2e-6 * max(1.0, np.abs(zn).max()))
    assert np.mean(zt == zn) > 0.99
    # min-max alone is the same bits
    assert D.minmax_torch(torch.from_numpy(zn)).numpy().tobytes() == D.minmax(zn).tobytes()
    xn = D.preprocess(x, T)
    xt = D.preprocess_torch(torch.from_numpy(x), torch.from_numpy(T)).numpy()
    np.testing.assert_allclose(xt, xn, rtol=0, atol=1e-6)
    assert np.all(xn[8] == 0) and np.all(xt[8] == 0)  # zero range -> 0
    # shorter inputs and float64 inputs give the same
    xs = D.preprocess_torch(torch.from_numpy(x[:, :, :600].astype(np.float64)),
                            torch.from_numpy(np.minimum(T, 600))).numpy()
    np.testing.assert_allclose(xs, D.preprocess(x[:, :, :600], np.minimum(T, 600)), atol=1e-6)


def test_preprocess_bad_input():
    x = np.zeros((3, 2, 1000), np.float32)
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 1000\], got lengths\[1\] = 1001"):
        D.preprocess(x, np.array([10, 1001, 5]))
    with pytest.raises(ValueError, match="lengths must be a 1-D array of length n=3"):
        D.preprocess(x, np.array([10, 10]))
    with pytest.raises(TypeError, match="lengths must be integers"):
        D.preprocess(x, np.array([10.0, 10.0, 5.0]))
    with pytest.raises(ValueError, match="must have 3 dimensions"):
        D.preprocess(x[0])
    with pytest.raises(TypeError, match="torch tensor"):
        D.preprocess(torch.zeros(3, 2, 1000))
    with pytest.raises(ValueError, match="z must be finite"):
        D.minmax(np.full((1, 2, 10), np.nan, np.float32))
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 1000\]"):
        D.preprocess_torch(torch.zeros(3, 2, 1000), torch.tensor([0, 4, 4]))
    with pytest.raises(TypeError, match="lengths must be integers"):
        D.preprocess_torch(torch.zeros(3, 2, 1000), torch.tensor([1.0, 4.0, 4.0]))
    with pytest.raises(ValueError, match="family must be one of varying, fixed"):
        D.resandi("variable", "test", 2)
    with pytest.raises(ValueError, match="n_per_class must be in"):
        D.resandi("fixed", "test", 0)
    with pytest.raises(ValueError, match="classes must be labels in 0..7"):
        D.resandi("fixed", "test", 2, classes=[8])


# ---------------------------------------------------------------------------------
# Files


def test_file_round_trip(tmp_path, small):
    path = tmp_path / "test.h5"
    r = D.write(path, "varying", "test", 40, seed=11, progress=False, command="cmd")
    assert r["status"] == "written" and r["n"] == 320
    assert not (tmp_path / "test.h5.partial").exists()
    d = D.load(path)
    for k in ("x", "z", "label", "alpha", "T", "index"):
        assert d[k].tobytes() == small[k].tobytes(), k
    m = d["meta"]
    assert m["format"] == "anomgrad-resandi-dataset" and m["format_version"] == 2
    assert (m["family"], m["split"], m["file"], m["seed"], m["n_per_class"]) == \
        ("varying", "test", 0, 11, 40)
    assert m["classes"] == list(range(8)) and json.loads(m["class_names"])[0] == "sub-ATTM"
    assert m["anomgrad_version"] == ag.__version__ and m["command"] == "cmd"
    assert json.loads(m["streams"]) == {"alpha": 64, "length": 49, "shuffle": 65}
    with h5py.File(path, "r") as f:
        assert f["x"].chunks is None and f["x"].dtype == np.dtype("<f4")
        assert f["index"].dtype == np.dtype("<u8") and int(f["progress"][0]) == 320
    sub = D.load(path, fields=("x", "label"), rows=[5, 1, 5])
    assert np.array_equal(sub["x"], small["x"][[5, 1, 5]])
    assert D.write(path, "varying", "test", 40, seed=11, progress=False)["status"] == "exists"
    with pytest.raises(D.DatasetFormatError, match="different dataset.*--overwrite"):
        D.write(path, "varying", "test", 41, seed=11, progress=False)


def test_interrupted_write_resumes_to_the_same_bytes(tmp_path, monkeypatch):
    n = D.BLOCK_PER_CLASS + 10
    ref = tmp_path / "ref.h5"
    D.write(ref, "fixed", "train", n, seed=4, classes=[3, 6], progress=False, fsync=False)
    out = tmp_path / "out.h5"
    real = D.make_block
    calls = []

    def dying(p, k, want_z=True):
        calls.append(k)
        if k == 1:
            raise KeyboardInterrupt
        return real(p, k, want_z)

    from anomgrad.resandi import files

    monkeypatch.setattr(files, "make_block", dying)  # where write() looks it up
    with pytest.raises(KeyboardInterrupt):
        D.write(out, "fixed", "train", n, seed=4, classes=[3, 6], progress=False)
    monkeypatch.setattr(files, "make_block", real)
    partial = tmp_path / "out.h5.partial"
    info = D.inspect(partial, require_complete=False)
    assert info["rows_written"] == 2 * D.BLOCK_PER_CLASS and not info["complete"]
    with pytest.raises(D.DatasetFormatError, match="incomplete dataset.*run the same"):
        D.inspect(partial)
    with pytest.raises(D.DatasetFormatError, match="different parameters"):
        D.write(out, "fixed", "train", n, seed=5, classes=[3, 6], progress=False)
    r = D.write(out, "fixed", "train", n, seed=4, classes=[3, 6], progress=False)
    assert r["status"] == "resumed" and not partial.exists()
    with h5py.File(ref, "r") as a, h5py.File(out, "r") as b:
        for k in ("x", "z", "label", "alpha", "T", "index", "progress"):
            assert a[k][...].tobytes() == b[k][...].tobytes(), k


def test_bad_files_are_named(tmp_path):
    good = tmp_path / "g.h5"
    D.write(good, "fixed", "val", 3, seed=1, progress=False)
    with pytest.raises(D.DatasetFormatError, match=r"family 'fixed' \(T = 1000\), but family "
                                                   r"'varying' is expected"):
        D.inspect(good, family="varying")
    with pytest.raises(D.DatasetFormatError, match="a 'val' split, but a 'train' split"):
        D.inspect(good, split="train")
    old = tmp_path / "old.h5"
    D.write(old, "fixed", "val", 3, seed=1, progress=False)
    with h5py.File(old, "r+") as f:
        f.attrs["format_version"] = np.int64(3)
    with pytest.raises(D.DatasetFormatError, match="format_version 3 is newer"):
        D.inspect(old)
    with h5py.File(old, "r+") as f:
        f.attrs["format_version"] = np.int64(1)
    with pytest.raises(D.DatasetFormatError, match="version 1, made by the earlier rule that "
                                                   "kept trajectories that never move"):
        D.inspect(old)
    traj = tmp_path / "traj.h5"
    assert main(["generate", "--model", "bm", "--n", "3", "--T", "10", "--out", str(traj),
                 "--quiet"]) == 0
    with pytest.raises(D.DatasetFormatError, match="`anomgrad generate` trajectory file"):
        D.load(traj)
    txt = tmp_path / "t.h5"
    txt.write_text("text")
    with pytest.raises(D.DatasetFormatError, match="not an HDF5 file"):
        D.inspect(txt)
    with pytest.raises(D.DatasetFormatError, match="no such file"):
        D.inspect(tmp_path / "missing.h5")
    with pytest.raises(ValueError, match=r"out: directory .*nodir does not exist"):
        D.write(tmp_path / "nodir" / "d.h5", "fixed", "val", 3, progress=False)
    with pytest.raises(ValueError, match="out: .* is a directory"):
        D.write(tmp_path, "fixed", "val", 3, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.h5", "old.h5", "t.h5", "traj.h5"]


def test_torch_dataset_is_lazy(tmp_path):
    path = tmp_path / "d.h5"
    D.write(path, "varying", "train", 12, seed=2, progress=False)
    ds = D.H5Dataset(path, family="varying", split="train")
    assert isinstance(ds, torch.utils.data.Dataset) and len(ds) == 96
    assert ds._f is None  # nothing opened or read yet
    ref = D.load(path)
    x, y = ds[5]
    assert x.shape == (2, 1000) and torch.equal(x, torch.from_numpy(ref["x"][5]))
    assert int(y) == ref["label"][5]
    xb, yb = ds[[9, 2, 9, 40]]
    assert torch.equal(xb, torch.from_numpy(ref["x"][[9, 2, 9, 40]]))
    assert torch.equal(yb, torch.from_numpy(ref["label"][[9, 2, 9, 40]]))
    assert torch.equal(D.H5Dataset(path, field="z")[3][0], torch.from_numpy(ref["z"][3]))
    # workers open their own handle: a DataLoader with 2 worker processes
    loader = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=2, shuffle=False)
    xs = torch.cat([b[0] for b in loader])
    assert torch.equal(xs, torch.from_numpy(ref["x"]))
    with pytest.raises(IndexError):
        ds[96]
    with pytest.raises(D.DatasetFormatError, match="family 'varying'"):
        D.H5Dataset(path, family="fixed")


def test_cli_dataset(tmp_path, capsys):
    rc, err = run(capsys, "dataset", "--family", "fixed", "--split", "train", "--out",
                  tmp_path / "tr", "--files", 2, "--file", 3, "--n-per-class", 4, "--seed", 9,
                  "--classes", 0, 7, "--quiet")
    assert rc == 0, err
    for k in (3, 4):
        d = D.load(tmp_path / "tr" / f"train_{k}.h5", fields=("label", "index"))
        assert d["meta"]["file"] == k and d["meta"]["seed"] == 9
        assert sorted(set(d["label"])) == [0, 7] and len(d["label"]) == 8
        assert np.all((d["index"] >> np.uint64(32)) & np.uint64(0xFFFFFF) == k)
        assert d["meta"]["command"].startswith("anomgrad dataset --family fixed")
    rc, err = run(capsys, "dataset", "--family", "fixed", "--split", "test", "--out",
                  tmp_path / "p_{file}.h5", "--files", 2, "--n-per-class", 2, "--quiet")
    assert rc == 0, err
    assert (tmp_path / "p_0.h5").exists() and (tmp_path / "p_1.h5").exists()
    for argv, msg in [
        (["--n-per-class", 0], "argument --n-per-class: n_per_class must be in"),
        (["--classes", 9], "argument --classes: classes must be labels in 0..7"),
        (["--files", 2], "--files 2 writes 2 files"),
        (["--seed", -1], "argument --seed"),
    ]:
        rc, err = run(capsys, "dataset", "--family", "fixed", "--split", "val", "--out",
                      tmp_path / "x.h5", *argv)
        assert rc == 2 and msg in err and "Traceback" not in err, err
    rc, err = run(capsys, "dataset", "--family", "sometimes", "--split", "val", "--out",
                  tmp_path / "x.h5")
    assert rc == 2 and "invalid choice" in err


@pytest.mark.parametrize("model, alpha", [("attm", 0.5), ("ctrw", 0.3), ("sbm", 0.4),
                                          ("sbm", 1.6), ("lw", 1.5), ("bm", None)])
def test_prefixes_are_the_shorter_trajectories(model, alpha):
    """Why the varying family cuts T = 1000 trajectories: for every model but FBM the
    first T positions are exactly what the generator gives for length T."""
    full = ag.generate(model, 200, 1000, alpha, 2, seed=3, start=2**60)
    for T in (10, 137, 999):
        assert full[..., :T].tobytes() == ag.generate(model, 200, T, alpha, 2, seed=3,
                                                      start=2**60).tobytes()


def test_write_does_not_mistake_an_augmented_file_for_its_source(tmp_path):
    import h5py

    from anomgrad.resandi import datasets as D

    path = tmp_path / "train.h5"
    D.write(path, "fixed", "train", n_per_class=4, seed=3, progress=False)
    with h5py.File(path, "r+") as f:
        f.attrs["augmentation"] = '{"arm": "targeted"}'
    with pytest.raises(D.DatasetFormatError, match="augmented"):
        D.write(path, "fixed", "train", n_per_class=4, seed=3, progress=False)


def test_still_rows_are_redrawn():
    """Rows that never move (sub-CTRW without a jump before T: probability T**-alpha, 79 %
    at alpha 0.1, T 10) are redrawn with the same alpha and T; other rows are untouched."""
    n = 4000
    a, T = np.full(n, 0.1), np.full(n, 10)
    x0 = ag.generate("ctrw", n, D.LENGTH, a, 2, 5, start=123)
    still0 = D.still_rows(x0, T)
    assert 0.75 < still0.size / n < 0.83  # T**-alpha = 0.794
    x = D.moving("ctrw", a, T, 5, 123)
    assert D.still_rows(x, T).size == 0
    assert np.all(np.abs(x[:, :, :10]).sum(axis=(1, 2)) > 0)
    moved = np.setdiff1d(np.arange(n), still0)
    np.testing.assert_array_equal(x[moved], x0[moved])
    # a redrawn row is trajectory first + i under the attempt's seed
    i = int(still0[0])
    for k in range(1, 100):
        r = ag.generate("ctrw", 1, D.LENGTH, 0.1, 2, D.redraw_seed(5, k), start=123 + i)[0]
        if np.any(r[:, :10] != 0):
            break
    np.testing.assert_array_equal(x[i], r)


def test_no_still_rows_in_the_datasets():
    """No class of either family holds a row that never moves (the old rule kept ~12 % of
    varying-T sub-CTRW rows all zero), and files stay reproducible row by row."""
    for fam in D.FAMILIES:
        d = D.resandi(fam, "test", 1024, seed=3, z=False)
        raw_still = D.still_rows(d["x"], np.full(len(d["x"]), D.LENGTH))
        assert raw_still.size == 0, fam  # min-max inputs of a still row would be all 0
        g = D.generate_class(fam, "test", 0, 1, 0, 1024, 3)
        assert D.still_rows(g["x"], g["T"]).size == 0
        again = D.generate_class(fam, "test", 0, 1, 512, 512, 3)
        np.testing.assert_array_equal(again["x"], g["x"][512:])
