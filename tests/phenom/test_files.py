"""``anomgrad generate --model multi_state``: positions and labels per frame into the
resumable HDF5 trajectory file; an interrupted run resumes to the same bytes; the
parameters are checked before anything is written; older files still read."""

import json

import h5py
import numpy as np
import pytest

import anomgrad as ag
from anomgrad.cli import main
from anomgrad.io import trajectories

PARAMS = {"M": [[0.9, 0.1], [0.2, 0.8]], "alphas": [[1.3, 0.01], [0.5, 0.01]],
          "Ds": [[1.0, 0.1], [0.2, 0.01]], "L": 30.0}


def cli(out, *extra, model="multi_state", params=PARAMS):
    a = ["generate", "--model", model, "--n", "50", "--T", "40", "--seed", "4", "--out",
         str(out), "--quiet"]
    if params is not None:
        a += ["--params", json.dumps(params)]
    return main(a + list(extra))


def test_positions_and_labels_are_those_of_generate(tmp_path):
    assert cli(tmp_path / "a.h5", "--chunk", "7") == 0
    x, meta = trajectories.read_trajectories(tmp_path / "a.h5")
    want_x, want_lab = ag.generate("multi_state", 50, 40, seed=4, **PARAMS)
    assert np.array_equal(x, want_x) and np.array_equal(meta["labels"], want_lab)
    assert np.array_equal(meta["alpha"], want_lab[:, 0, 0].astype(np.float64))
    assert meta["params"]["model_params"] == PARAMS
    with h5py.File(tmp_path / "a.h5") as f:
        assert f["labels"].attrs["channels"] == "alpha, D, kind, state"
        assert json.loads(f.attrs["model_params"]) == PARAMS
    assert cli(tmp_path / "a.h5") == 0  # same arguments: complete, nothing to do
    assert cli(tmp_path / "a.h5", params={**PARAMS, "L": 31.0}) == 2  # others: refused


def test_an_interrupted_run_resumes_to_the_same_bytes(tmp_path, monkeypatch):
    calls = []

    def store(w, rows, _orig=trajectories._store):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(len(rows["x"]))
        return _orig(w, rows)

    monkeypatch.setattr(trajectories, "_store", store)
    assert cli(tmp_path / "r.h5", "--chunk", "6") == 130
    partial = tmp_path / "r.h5.partial"
    assert trajectories.inspect(partial)["rows_written"] == 18
    monkeypatch.undo()
    assert cli(tmp_path / "r.h5", "--chunk", "11") == 0
    assert cli(tmp_path / "u.h5") == 0
    with h5py.File(tmp_path / "r.h5") as a, h5py.File(tmp_path / "u.h5") as b:
        for k in ("x", "labels", "alpha"):
            assert a[k][...].tobytes() == b[k][...].tobytes()


@pytest.mark.parametrize("extra,params,model,match", [
    ((), {"M": [[0.5, 0.6], [0.5, 0.5]]}, "multi_state", "row 0 sums to 1.1"),
    ((), {"Ds": -1.0}, "single_state", "must be > 0"),
    ((), {"L": 10, "N": 3}, "single_state", "no parameter 'N'"),
    (("--alpha", "0.5"), None, "multi_state", "in --params"),
    ((), {}, "fbm", "for the state models"),
    (("--params", "{not json"), None, "multi_state", "not a JSON object"),
])
def test_bad_parameters_are_refused_before_writing(tmp_path, capsys, extra, params, model,
                                                   match):
    assert cli(tmp_path / "b.h5", *extra, model=model, params=params) == 2
    assert match in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_parameters_from_a_file_and_theory_files_unchanged(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({"alphas": [0.7, 0.0]}))
    assert cli(tmp_path / "s.h5", "--params", f"@{tmp_path / 'p.json'}", model="single_state",
               params=None) == 0
    _, meta = trajectories.read_trajectories(tmp_path / "s.h5")
    assert (meta["labels"][:, 0] == np.float32(0.7)).all()
    assert main(["generate", "--model", "fbm", "--n", "5", "--T", "20", "--alpha", "0.5",
                 "--out", str(tmp_path / "f.h5"), "--quiet"]) == 0
    with h5py.File(tmp_path / "f.h5") as f:  # the args text of a theory file is as before
        assert "model_params" not in json.loads(f.attrs["args"]) and "labels" not in f


def test_figure_draws_the_first_track_with_its_labels(tmp_path, capsys):
    assert cli(tmp_path / "g.h5", "--figure") == 0
    png = tmp_path / "g-track0.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert main(["generate", "--model", "fbm", "--n", "5", "--T", "20", "--alpha", "0.5",
                 "--out", str(tmp_path / "f.h5"), "--figure", "--quiet"]) == 2
    assert "--figure" in capsys.readouterr().err and not (tmp_path / "f.h5").exists()


def test_dimerization_files_come_in_whole_fields(tmp_path, capsys):
    """Chunks are whole fields of N particles (whatever --chunk says), and --n that is
    not a multiple of N is refused before anything is written."""
    p = {"N": 20, "L": 15.0, "Pb": 0.5}
    assert cli(tmp_path / "d.h5", "--chunk", "7", model="dimerization", params=p) == 2
    assert "multiples of N" in capsys.readouterr().err and not list(tmp_path.iterdir())
    argv = ["generate", "--model", "dimerization", "--n", "60", "--T", "30", "--seed", "2",
            "--params", json.dumps(p), "--quiet"]
    assert main(argv + ["--out", str(tmp_path / "d.h5"), "--chunk", "7"]) == 0
    x, meta = trajectories.read_trajectories(tmp_path / "d.h5")
    want = ag.generate("dimerization", 60, 30, seed=2, **p)
    assert np.array_equal(x, want[0]) and np.array_equal(meta["labels"], want[1])
