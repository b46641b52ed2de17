"""``anomgrad generate`` and the HDF5 trajectory files (anomgrad.cli, anomgrad.io)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import anomgrad as ag
from anomgrad import io
from anomgrad.cli import main
from anomgrad.config import STREAM_ALPHA as ALPHA_RANGE_STREAM
from anomgrad.generate import range_alphas
from anomgrad.rng import uniforms


def run(capsys, *argv):
    """main(argv) -> (exit status, stderr)."""
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def gen_args(out, model="fbm", n=37, T=50, alpha=0.7, *extra):
    a = ["generate", "--model", model, "--n", n, "--T", T, "--out", out, "--quiet"]
    if alpha is not None:
        a += ["--alpha", alpha]
    return a + list(extra)


def raw_x(path):
    with h5py.File(path, "r") as f:
        return f["x"][...]


# ---------------------------------------------------------------------------------
# Contents and attributes


@pytest.mark.parametrize("model, alpha, dim, dtype, start", [
    ("fbm", 0.7, 3, "float32", 0),
    ("lw", 1.5, 2, "float64", 11),
    ("bm", None, 1, "float32", 3),
])
def test_round_trip(tmp_path, capsys, model, alpha, dim, dtype, start):
    out = tmp_path / "t.h5"
    rc, err = run(capsys, *gen_args(out, model, 37, 50, alpha), "--dim", dim, "--dtype", dtype,
                  "--seed", 5, "--start", start, "--chunk", 10)
    assert rc == 0, err
    assert not os.path.exists(str(out) + ".partial")
    x, meta = io.read_trajectories(out)
    ref = ag.generate(model, 37, 50, alpha, dim, seed=5, start=start, dtype=dtype)
    assert x.dtype == np.dtype(dtype) and x.shape == (37, dim, 50)
    assert x.tobytes() == ref.tobytes()
    assert meta["model"] == model and meta["T"] == 50 and meta["dim"] == dim
    assert meta["n"] == 37 and meta["seed"] == 5 and meta["start"] == start
    assert meta["dtype"] == dtype and meta["complete"] and meta["rows_written"] == 37
    assert meta["format"] == io.FORMAT_NAME == "anomgrad-trajectories"
    assert meta["format_version"] == io.FORMAT_VERSION == 1
    assert meta["anomgrad_version"] == ag.__version__
    assert meta["alpha_scalar"] == (1.0 if alpha is None else alpha)
    np.testing.assert_array_equal(meta["alpha"], np.full(37, meta["alpha_scalar"]))
    assert "alpha_range" not in meta
    args = json.loads(meta["args"])
    assert args["model"] == model and args["n"] == 37 and args["alpha"] == alpha
    assert meta["command"].startswith("anomgrad generate --model " + model)
    assert meta["created"]
    # partial reads
    xs, ms = io.read_trajectories(out, rows=slice(5, 9))
    assert np.array_equal(xs, ref[5:9])
    np.testing.assert_array_equal(ms["alpha"], meta["alpha"][5:9])
    xi, mi = io.read_trajectories(out, rows=[30, 2, 2])
    assert np.array_equal(xi, ref[[30, 2, 2]])
    np.testing.assert_array_equal(mi["alpha"], meta["alpha"][[30, 2, 2]])
    assert np.array_equal(io.read_trajectories(out, rows=4)[0], ref[4])


def test_layout_is_fixed_at_creation(tmp_path, capsys):
    """Contiguous, early-allocated datasets: the file has its full size from the start."""
    out = tmp_path / "t.h5"
    assert run(capsys, *gen_args(out, n=20, T=100))[0] == 0
    with h5py.File(out, "r") as f:
        for name in ("x", "alpha", "progress"):
            d = f[name]
            assert d.chunks is None and d.compression is None
            assert d.id.get_offset() is not None
        assert int(f["progress"][0]) == 20
        assert f["x"].dtype == np.dtype("<f4")


def test_alpha_range(tmp_path, capsys):
    out = tmp_path / "r.h5"
    rc, err = run(capsys, *gen_args(out, "fbm", 40, 30, None), "--alpha-range", 0.2, 1.8,
                  "--seed", 9, "--chunk", 7)
    assert rc == 0, err
    x, meta = io.read_trajectories(out)
    alpha = meta["alpha"]
    # the documented draw: word 0 of stream 64 of trajectory i under the seed
    assert ALPHA_RANGE_STREAM == 64
    u = uniforms(9, 0, 64, 1, 40)[:, 0]
    np.testing.assert_array_equal(alpha, 0.2 + (1.8 - 0.2) * u)
    assert np.all((alpha > 0.2) & (alpha < 1.8)) and np.unique(alpha).size == 40
    # the generator used exactly these alphas
    assert x.tobytes() == ag.generate("fbm", 40, 30, alpha, 2, seed=9).tobytes()
    np.testing.assert_array_equal(meta["alpha_range"], [0.2, 1.8])
    assert meta["alpha_stream"] == 64 and "alpha_scalar" not in meta
    assert json.loads(meta["args"])["alpha_range"] == [0.2, 1.8]
    # alpha of trajectory i depends only on (seed, i): --start 13 gives rows 13..
    out2 = tmp_path / "r2.h5"
    rc, err = run(capsys, *gen_args(out2, "fbm", 20, 30, None), "--alpha-range", 0.2, 1.8,
                  "--seed", 9, "--start", 13)
    assert rc == 0, err
    x2, meta2 = io.read_trajectories(out2)
    np.testing.assert_array_equal(meta2["alpha"], range_alphas(9, 13, 20, 0.2, 1.8))
    np.testing.assert_array_equal(meta2["alpha"][:27 - 13], alpha[13:27])
    assert x2[:27 - 13].tobytes() == x[13:27].tobytes()
    # open ends of a model's range are allowed (U is in (0, 1))
    assert run(capsys, *gen_args(tmp_path / "lw.h5", "lw", 5, 20, None),
               "--alpha-range", 1, 2)[0] == 0


def test_chunk_size_does_not_change_contents(tmp_path, capsys):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert run(capsys, *gen_args(a, "fbm", 23, 40, 0.5), "--chunk", 1)[0] == 0
    assert run(capsys, *gen_args(b, "fbm", 23, 40, 0.5))[0] == 0
    assert raw_x(a).tobytes() == raw_x(b).tobytes()


# ---------------------------------------------------------------------------------
# Existing files


def test_complete_file_same_args_is_left_alone(tmp_path, capsys):
    out = tmp_path / "t.h5"
    argv = gen_args(out, n=12, T=20)
    assert run(capsys, *argv)[0] == 0
    before = out.read_bytes()
    mtime = os.stat(out).st_mtime_ns
    capsys.readouterr()
    assert main([str(a) for a in argv if a != "--quiet"]) == 0  # not quiet: says so
    assert "already complete" in capsys.readouterr().err
    assert out.read_bytes() == before and os.stat(out).st_mtime_ns == mtime


def test_complete_file_different_args(tmp_path, capsys):
    out = tmp_path / "t.h5"
    assert run(capsys, *gen_args(out, n=12, T=20, alpha=0.7))[0] == 0
    before = out.read_bytes()
    rc, err = run(capsys, *gen_args(out, n=12, T=20, alpha=0.8))
    assert rc == 2
    assert str(out) in err and "different arguments" in err and "--alpha" in err
    assert "--overwrite" in err and "Traceback" not in err
    assert out.read_bytes() == before
    rc, err = run(capsys, *gen_args(out, n=12, T=20, alpha=0.8), "--overwrite")
    assert rc == 0, err
    x, meta = io.read_trajectories(out)
    assert meta["alpha_scalar"] == 0.8
    assert np.array_equal(x, ag.generate("fbm", 12, 20, 0.8))


def test_partial_with_different_args(tmp_path, capsys):
    out = tmp_path / "t.h5"
    partial = str(out) + ".partial"
    p = io.generation_params("fbm", 12, 20, 2, 0, 0, np.float32, alpha=0.5)
    io.create(partial, p)
    rc, err = run(capsys, *gen_args(out, n=12, T=20, alpha=0.7))
    assert rc == 2
    assert partial in err and "different arguments" in err and "--overwrite" in err
    assert not out.exists()
    # the matching arguments finish it
    rc, err = run(capsys, *gen_args(out, n=12, T=20, alpha=0.5))
    assert rc == 0, err
    assert not os.path.exists(partial)
    assert np.array_equal(raw_x(out), ag.generate("fbm", 12, 20, 0.5))
    # --overwrite discards a mismatching partial
    io.create(partial, p)
    rc, err = run(capsys, *gen_args(out, n=12, T=20, alpha=0.7), "--overwrite")
    assert rc == 0, err
    assert np.array_equal(raw_x(out), ag.generate("fbm", 12, 20, 0.7))


@pytest.mark.parametrize("where", ["out", "partial"])
@pytest.mark.parametrize("content", ["text", "empty", "hdf5-foreign", "hdf5-wrong-format"])
def test_foreign_file(tmp_path, capsys, where, content):
    out = tmp_path / "t.h5"
    path = str(out) + (".partial" if where == "partial" else "")
    if content == "text":
        with open(path, "w") as f:
            f.write("not hdf5 at all\n" * 100)
        want = "not an HDF5 file"
    elif content == "empty":
        open(path, "w").close()
        want = "not an HDF5 file"
    else:
        with h5py.File(path, "w") as f:
            f["data"] = np.arange(10)
            if content == "hdf5-wrong-format":
                f.attrs["format"] = "something-else"
        want = "not an anomgrad trajectory file"
    before = open(path, "rb").read()
    rc, err = run(capsys, *gen_args(out, n=5, T=20))
    assert rc == 2
    assert path in err and want in err and "Traceback" not in err
    assert "delete it" in err and "--overwrite" in err
    assert open(path, "rb").read() == before
    rc, err = run(capsys, *gen_args(out, n=5, T=20), "--overwrite")
    assert rc == 0, err
    assert np.array_equal(raw_x(out), ag.generate("fbm", 5, 20, 0.7))


@pytest.mark.parametrize("where", ["out", "partial"])
def test_truncated_file(tmp_path, capsys, where):
    out = tmp_path / "t.h5"
    argv = gen_args(out, n=50, T=100)
    assert run(capsys, *argv)[0] == 0
    path = str(out)
    if where == "partial":
        path += ".partial"
        os.replace(out, path)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    rc, err = run(capsys, *argv)
    assert rc == 2
    assert path in err and "truncated" in err and "Traceback" not in err
    with pytest.raises(io.FileFormatError, match="truncated"):
        io.read_trajectories(path)


def test_read_incomplete_file(tmp_path):
    path = tmp_path / "t.h5.partial"
    io.create(path, io.generation_params("bm", 10, 20, 1, 0, 0, np.float32))
    with io.Writer(path) as w:
        a = np.ones(4)
        w.write(ag.generate("bm", 4, 20, a, 1), a)
    info = io.inspect(path)
    assert info["rows_written"] == 4 and not info["complete"]
    x, meta = io.read_trajectories(path, rows=slice(0, 4))
    assert np.array_equal(x, ag.generate("bm", 4, 20, None, 1)) and not meta["complete"]
    with pytest.raises(ValueError, match="only 4 of 10 rows"):
        io.read_trajectories(path)


# ---------------------------------------------------------------------------------
# Argument errors


@pytest.mark.parametrize("extra, named", [
    (["--model", "lx"], "--model"),
    (["--n", "0"], "--n"),
    (["--n", "2.5"], "--n"),
    (["--T", "1"], "--T"),
    (["--dim", "4"], "--dim"),
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**64)], "--seed"),
    (["--alpha", "2.5"], "--alpha"),
    (["--alpha", "nan"], "--alpha"),
    (["--alpha", "x"], "--alpha"),
    (["--alpha-range", "0.5", "2.5"], "--alpha-range"),
    (["--alpha-range", "1.5", "0.5"], "--alpha-range"),
    (["--alpha-range", "0.5"], "--alpha-range"),
    (["--dtype", "float16"], "--dtype"),
    (["--chunk", "0"], "--chunk"),
    (["--start", "-3"], "--start"),
])
def test_bad_arguments(tmp_path, capsys, extra, named):
    base = {"--model": "fbm", "--n": "10", "--T": "20", "--alpha": "0.5",
            "--out": str(tmp_path / "t.h5")}
    opts = dict(base)
    if extra[0] == "--alpha-range":
        del opts["--alpha"]
    argv = ["generate", "--quiet"] + [t for k, v in opts.items() if k != extra[0]
                                      for t in (k, v)] + extra
    rc, err = run(capsys, *argv)
    assert rc == 2
    assert named in err and "Traceback" not in err
    assert not os.listdir(tmp_path)


def test_alpha_required_and_missing_options(tmp_path, capsys):
    rc, err = run(capsys, *gen_args(tmp_path / "t.h5", "lw", 5, 20, None))
    assert rc == 2 and "--alpha" in err and "[1, 2]" in err
    rc, err = run(capsys, "generate", "--model", "lw", "--n", "5", "--T", "20")
    assert rc == 2 and "--out" in err
    rc, err = run(capsys, *gen_args(tmp_path / "t.h5"), "--alpha-range", "0.2", "0.4")
    assert rc == 2 and "not allowed with" in err
    rc, err = run(capsys, *gen_args(tmp_path / "nodir" / "t.h5"))
    assert rc == 2 and "does not exist" in err
    assert run(capsys, "--help")[0] == 0
    assert run(capsys)[0] == 2
    assert run(capsys, "frobnicate")[0] == 2


def test_integer_spellings(tmp_path, capsys):
    out = tmp_path / "t.h5"
    assert run(capsys, *gen_args(out, "bm", "2e1", "1_0", None))[0] == 0
    assert raw_x(out).shape == (20, 2, 10)


# ---------------------------------------------------------------------------------
# Crash safety and memory (subprocesses)

CLI = [sys.executable, "-m", "anomgrad.cli", "generate"]


def _progress(partial):
    try:
        with h5py.File(partial, "r", locking=False) as f:
            return int(f["progress"][0])
    except (OSError, KeyError):
        return -1


def test_kill_and_resume(tmp_path, capsys):
    n, T = 40000, 500
    common = ["--model", "fbm", "--n", str(n), "--T", str(T), "--alpha", "0.6",
              "--seed", "3", "--quiet"]
    out = tmp_path / "k.h5"
    partial = str(out) + ".partial"
    proc = subprocess.Popen(CLI + common + ["--out", str(out), "--chunk", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = -1
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            done = _progress(partial) if os.path.exists(partial) else -1
            if done >= 1000:
                break
            time.sleep(0.002)
        assert proc.poll() is None, (
            f"the run ended before it could be killed: {proc.communicate()[1].decode()}")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists() and os.path.exists(partial)
    done = _progress(partial)
    assert 1000 <= done < n
    assert io.inspect(partial)["rows_written"] == done

    # rerun the same command (a different --chunk is fine): it resumes and finishes
    capsys.readouterr()
    rc = main(["generate"] + common[:-1] + ["--out", str(out), "--chunk", "3001"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"resuming {partial}: {done} of {n}" in err
    assert out.exists() and not os.path.exists(partial)

    ref = tmp_path / "ref.h5"
    assert run(capsys, "generate", *common, "--out", ref)[0] == 0
    with h5py.File(out, "r") as a, h5py.File(ref, "r") as b:
        assert a["x"][...].tobytes() == b["x"][...].tobytes()
        assert np.array_equal(a["alpha"][...], b["alpha"][...])
        assert a.attrs["args"] == b.attrs["args"]
    assert raw_x(out)[n - 5:].tobytes() == ag.generate("fbm", 5, T, 0.6, seed=3,
                                                       start=n - 5).tobytes()


def test_peak_rss_is_bounded(tmp_path):
    """200,000 x 2 x 1000 float32 is 1.6 GB; the generator must stay far below that."""
    out = tmp_path / "big.h5"
    n, T = 200_000, 1000
    code = ("import resource, subprocess, sys\n"
            "r = subprocess.run(sys.argv[1:])\n"
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    res = subprocess.run([sys.executable, "-c", code] + CLI +
                         ["--model", "bm", "--n", str(n), "--T", str(T), "--out", str(out),
                          "--quiet"], capture_output=True, text=True, timeout=300)
    rc, maxrss_kb = map(int, res.stdout.split())
    assert rc == 0, res.stderr
    size = os.path.getsize(out)
    assert size >= n * 2 * T * 4
    assert maxrss_kb * 1024 < 1e9, f"peak RSS {maxrss_kb / 1024:.0f} MiB"
    with h5py.File(out, "r") as f:
        assert int(f["progress"][0]) == n
        assert np.array_equal(f["x"][n - 3:], ag.generate("bm", 3, T, None, 2, start=n - 3))
    os.remove(out)


def test_not_enough_disk_space(tmp_path, capsys, monkeypatch):
    import collections

    import anomgrad.io.h5 as h5

    out = tmp_path / "t.h5"
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(h5.shutil, "disk_usage", lambda p: usage(10**6, 10**6, 1000))
    rc, err = run(capsys, *gen_args(out, n=200, T=1000))
    assert rc == 2 and "not enough disk space" in err and "Traceback" not in err
    monkeypatch.undo()
    rc, err = run(capsys, *gen_args(out, n=200, T=1000))
    assert rc == 0, err
    assert np.array_equal(raw_x(out), ag.generate("fbm", 200, 1000, 0.7))


def test_partial_being_written_is_not_touched(tmp_path, capsys):
    """A partial file locked by a running writer: error, even with --overwrite."""
    out = tmp_path / "t.h5"
    partial = str(out) + ".partial"
    io.create(partial, io.generation_params("fbm", 5, 20, 2, 0, 0, np.float32, alpha=0.7))
    holder = subprocess.Popen([sys.executable, "-c",
                               "import h5py, sys, time\n"
                               "f = h5py.File(sys.argv[1], 'r+')\n"
                               "print('open', flush=True)\n"
                               "time.sleep(60)\n", partial],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        for extra in ([], ["--overwrite"]):
            rc, err = run(capsys, *gen_args(out, n=5, T=20), *extra)
            assert rc == 2 and partial in err and "another process" in err
            assert os.path.exists(partial) and not out.exists()
    finally:
        holder.kill()
        holder.wait()
    assert run(capsys, *gen_args(out, n=5, T=20))[0] == 0
