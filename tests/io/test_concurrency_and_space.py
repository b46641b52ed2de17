"""Two jobs writing one output, and disks that fill up mid-run.

* A second ``anomgrad generate`` / ``anomgrad dataset`` for an output another job is
  writing is refused (exit 2, one line) and leaves that job's files alone; jobs started
  at the same instant end with one complete, correct file.
* A write that fails mid-run (no space left) stops the job with an error naming the
  ``.partial`` file; the rows before it are kept, nothing is renamed to the final name,
  and the same command finishes the file, byte for byte as an undisturbed run, once
  space is free.  Simulated by a failing write in every CI run, and for real on a small
  tmpfs where this machine lets the test mount one.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import anomgrad as ag
from anomgrad import io
from anomgrad.cli import main
from anomgrad.resandi import files as F

GEN = ["generate", "--model", "fbm", "--n", "400", "--T", "200", "--alpha", "0.7",
       "--chunk", "50", "--quiet"]
DATA = ["dataset", "--family", "fixed", "--split", "test", "--n-per-class", "40", "--quiet"]
RUN = "import sys\nfrom anomgrad.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def run(capsys, argv):
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err.strip()


def want_generate():
    return ag.generate("fbm", 400, 200, 0.7)


def want_dataset(n_per_class=40, _cache={}):
    if n_per_class not in _cache:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            F.write(os.path.join(d, "ref.h5"), "fixed", "test", n_per_class=n_per_class,
                    progress=False)
            _cache[n_per_class] = F.load(os.path.join(d, "ref.h5"), fields=("x", "label"))
    return _cache[n_per_class]


def check_output(kind, out, n_per_class=40):
    if kind == "generate":
        x, meta = io.read_trajectories(out)
        np.testing.assert_array_equal(x, want_generate())
    else:
        got, ref = F.load(out, fields=("x", "label")), want_dataset(n_per_class)
        np.testing.assert_array_equal(got["x"], ref["x"])
        np.testing.assert_array_equal(got["label"], ref["label"])


ARGV = {"generate": GEN, "dataset": DATA}


# ---- two writers -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["generate", "dataset"])
def test_second_writer_is_refused(tmp_path, capsys, kind):
    out = tmp_path / "o.h5"
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time\nfrom anomgrad import io\n"
                               "with io.exclusive(sys.argv[1]):\n"
                               "    print('held', flush=True)\n"
                               "    time.sleep(60)\n", str(out)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for extra in ([], ["--overwrite"]):
            rc, err = run(capsys, ARGV[kind] + ["--out", out] + extra)
            assert rc == 2 and "another process is writing it" in err, err
            assert str(out) in err and len(err.splitlines()) == 1
            assert not out.exists() and not os.path.exists(f"{out}.partial")
    finally:
        holder.kill()
        holder.wait()
    assert run(capsys, ARGV[kind] + ["--out", out])[0] == 0  # the lock died with its holder
    check_output(kind, out)
    assert not os.path.exists(f"{out}.lock")


@pytest.mark.parametrize("kind", ["generate", "dataset"])
def test_writers_started_together_leave_one_good_file(tmp_path, kind):
    out = tmp_path / "o.h5"
    for attempt in range(3):
        if out.exists():
            out.unlink()
        procs = [subprocess.Popen([sys.executable, "-c", RUN] + ARGV[kind] + ["--out", str(out)],
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        res = [(p.wait(), p.stderr.read()) for p in procs]
        for p in procs:
            p.stderr.close()
        assert any(rc == 0 for rc, _ in res), res
        for rc, err in res:  # the others found it finished, or were refused while it ran
            assert rc == 0 or (rc == 2 and "another process is writing it" in err), err
        check_output(kind, out)
        assert sorted(os.listdir(tmp_path)) == ["o.h5"]


# ---- a disk that fills up ----------------------------------------------------------


@pytest.mark.parametrize("kind, batches", [("generate", 3), ("dataset", 1)])
def test_disk_full_mid_run_keeps_the_rows_before(tmp_path, capsys, monkeypatch, kind, batches):
    out = tmp_path / "o.h5"
    partial = f"{out}.partial"
    real = h5py.Dataset.write_direct
    calls = {"n": 0}
    # a dataset is written 8192 rows at a time: 1025 per class makes two batches
    argv = GEN if kind == "generate" else DATA[:-2] + ["1025", "--quiet"]
    npc = 1025

    def failing(self, *a, **k):  # the batch after `batches` finds the disk full
        calls["n"] += 1
        if calls["n"] > batches * (len(self.file) - 1):
            raise OSError("Can't synchronously write data (file write failed: errno = 28, "
                          "error message = 'No space left on device')")
        return real(self, *a, **k)

    monkeypatch.setattr(h5py.Dataset, "write_direct", failing)
    rc, err = run(capsys, argv + ["--out", out])
    assert rc == 2 and partial in err and "no space left" in err, err
    assert "run the same command again" in err and len(err.splitlines()) == 1
    assert not out.exists() and os.path.exists(partial)
    with h5py.File(partial, "r") as f:
        kept = int(f["progress"][0])
    assert 0 < kept < (400 if kind == "generate" else 8 * npc)
    monkeypatch.undo()
    rc, err = run(capsys, argv + ["--out", out])
    assert rc == 0, err
    assert not os.path.exists(partial)
    check_output(kind, out, npc)


def test_a_failed_atomic_write_names_the_file_and_leaves_the_old_one(tmp_path):
    p = tmp_path / "metrics.json"
    io.atomic_write_json(p, {"old": 1})
    with pytest.raises(io.WriteError, match="no space left") as e:
        with io.replacing(p) as tmp:
            open(tmp, "w").write("half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert str(p) in str(e.value) and e.value.errno == errno.ENOSPC
    assert io.read_json(p) == {"old": 1} and os.listdir(tmp_path) == ["metrics.json"]


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 6 MB tmpfs, when this machine lets the test mount one (root in a container)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()[:80]})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_real_full_disk_then_resume(small_tmpfs):
    """Space runs out mid-run (another program took it after the free-space check):
    the job stops, and once the disk grows the same command completes the file."""
    out = small_tmpfs / "t.h5"
    argv = ["generate", "--model", "fbm", "--n", "4000", "--T", "1000", "--alpha", "0.7",
            "--chunk", "100", "--quiet", "--out", str(out)]
    skip_check = ("import sys\nimport anomgrad.io.trajectories as T\n"
                  "T.check_space = lambda *a: None\n" + RUN)
    r = subprocess.run([sys.executable, "-c", skip_check] + argv, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert f"{out}.partial" in r.stderr and "no space left" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
    with h5py.File(f"{out}.partial", "r") as f:
        kept = int(f["progress"][0])
    assert 0 < kept < 4000
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)
    t0 = time.time()
    r = subprocess.run([sys.executable, "-c", RUN] + argv, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    x, _ = io.read_trajectories(out)
    np.testing.assert_array_equal(x, ag.generate("fbm", 4000, 1000, 0.7))
    assert time.time() - t0 < 600
