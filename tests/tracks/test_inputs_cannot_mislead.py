"""Inputs that used to give a silent wrong answer (issue 20, item 6): each is now read
right or refused with an error that names the file and the fix."""

import os
import subprocess
import sys

import numpy as np
import pytest

from anomgrad.cli import main
from anomgrad.io.tracking import read_tracking_csv


def walks(n=3, T=60, dim=2, seed=0):
    return np.cumsum(np.random.default_rng(seed).normal(size=(n, T, dim)), axis=1)


def write_table(path, tracks, sep=",", decimal=".", z=False):
    cols = ["frame", "particle", "x", "y"] + (["z"] if z else [])
    with open(path, "w") as f:
        f.write(sep.join(cols) + "\n")
        for p, x in enumerate(tracks):
            for t, r in enumerate(x):
                vals = [f"{v:.4f}".replace(".", decimal) for v in r]
                f.write(sep.join([str(t), str(p)] + vals) + "\n")


def test_header_only_csv_is_an_error_naming_the_file(tmp_path, capsys):
    (tmp_path / "h.csv").write_text("frame,particle,x,y\n")
    assert main(["classify", str(tmp_path / "h.csv"), "--out", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "h.csv" in err and "no data rows" in err
    assert not os.path.exists(tmp_path / "o" / "classification.csv")


def test_decimal_comma_csv_reads_like_the_decimal_point_one(tmp_path):
    x = walks()
    write_table(tmp_path / "dot.csv", x)
    write_table(tmp_path / "comma.csv", x, sep=";", decimal=",")
    a, _ = read_tracking_csv(tmp_path / "dot.csv")
    b, _ = read_tracking_csv(tmp_path / "comma.csv")
    assert len(b) == 3
    for p, q in zip(a.positions, b.positions):
        np.testing.assert_array_equal(p, q)
        assert np.isfinite(q).all()


def test_a_column_of_text_is_an_error_not_nan(tmp_path):
    (tmp_path / "q.csv").write_text('frame,particle,x,y\n0,1,"0,5","1,5"\n1,1,"0,7","1,1"\n')
    with pytest.raises(ValueError, match=r"q.csv: column 'x' holds no numbers \(e.g. '0,5'\)"):
        read_tracking_csv(tmp_path / "q.csv")


def test_a_z_column_must_be_asked_for(tmp_path):
    x = walks(dim=3)
    write_table(tmp_path / "d3.csv", x, z=True)
    with pytest.raises(ValueError, match="z column that varies.*--dim 3.*--dim 2"):
        read_tracking_csv(tmp_path / "d3.csv")
    t2, _ = read_tracking_csv(tmp_path / "d3.csv", dim=2)
    t3, _ = read_tracking_csv(tmp_path / "d3.csv", dim=3)
    assert t2.dim == 2 and t3.dim == 3
    np.testing.assert_allclose(t3.positions[1], x[1], atol=5e-5)
    np.testing.assert_array_equal(t2.positions[1], t3.positions[1][:, :2])


def test_a_reused_out_keeps_no_stale_gradcam_or_figure(tmp_path):
    write_table(tmp_path / "t.csv", walks(T=80))
    out = str(tmp_path / "o")
    assert main(["classify", str(tmp_path / "t.csv"), "--out", out, "--gradcam", "--figure",
                 "-q", "--device", "cpu"]) == 0
    assert {"gradcam.h5", "tracks.png"} <= set(os.listdir(out))
    assert main(["classify", str(tmp_path / "t.csv"), "--out", out, "-q", "--device", "cpu"]) == 0
    assert set(os.listdir(out)) == {"classification.csv", "classification.json"}


def test_convert_does_not_import_torch(tmp_path):
    write_table(tmp_path / "t.csv", walks())
    code = ("import sys; from anomgrad.cli import main; "
            f"assert main(['convert', {str(tmp_path / 't.csv')!r}, '--to', 'andi', '--out', "
            f"{str(tmp_path / 'a.txt')!r}, '-q']) == 0; "
            "assert 'torch' not in sys.modules, 'convert imported torch'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.path.getsize(tmp_path / "a.txt") > 0


def test_a_constant_z_column_is_2d_data(tmp_path):
    """TrackMate writes POSITION_Z for 2-D movies too (all 0): read as 2-D, no error."""
    x = walks(dim=3)
    x[..., 2] = 0.0
    write_table(tmp_path / "flat.csv", x, z=True)
    t, _ = read_tracking_csv(tmp_path / "flat.csv")
    assert t.dim == 2


def test_an_andi_array_needs_its_dimension_when_the_row_length_is_ambiguous(tmp_path):
    from anomgrad.io.andi import read_andi_array

    x = walks(n=4, T=50, dim=1)[..., 0]  # 1-D tracks of 50 positions
    rows = np.column_stack([np.full(4, 2.0), np.full(4, 0.5), x])  # fbm, alpha 0.5
    np.save(tmp_path / "a1.npy", rows)
    with pytest.raises(ValueError, match=r"a1.npy: .* fit dim 1 or 2: give --dim"):
        read_andi_array(tmp_path / "a1.npy")
    t = read_andi_array(tmp_path / "a1.npy", dim=1)
    assert t.dim == 1 and len(t.positions[0]) == 50
    odd = np.column_stack([rows, x[:, :3]])  # 53 positions (a prime): 1-D only
    assert read_andi_array(odd).dim == 1
    assert main(["classify", str(tmp_path / "a1.npy"), "-q", "--out", str(tmp_path / "o")]) == 2


def test_nan_end_padding_of_a_ragged_array_is_padding_not_bad_data(tmp_path):
    from anomgrad.tracks.classify import classify

    x = np.full((3, 2, 300), np.nan)
    w = walks(n=3, T=300)
    for k, T in enumerate((300, 120, 40)):
        x[k, :, :T] = w[k, :T].T
    x[2, 0, 10] = np.nan  # a NaN inside a track is missing data, not padding
    np.save(tmp_path / "ragged.npy", x)
    for src in (str(tmp_path / "ragged.npy"), x):
        res = classify(src, device="cpu")
        assert list(res.lengths) == [300, 120, 40]
        assert res.status == ["ok", "ok", "non_finite"]
        assert any("NaN end padding removed from 2 tracks" in n for n in res.notes)


def test_convert_to_csv_keeps_the_labels(tmp_path):
    from anomgrad.io import convert
    from anomgrad.io.tracks import Tracks

    w = walks(n=3, T=40)
    t = Tracks(["a", "b", "c"], list(w), None, np.array([2, -1, 4]), np.array([0.5, np.nan, 1.0]))
    convert.save_tracks(tmp_path / "t.csv", t)
    back, _ = convert.load_tracks(tmp_path / "t.csv")
    np.testing.assert_array_equal(back.model, [2, -1, 4])
    np.testing.assert_array_equal(back.alpha, [0.5, np.nan, 1.0])
    for p, q in zip(w, back.positions):
        np.testing.assert_array_equal(p, q)
    # unlabelled tracks: no label columns
    convert.save_tracks(tmp_path / "u.csv", Tracks(["a"], [w[0]]))
    assert (tmp_path / "u.csv").read_text().splitlines()[0] == "track_id,frame,x,y"
