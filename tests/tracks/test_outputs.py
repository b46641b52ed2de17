"""The command's files, written chunk by chunk (:class:`anomgrad.tracks.outputs.Writer`):
a write that fails mid-run (a full disk) names the file and leaves the earlier run's
files as they were, with no temporary file behind; an optional file this run does not
write is removed from a reused folder."""

import errno
import os

import numpy as np
import pytest

from anomgrad import io
from anomgrad.io.tracks import Tracks
from anomgrad.tracks import outputs
from anomgrad.tracks.result import ClassifyResult


def _result(ids, T=30):
    n = len(ids)
    p = np.full((n, 8), 0.02)
    p[:, 3] = 0.86
    pos = [np.cumsum(np.ones((T, 2)), 0) for _ in ids]
    return ClassifyResult(list(ids), np.full(n, T), ["ok"] * n, [""] * n, p,
                          np.full(n, 3), [[{"start": 0, "end": T, "probabilities": q.tolist(),
                                            "label": 3}] for q in p],
                          None, np.full(n, -1), [], {}, Tracks(list(ids), pos))


def test_a_full_disk_mid_run_names_the_file_and_keeps_the_earlier_files(tmp_path, monkeypatch):
    out = str(tmp_path / "o")
    outputs.write(out, _result(["a", "b"]), "first.csv")
    before = {f: open(os.path.join(out, f), "rb").read() for f in os.listdir(out)}
    w = outputs.Writer(out, "second.csv")
    w.add(_result(["c"]))
    f = w._files["classification.json"]

    def full(text):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(f, "write", full)
    with pytest.raises(io.WriteError, match="classification.json: cannot write it "
                                            r"\(no space left on the disk\)"):
        with w:
            w.add(_result(["d"]))
    assert {f: open(os.path.join(out, f), "rb").read() for f in os.listdir(out)} == before


def test_a_reused_folder_keeps_no_optional_file_of_another_run(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    for name in outputs.OPTIONAL:
        (out / name).write_text("stale")
    written = outputs.write(str(out), _result(["a", "b"]), "t.csv")
    assert sorted(os.listdir(out)) == ["classification.csv", "classification.json"]
    assert [os.path.basename(p) for p in written] == sorted(os.listdir(out))
