"""A tracking table read in chunks of tracks, with its rows parsed a few at a time and
spilled to disk, gives exactly the tracks of one whole read: same ids in the same order,
same positions, frames, labels and truth, whatever the row order (trackpy: frame by
frame; TrackMate: track by track); TrackMate's units row gives the calibration."""

import csv
import os

import numpy as np
import pytest

from anomgrad.io import tracking
from anomgrad.io.tracking import read_tracking_csv, scan_tracking_csv


def _table(path, by_track: bool, seed: int = 0):
    """41 tracks of 3-60 frames (some with gaps, a duplicate frame, untracked spots and
    a TrackMate-like header row), a truth and the andi label columns."""
    g = np.random.default_rng(seed)
    rows = []
    for k in range(41):
        T = int(g.integers(3, 60))
        frames = np.sort(g.choice(80, T, replace=False)) if k % 7 == 0 else np.arange(T) + k % 5
        if k == 12:
            frames[2] = frames[1]  # a duplicate frame: kept, in file order
        xy = np.cumsum(g.normal(size=(T, 2)), 0)
        for f, (x, y) in zip(frames, xy):
            rows.append([f" t{k:02d}" if k % 4 == 0 else f"t{k:02d}", int(f), repr(float(x)), repr(float(y)),
                         ["sub-FBM", "BM", "2"][k % 3], k % 5, 0.1 * (k % 9)])
    for f in range(5):
        rows.append(["None", f, "1.0", "2.0", "", "", ""])  # spots in no track
    rows.sort(key=(lambda r: r[0].strip()) if by_track else (lambda r: r[1]))
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["particle", "frame", "x", "y", "kind", "andi_model", "alpha"])
        w.writerow(["Track ID", "Frame", "X", "Y", "", "", ""])
        for r in rows:
            w.writerow(r)


def _same(a, b):
    assert a.ids == b.ids
    assert a.truth == b.truth
    np.testing.assert_array_equal(a.model, b.model)
    np.testing.assert_array_equal(a.alpha, b.alpha)
    for p, q in zip(a.positions, b.positions):
        np.testing.assert_array_equal(p, q)
    for p, q in zip(a.frames, b.frames):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("by_track", [False, True])
@pytest.mark.parametrize("chunk,memory_rows", [(1, 10**9), (6, 10**9), (6, 100), (7, 0), (100, 50)])
def test_chunks_give_the_tracks_of_one_read(tmp_path, monkeypatch, by_track, chunk, memory_rows):
    path = tmp_path / "t.csv"
    _table(path, by_track)
    whole, skipped = read_tracking_csv(path, truth_col="kind")
    assert len(whole) == 41 and skipped == {"header_rows": 1, "untracked_rows": 5}
    assert whole.ids[0] == "t00"  # stripped; " t00" and "t00" are one track
    monkeypatch.setattr(tracking, "CHUNK_ROWS", 37)  # many parser chunks
    spill = tmp_path / "spill"
    spill.mkdir()
    with scan_tracking_csv(path, chunk_tracks=chunk, memory_rows=memory_rows,
                           spill_dir=spill, truth_col="kind") as chunks:
        assert chunks.n == 41 and chunks.skipped == skipped
        assert bool(os.listdir(spill)) == (memory_rows < 2000)  # spilled to disk or not
        parts = list(chunks)
    assert not os.listdir(spill)  # the spilled records are removed
    assert [len(p) for p in parts] == [min(chunk, 41 - lo) for lo in range(0, 41, chunk)]
    joined = parts[0]
    for p in parts[1:]:
        joined = type(p).concat([joined, p])
    _same(joined, whole)


def test_rows_in_any_order_give_the_same_tracks(tmp_path):
    _table(tmp_path / "a.csv", by_track=False)
    _table(tmp_path / "b.csv", by_track=True)
    a, _ = read_tracking_csv(tmp_path / "a.csv", truth_col="kind")
    b, _ = read_tracking_csv(tmp_path / "b.csv", truth_col="kind")
    order = {tid: k for k, tid in enumerate(b.ids)}
    _same(a, b.take([order[t] for t in a.ids]))


def test_a_failed_read_leaves_no_spilled_records(tmp_path):
    path = tmp_path / "t.csv"
    _table(path, by_track=False)
    with open(path, "a") as f:
        f.write("t01,7.5,1.0,2.0,BM,0,0.1\n")  # a frame that is not a whole number
    spill = tmp_path / "spill"
    spill.mkdir()
    with pytest.raises(ValueError, match="t01: frame 7.5 is not a whole number"):
        scan_tracking_csv(path, chunk_tracks=5, memory_rows=0, spill_dir=spill)
    assert not os.listdir(spill)


def _trackmate(path, units):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["LABEL", "ID", "TRACK_ID", "QUALITY", "POSITION_X", "POSITION_Y",
                    "POSITION_Z", "POSITION_T", "FRAME"])
        w.writerow(["Label", "Spot ID", "Track ID", "Quality", "X", "Y", "Z", "T", "Frame"])
        w.writerow(["Label", "Spot ID", "Track ID", "Quality", "X", "Y", "Z", "T", "Frame"])
        w.writerow(["", "", "", "(quality)", f"({units[0]})", f"({units[0]})",
                    f"({units[0]})", f"({units[1]})", ""])
        for t in range(30):
            w.writerow([f"ID{t}", t, 0, 1, 0.1 * t, 0.2 * t, 0, round(t * 0.05, 6), t])


@pytest.mark.parametrize("units,cal", [(("micron", "sec"), {"pixel_size": 1.0, "frame_interval": 0.05}),
                                       (("nm", "ms"), {"pixel_size": 1e-3, "frame_interval": 5e-5}),
                                       (("pixel", "frame"), {})])
def test_trackmate_units_row_gives_the_calibration(tmp_path, units, cal):
    _trackmate(tmp_path / "s.csv", units)
    t, skipped = read_tracking_csv(tmp_path / "s.csv")
    assert skipped["header_rows"] == 3 and len(t) == 1 and len(t.positions[0]) == 30
    assert t.calibration.keys() == cal.keys()
    for k, v in cal.items():
        assert t.calibration[k] == pytest.approx(v, rel=1e-9)
