"""Every reader, given a damaged or foreign file, says which file and what is wrong.

For each kind of file anomgrad reads (trajectory files, ResAnDi dataset files,
checkpoints, Grad-CAM result files, anomgrad tracks files, tracking CSVs, andi-datasets
arrays and challenge files) a valid file is made, then damaged: truncated, emptied,
replaced by a file of another format, bumped to another format version, or still held
open by a writer.  The reader must raise a ``ValueError`` (anomgrad's own error classes
derive from it) whose message holds the file's path -- never a traceback from h5py,
torch, numpy or the csv module, never garbage data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from anomgrad import io
from anomgrad.cam.files import run_file
from anomgrad.io import andi, convert, tracking, tracks
from anomgrad.resandi import files as F
from anomgrad.resandi.nn import ResAnDi, load_checkpoint, save_checkpoint

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def _traj(path):
    io.write(path, io.generation_params("fbm", 40, 30, 2, 0, 0, np.float32, alpha=0.7),
             chunk=10, progress=False)


def _dataset(path):
    F.write(path, "fixed", "test", n_per_class=2, seed=0, progress=False)


def _checkpoint(path):
    torch.manual_seed(0)
    save_checkpoint(path, ResAnDi(width=4, length=1000), family="fixed")


def _tracks_file(path):
    rng = np.random.default_rng(0)
    tracks.write_tracks(path, tracks.Tracks.from_array(rng.normal(size=(5, 2, 30)).cumsum(-1)))


def _csv(path):
    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        f.write("particle,frame,x,y\n")
        for p in range(4):
            for t, (x, y) in enumerate(rng.normal(size=(25, 2)).cumsum(0)):
                f.write(f"{p},{t},{x:.4f},{y:.4f}\n")


def _andi_npy(path):
    rng = np.random.default_rng(0)
    a = np.concatenate([np.zeros((4, 1)), np.full((4, 1), 0.5),
                        rng.normal(size=(4, 60)).cumsum(1)], 1)
    np.save(path, a)


def _challenge(path):
    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        for _ in range(4):
            v = rng.normal(size=60).cumsum()
            f.write("2;" + ";".join(f"{x:.4f}" for x in v) + "\n")


# name -> (file name, maker, reader)
READERS = {
    "trajectories": ("t.h5", _traj, io.read_trajectories),
    "trajectories-inspect": ("t.h5", _traj, io.inspect),
    "dataset": ("d.h5", _dataset, F.load),
    "dataset-inspect": ("d.h5", _dataset, F.inspect),
    "checkpoint": ("m.pt", _checkpoint, load_checkpoint),
    "tracks": ("k.h5", _tracks_file, tracks.read_tracks),
    "tracking-csv": ("k.csv", _csv, tracking.read_tracking_csv),
    "andi-array": ("a.npy", _andi_npy, lambda p: andi.read_andi_array(p, dim=2)),
    "andi-challenge": ("task2.txt", _challenge, andi.read_andi_challenge),
    "load-tracks": ("k.h5", _tracks_file, convert.load_tracks),
    "load-tracks-csv": ("k.csv", _csv, convert.load_tracks),
    "load-tracks-npy": ("a.npy", _andi_npy, lambda p: convert.load_tracks(p, dim=2)),
}


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    d = tmp_path_factory.mktemp("originals")
    made = {}
    for name, (fname, make, _) in READERS.items():
        p = d / f"{name}-{fname}"
        make(str(p))
        made[name] = p
    return made


def refused(read, path):
    """read(path) must raise a ValueError naming the path; returns the message."""
    with pytest.raises(ValueError) as e:
        read(str(path))
    msg = str(e.value)
    assert str(path) in msg, f"{type(e.value).__name__} without the path: {msg}"
    assert "Traceback" not in msg and len(msg) < 800, msg
    return msg


def place(tmp_path, originals, name):
    fname = READERS[name][0]
    p = tmp_path / fname
    shutil.copy(originals[name], p)
    return p


@pytest.mark.parametrize("name", READERS)
def test_valid_file_reads(originals, name, tmp_path):
    READERS[name][2](str(place(tmp_path, originals, name)))


@pytest.mark.parametrize("name", READERS)
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated(originals, name, tmp_path, keep):
    p = place(tmp_path, originals, name)
    with open(p, "r+b") as f:
        f.truncate(int(os.path.getsize(p) * keep))
    refused(READERS[name][2], p)


@pytest.mark.parametrize("name", READERS)
def test_zero_length(originals, name, tmp_path):
    p = tmp_path / READERS[name][0]
    p.write_bytes(b"")
    refused(READERS[name][2], p)


@pytest.mark.parametrize("name", READERS)
@pytest.mark.parametrize("other", ["png", "json", "h5-other", "pt"])
def test_foreign(originals, name, tmp_path, other):
    p = tmp_path / READERS[name][0]
    if other == "png":
        p.write_bytes(PNG)
    elif other == "json":
        p.write_text(json.dumps({"a": [1, 2, 3]}))
    elif other == "h5-other":  # another anomgrad HDF5 format (or a plain HDF5 file)
        src = originals["dataset"] if not name.startswith("dataset") else originals["trajectories"]
        shutil.copy(src, p)
    else:  # a torch file that is not a checkpoint
        torch.save({"weights": torch.zeros(3), "note": "not ResAnDi"}, p)
    refused(READERS[name][2], p)


def _bump_version(p):
    if str(p).endswith(".pt"):
        ck = torch.load(p, weights_only=True)
        ck["format_version"] += 1
        torch.save(ck, p)
    else:
        with h5py.File(p, "r+") as f:
            f.attrs["format_version"] = np.int64(f.attrs["format_version"] + 1)


VERSIONED = ["trajectories", "trajectories-inspect", "dataset", "dataset-inspect",
             "checkpoint", "tracks", "load-tracks"]


@pytest.mark.parametrize("name", VERSIONED)
def test_other_version(originals, name, tmp_path):
    p = place(tmp_path, originals, name)
    _bump_version(p)
    assert "version" in refused(READERS[name][2], p)


HDF5 = [n for n in READERS if READERS[n][0].endswith(".h5")]


@pytest.mark.parametrize("name", HDF5)
def test_file_held_by_a_writer(originals, name, tmp_path):
    """An HDF5 file another process has open for writing (a job still running)."""
    p = place(tmp_path, originals, name)
    holder = subprocess.Popen([sys.executable, "-c",
                               "import h5py, sys, time\n"
                               "f = h5py.File(sys.argv[1], 'r+')\n"
                               "print('open', flush=True)\n"
                               "time.sleep(60)\n", str(p)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        msg = refused(READERS[name][2], p)
        assert "another process" in msg or "being written" in msg, msg
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("name", ["trajectories", "dataset", "tracks", "load-tracks"])
def test_unfinished_partial(originals, name, tmp_path):
    """Asked for ``x.h5`` while only ``x.h5.partial`` exists: the error says so."""
    p = place(tmp_path, originals, name)
    os.replace(p, str(p) + ".partial")
    msg = refused(READERS[name][2], p)
    assert ".partial" in msg, msg


# ---- Grad-CAM result files: resuming from a damaged partial ------------------------


def test_gradcam_resume_from_damaged_partial(originals, tmp_path):
    ck, data = originals["checkpoint"], originals["dataset"]
    out = tmp_path / "cam.h5"
    run_file(ck, data, out, progress=False, chunk=4, batch_size=4, device="cpu")
    want = h5py.File(out, "r")["cam"][...]
    for damage in ("truncate", "empty", "png"):
        partial = str(out) + ".partial"
        shutil.copy(out, partial)
        if damage == "truncate":
            with open(partial, "r+b") as f:
                f.truncate(os.path.getsize(partial) // 2)
        elif damage == "empty":
            open(partial, "wb").close()
        else:
            with open(partial, "wb") as f:
                f.write(PNG)
        os.remove(out)
        refused(lambda o: run_file(ck, data, o, progress=False, device="cpu"), out)
        os.remove(partial)
        run_file(ck, data, out, progress=False, chunk=4, batch_size=4, device="cpu")
        np.testing.assert_array_equal(h5py.File(out, "r")["cam"][...], want)


# ---- the command line: exit status 2 and one line naming the file --------------------

CLI_CASES = [  # (argv with {ck} / {data} / {tracks} / {out}, the argument damaged)
    ("evaluate {ck} {data} --out {out} --quiet", "ck"),
    ("evaluate {ck} {data} --out {out} --quiet", "data"),
    ("gradcam {ck} {data} --out {out}/c.h5 --quiet", "ck"),
    ("gradcam {ck} {data} --out {out}/c.h5 --quiet", "data"),
    ("erasure {ck} {data} --out {out} --quiet", "data"),
    ("relevance {ck} {data} --out {out} --quiet", "data"),
    ("probes {ck} --train {data} --test {data} --out {out} --quiet", "ck"),
    ("classify {tracks} --model {ck} --out {out} --quiet", "tracks"),
    ("classify {tracks} --model {ck} --out {out} --quiet", "ck"),
    ("convert {tracks} --to csv --out {out}/k.csv --quiet", "tracks"),
]


@pytest.mark.parametrize("damage", ["truncate", "png"])
@pytest.mark.parametrize("argv, which", CLI_CASES)
def test_cli_names_the_damaged_file(originals, tmp_path, capsys, argv, which, damage):
    from anomgrad.cli import main

    files = {"ck": place(tmp_path, originals, "checkpoint"),
             "data": place(tmp_path, originals, "dataset"),
             "tracks": place(tmp_path, originals, "tracking-csv")}
    bad = files[which]
    if damage == "truncate":
        with open(bad, "r+b") as f:
            f.truncate(os.path.getsize(bad) // 2)
    else:
        bad.write_bytes(PNG)
    capsys.readouterr()
    rc = main(argv.format(out=tmp_path / "out", **files).split())
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert str(bad) in err and "Traceback" not in err and len(err.splitlines()) == 1, err
