"""Classify your own tracks: a tracking CSV made here from trajectories of known classes is
classified above chance, exactly like the same tracks in memory; every bad track is
listed with a message naming it while the others are classified; long tracks go by
windows; Grad-CAM comes per step; the shipped model loads only when its checksum holds."""

import csv
import json
import os
import shutil

import numpy as np
import pytest
import torch

import anomgrad as ag
from anomgrad.cli import main
from anomgrad.io.tracks import Tracks
from anomgrad.resandi import datasets as D
from anomgrad.resandi import pretrained as P
from anomgrad.resandi.nn import CheckpointError
from anomgrad.tracks import checks
from anomgrad.tracks.checks import check_track, check_tracks, windows
from anomgrad.tracks.classify import classify


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A width-8 ResAnDi trained for seconds on fresh varying-T data (well above chance)."""
    out = tmp_path_factory.mktemp("m") / "run"
    ag.train(out, "varying", "fast", width=8, epochs=3, epoch_samples=8192, batch_size=128,
             lr=3e-3, device="cpu", progress=False)
    return str(out / "best.pt")


@pytest.fixture(scope="module")
def known():
    """16 tracks per class, T between 200 and 1000, as raw positions (T, 2)."""
    g = np.random.default_rng(5)
    tracks, labels = [], []
    for c in range(8):
        d = D.generate_class("varying", "test", 0, c, 0, 16, seed=11)
        for x, T in zip(d["x"], d["T"]):
            T = max(int(T), 200)
            tracks.append(x[:, :T].T.astype(np.float64) * 3.7 + g.uniform(0, 500, 2))  # pixels
            labels.append(c)
    return tracks, np.array(labels)


def write_trackpy_csv(path, tracks, first_frame=100, ids=None):
    """trackpy's to_csv: an index column, then y, x, ..., frame, particle; rows by frame."""
    rows = []
    for k, p in enumerate(tracks):
        tid = k if ids is None else ids[k]
        for t, (x, y) in enumerate(p):
            rows.append((first_frame + t, tid, x, y))
    rows.sort(key=lambda r: (r[0], str(r[1])))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["", "y", "x", "mass", "frame", "particle"])
        for i, (fr, tid, x, y) in enumerate(rows):
            w.writerow([i, repr(float(y)), repr(float(x)), 100.0, fr, tid])


def test_tracking_csv_is_classified_above_chance_like_in_memory(tmp_path, small_model, known):
    tracks, labels = known
    write_trackpy_csv(tmp_path / "tracks.csv", tracks)
    res = classify(tmp_path / "tracks.csv", model=small_model, device="cpu")
    # tracks come in the order of their first row (here: ids as strings, frame by frame)
    assert sorted(res.ids, key=int) == [str(k) for k in range(len(tracks))]
    assert res.status == ["ok"] * len(tracks)
    order = np.array([int(i) for i in res.ids])
    acc = float((res.label == labels[order]).mean())
    assert acc > 0.35, f"accuracy {acc:.2f} (chance 0.125)"
    mem = classify([tracks[k] for k in order], model=small_model, device="cpu")
    np.testing.assert_array_equal(mem.probabilities, res.probabilities)  # the same path
    np.testing.assert_allclose(res.probabilities.sum(1), 1, atol=1e-6)
    assert [r["predicted"] for r in res.rows()] == res.class_name
    assert res.alpha_range(int(np.flatnonzero(res.label == 5)[0])) == (1.1, 1.9)  # super-LW
    assert res.alpha_range(int(np.flatnonzero(res.label == 7)[0])) == (1.0, 1.0)  # BM


def test_trackmate_csv(tmp_path, small_model, known):
    tracks = known[0][:3]
    with open(tmp_path / "spots.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["LABEL", "ID", "TRACK_ID", "QUALITY", "POSITION_X", "POSITION_Y",
                    "POSITION_Z", "POSITION_T", "FRAME"])
        w.writerow(["Label", "Spot ID", "Track ID", "Quality", "X", "Y", "Z", "T", "Frame"])
        w.writerow(["Label", "Spot ID", "Track ID", "Quality", "X", "Y", "Z", "T", "Frame"])
        w.writerow(["", "", "", "(quality)", "(micron)", "(micron)", "(micron)", "(sec)", ""])
        for k, p in enumerate(tracks):
            for t, (x, y) in enumerate(p):
                w.writerow([f"ID{k}{t}", t, k, 1, repr(float(x)), repr(float(y)), 0, t * 0.1, t])
        w.writerow(["IDx", 9, "None", 1, 1.0, 2.0, 0, 0, 3])  # a spot in no track
    res = classify(tmp_path / "spots.csv", model=small_model, device="cpu")
    assert res.status == ["ok"] * 3
    assert "3 header rows skipped" in res.notes and "1 untracked rows skipped" in res.notes
    mem = classify(tracks, model=small_model, device="cpu", pixel_size=1, frame_interval=0.1)
    np.testing.assert_array_equal(res.probabilities, mem.probabilities)
    # the units row: positions in micron, T = FRAME x 0.1 s: K in um^2/s^alpha
    assert res.units == {"length": "um", "time": "s"} and res.K_unit == "um^2/s^alpha"
    assert "units from the file's header: pixel size 1 um, frame interval 0.1 s" in res.notes
    np.testing.assert_allclose(res.K, mem.K, rtol=1e-9)
    mine = classify(tmp_path / "spots.csv", model=small_model, device="cpu", pixel_size=0.5)
    assert "units from the file's header: frame interval 0.1 s" in mine.notes  # options win
    np.testing.assert_allclose(mine.K, 0.25 * res.K, rtol=1e-9)


def test_bad_tracks_are_listed_and_the_others_classified(tmp_path, small_model, known):
    good = known[0][0][:120]
    bad = {"short": good[:5], "hasnan": good.copy(), "one_axis": good.copy(),
           "still": np.ones((50, 2))}
    bad["hasnan"][7, 1] = np.nan
    bad["one_axis"][:, 1] = 3.0
    tracks = [good] + list(bad.values())
    ids = ["good", "short", "hasnan", "one_axis", "still"]
    write_trackpy_csv(tmp_path / "t.csv", tracks, ids=ids)
    with open(tmp_path / "t.csv", "a", newline="") as f:  # a duplicate frame, a gap
        w = csv.writer(f)
        for t in range(30):
            w.writerow([0, *good[t][::-1], 100.0, 100 + t, "dup"])
        w.writerow([0, *good[3][::-1], 100.0, 105, "dup"])
        for t in list(range(20)) + list(range(25, 40)):
            w.writerow([0, *good[t][::-1], 100.0, 100 + t, "gap"])
    res = classify(tmp_path / "t.csv", model=small_model, device="cpu")
    status = dict(zip(res.ids, res.status))
    assert status == {"good": "ok", "short": "too_short", "hasnan": "non_finite",
                      "one_axis": "one_axis", "still": "still", "dup": "duplicate_frames",
                      "gap": "missing_frames"}
    msg = dict(zip(res.ids, res.message))
    assert msg["short"].startswith("track short: 5 positions")
    assert "frame(s) 107" in msg["hasnan"] and "frames 120-124 are missing" in msg["gap"]
    assert "y is constant" in msg["one_axis"] and "105" in msg["dup"]
    assert res.label.tolist()[0] >= 0 and (res.label[1:] == -1).all()
    assert np.isnan(res.probabilities[1:]).all() and res.n_classified == 1
    rc = main(["classify", str(tmp_path / "t.csv"), "--model", small_model, "--out",
               str(tmp_path / "o"), "--device", "cpu", "-q"])
    rows = list(csv.DictReader(open(tmp_path / "o" / "classification.csv")))
    assert rc == 0 and [r["track_id"] for r in rows] == res.ids  # every input track listed
    assert [r["status"] for r in rows] == res.status


@pytest.mark.parametrize("with_frames", [True, False])
def test_all_tracks_checked_at_once_answer_as_one_at_a_time(known, with_frames, monkeypatch):
    """check_tracks screens a chunk at once: each failure next to good tracks (first,
    last, between) gets check_track's status and message, and good ones stay "ok"."""
    good = [p[:k] for p, k in zip(known[0][:4], (10, 11, 200, 1500))]
    nan, inf, axis, still = (good[2].copy() for _ in range(4))
    nan[0, 0], inf[-1, 1], axis[:, 0], still[:] = np.nan, np.inf, 2.0, 1.0
    bad = [nan, inf, axis, still, good[2][:9], good[2][:1], good[2][:, :1],
           np.c_[good[2], good[2][:, 0]]]
    tracks = [bad[0], good[0], *bad[1:4], good[1], good[2], *bad[4:], good[3]]
    frames = [np.arange(len(p)) + 7 for p in tracks]
    if with_frames:  # a repeated frame at a track's start and a gap at another's end
        tracks += [good[2], good[2]]
        frames += [np.r_[0, np.arange(199)], np.r_[np.arange(199), 300]]
    t = Tracks([f"t{i}" for i in range(len(tracks))], tracks,
               frames if with_frames else None)
    want = [check_track(t.ids[i], t.positions[i], t.frames_of(i)) for i in range(len(t))]
    assert check_tracks(t) == want
    assert [s for s, _ in want].count("ok") == 4 and len({s for s, _ in want}) == (
        8 if with_frames else 6)
    two_d = [i for i, p in enumerate(tracks) if p.shape[1] == 2]  # all screened at once
    assert check_tracks(t.take(two_d)) == [want[i] for i in two_d]
    seen = []  # and only the tracks that fail go one at a time
    monkeypatch.setattr(checks, "check_track", lambda tid, *a: seen.append(tid) or
                        check_track(tid, *a))
    check_tracks(t)
    assert seen == [t.ids[i] for i, (s, _) in enumerate(want) if s != "ok"]


def test_long_tracks_go_by_windows_and_gradcam_is_per_step(small_model, known):
    parts, end = [], np.zeros(2)
    for p in known[0]:  # pieces joined end to end until 2500 positions
        parts.append(p - p[0] + end)
        end = parts[-1][-1]
        if sum(len(q) for q in parts) >= 2500:
            break
    long = np.concatenate(parts)[:2500]
    assert windows(2500) == [(0, 1000), (750, 1750), (1500, 2500)]
    assert windows(1000) == [(0, 1000)] and windows(37) == [(0, 37)]
    res = classify([long, known[0][3]], model=small_model, device="cpu", gradcam=True)
    w = res.windows[0]
    assert [(x["start"], x["end"]) for x in w] == windows(2500)
    np.testing.assert_array_equal(res.probabilities[0], w[0]["probabilities"])  # first window
    assert res.gradcam[0].shape == (2500,) and res.gradcam[1].shape == (len(known[0][3]),)
    # one window: the map over the track's own steps of the padded input (predicted class)
    model, _ = ag.nn.load_checkpoint(small_model)
    p = known[0][3]
    x = D.preprocess((p - p[0]).T[None].astype(np.float32), np.array([len(p)]))
    cam = ag.gradcam(model, torch.from_numpy(x), "layer4", None)[0].numpy()
    np.testing.assert_allclose(res.gradcam[1], cam[-len(p):], rtol=1e-5, atol=1e-6)
    assert int(res.label[1]) == int(model(torch.from_numpy(x)).argmax(1))


def test_command_writes_every_output(tmp_path, small_model, known):
    write_trackpy_csv(tmp_path / "tracks.csv", known[0][::16])
    rc = main(["classify", str(tmp_path / "tracks.csv"), "--model", small_model, "--gradcam",
               "--figure", "--device", "cpu", "-q"])
    out = tmp_path / "tracks-classified"
    assert rc == 0
    for f in ("classification.csv", "classification.json", "gradcam.h5", "tracks.png"):
        assert (out / f).stat().st_size > 0, f
    js = json.loads((out / "classification.json").read_text())
    assert js["n"] == 8 and js["classified"] == 8 and "predicted class" in js["gradcam_target"]
    assert main(["classify", str(tmp_path / "missing.csv")]) == 2


def test_dataframe_input(small_model, known):
    pd = pytest.importorskip("pandas")
    p = known[0][0]
    df = pd.DataFrame({"particle": 7, "frame": np.arange(len(p)), "x": p[:, 0], "y": p[:, 1]})
    res = classify(df, model=small_model, device="cpu")
    np.testing.assert_array_equal(res.probabilities,
                                  classify([p], model=small_model, device="cpu").probabilities)
    assert res.ids == ["7"]


def test_shipped_model_is_checked_and_beats_chance(tmp_path, monkeypatch, known):
    model, meta = ag.pretrained(meta=True)
    assert meta["family"] == "varying" and model.config["width"] == 16
    tracks, labels = known
    res = classify(tracks, device="cpu")  # the shipped model by default
    assert float((res.label == labels).mean()) > 0.6
    for name, (file, _) in P.SHIPPED.items():
        bad = tmp_path / file
        shutil.copy(os.path.join(P._DIR, file), bad)
        data = bytearray(bad.read_bytes())
        data[len(data) // 2] ^= 0xFF
        bad.write_bytes(bytes(data))
    shutil.copy(os.path.join(P._DIR, P.ALPHA_HEADS[0]), tmp_path / P.ALPHA_HEADS[0])
    with open(tmp_path / P.ALPHA_HEADS[0], "ab") as f:
        f.write(b"x")
    monkeypatch.setattr(P, "_DIR", str(tmp_path))
    for name in P.SHIPPED:
        with pytest.raises(CheckpointError, match="damaged"):
            ag.pretrained(name=name)
        with pytest.raises(CheckpointError, match="alpha heads are damaged"):
            P.alpha_head(name)
    monkeypatch.setattr(P, "_DIR", str(tmp_path / "none"))
    with pytest.raises(CheckpointError, match="missing"):
        ag.pretrained()
    with pytest.raises(ValueError, match="shipped models"):
        ag.pretrained(name="noisy")


@pytest.mark.gpu
def test_the_gpu_classifies_as_the_cpu(known):
    """The shipped model on the GPU (bf16 autocast there) against the CPU in fp32: the
    same classes for all but a few near-ties, close probabilities, alphas and Grad-CAM."""
    tracks, _ = known
    cpu = classify(tracks, device="cpu", gradcam=True)
    gpu = classify(tracks, device="cuda", gradcam=True)
    assert gpu.status == cpu.status
    assert float((gpu.label == cpu.label).mean()) >= 0.97
    assert float(np.abs(gpu.probabilities - cpu.probabilities).mean()) < 0.01
    assert float(np.abs(gpu.alpha - cpu.alpha).mean()) < 0.02
    np.testing.assert_array_equal(gpu.alpha_msd, cpu.alpha_msd)  # the TA-MSD fit is the CPU's
    same = gpu.label == cpu.label
    corr = [np.corrcoef(g, c)[0, 1] for g, c, k in zip(gpu.gradcam, cpu.gradcam, same)
            if k and np.ptp(c) > 0]
    assert np.median(corr) > 0.95


def test_the_robust_model_reads_noisy_tracks_the_clean_one_cannot(known):
    """Localization noise of the AnDi 2020 model (sigma = 1 step std per axis): the shipped
    robust model keeps most tracks right (docs/results.md §3: 79 % over 20,000 andi-made
    tracks of 10-1000 steps), the clean one falls below a coin toss between two classes (23 %)."""
    tracks, labels = known
    g = np.random.default_rng(9)
    noisy = []
    for p in tracks:
        step_sd = np.diff(p, axis=0).std(axis=0)
        noisy.append(p + g.normal(size=p.shape) * step_sd)
    robust = float((classify(noisy, model="robust", device="cpu").label == labels).mean())
    clean = float((classify(noisy, model="clean", device="cpu").label == labels).mean())
    assert robust > 0.6 and robust > clean + 0.2, (robust, clean)
    # on clean tracks the robust model stays well above chance too
    assert float((classify(tracks, model="robust", device="cpu").label == labels).mean()) > 0.6


def test_uncertain_tracks_are_flagged_by_their_top_probability(known):
    tracks, labels = known
    res = classify(tracks, device="cpu")
    top = res.probabilities[np.arange(len(labels)), res.label]
    np.testing.assert_array_equal(res.uncertain, top < 0.5)
    assert res.n_uncertain == int((top < 0.5).sum())
    rows = res.rows()
    assert [r["uncertain"] for r in rows] == [bool(u) for u in res.uncertain]
    assert "alpha_min" not in rows[0] and rows[0]["class_alpha_min"] in (0.1, 1.1, 1.0)


def test_windows_csv_names_each_window_by_its_frames(tmp_path, small_model, known):
    long = np.cumsum(np.random.default_rng(4).normal(size=(2500, 2)), 0)
    write_trackpy_csv(tmp_path / "t.csv", [long, known[0][0]], first_frame=100)
    out = tmp_path / "o"
    assert main(["classify", str(tmp_path / "t.csv"), "--model", str(small_model), "--out",
                 str(out), "-q", "--device", "cpu"]) == 0
    with open(out / "windows.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["track_id"], r["window"], r["first_frame"], r["last_frame"]) for r in rows] == [
        ("0", "0", "100", "1099"), ("0", "1", "850", "1849"), ("0", "2", "1600", "2599"),
        ("1", "0", "100", str(99 + len(known[0][0])))]
    with open(out / "classification.csv") as f:
        first = next(csv.DictReader(f))
    assert first["predicted"] == rows[0]["predicted"]  # a long track: its first window's
    # a reused --out without long tracks loses windows.csv
    write_trackpy_csv(tmp_path / "s.csv", [known[0][0]])
    assert main(["classify", str(tmp_path / "s.csv"), "--model", str(small_model), "--out",
                 str(out), "-q", "--device", "cpu"]) == 0
    assert not (out / "windows.csv").exists()


def test_gaps_are_refused_by_name_or_split_into_pieces(small_model):
    p = np.cumsum(np.random.default_rng(6).normal(size=(200, 2)), 0)
    frames = np.r_[0:50, 51:121, 125:205]  # one missing frame (50), then 121-124
    t = Tracks(["a", "b"], [p, p[:60]], [frames, np.arange(60)])
    res = classify(t, model=small_model, device="cpu")
    assert res.status == ["missing_frames", "ok"]
    assert "frames 50, 121-124 are missing" in res.message[0] and "50-50" not in res.message[0]
    one = classify(Tracks(["c"], [p[:30]], [np.r_[0:10, 11:31]]), model=small_model, device="cpu")
    assert "frame 10 is missing" in one.message[0]
    res = classify(t, model=small_model, device="cpu", gaps="split")
    assert res.ids == ["a[0-49]", "a[51-120]", "a[125-204]", "b"]
    assert res.status == ["ok"] * 4 and list(res.lengths) == [50, 70, 80, 60]
    assert any("1 tracks with missing frames split into 3 pieces" in n for n in res.notes)
    with pytest.raises(ValueError, match="gaps must be one of"):
        classify(t, model=small_model, device="cpu", gaps="fill")


def test_the_figure_shows_the_most_and_least_confident_or_the_chosen_tracks(tmp_path, small_model,
                                                                         known):
    from anomgrad.tracks import outputs

    res = classify(known[0][:20], model=small_model, device="cpu", gradcam=True)
    pick = outputs.figure_tracks(res, n=3)
    top = res.top_probability
    assert len(pick) == 6 and top[pick[0]] == top.max() and top[pick[-1]] == top.min()
    assert outputs.figure_tracks(res, ids=["4", "2"]) == [4, 2]
    with pytest.raises(ValueError, match="no track 'zz'"):
        outputs.figure_tracks(res, ids=["zz"])
    path = outputs.figure(str(tmp_path / "f.png"), res, n=2)
    assert os.path.getsize(path) > 10_000
    write_trackpy_csv(tmp_path / "t.csv", known[0][:6])
    assert main(["classify", str(tmp_path / "t.csv"), "--model", str(small_model), "--figure",
                 "--figure-tracks", "1,3", "--out", str(tmp_path / "o"), "-q",
                 "--device", "cpu"]) == 0
    assert (tmp_path / "o" / "tracks.png").exists()
    assert main(["classify", str(tmp_path / "t.csv"), "--figure-n", "2", "-q",
                 "--out", str(tmp_path / "o2")]) == 2  # --figure-n without --figure


def _close(a, b) -> bool:
    """JSON values equal, numbers to float32 rounding."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == pytest.approx(b, rel=1e-5, abs=2e-6)
    return a == b


@pytest.mark.parametrize("figure_ids", [None, ["12", "3", "40"]])
def test_a_file_larger_than_the_chunk_gives_the_files_of_one_chunk(tmp_path, monkeypatch,
                                                                    small_model, known,
                                                                    figure_ids):
    """The command's way (chunks of tracks, rows parsed a few at a time and spilled to
    disk, files written as it goes) writes the files of one in-memory classify: the same
    rows and windows (numbers to float32 rounding: the network's batches differ), the
    same Grad-CAM file, the figure of the same tracks."""
    import h5py

    from anomgrad.io import tracking
    from anomgrad.tracks import outputs
    from anomgrad.tracks.classify import classify_chunks

    tracks = [p[:150] for p in known[0][::3]]  # 43 tracks, a long one, a gap: 45
    long = np.cumsum(np.random.default_rng(4).normal(size=(1300, 2)), 0)  # two windows
    tracks = tracks[:20] + [long] + tracks[20:]
    write_trackpy_csv(tmp_path / "t.csv", tracks)
    with open(tmp_path / "t.csv", "a", newline="") as f:  # a track with a gap
        for t in list(range(20)) + list(range(23, 40)):
            csv.writer(f).writerow([0, *tracks[0][t][::-1], 100.0, 300 + t, "gap"])
    opts = dict(gradcam=True, figure=True, figure_ids=figure_ids, figure_n=2)
    one = classify(tmp_path / "t.csv", model=small_model, device="cpu", gradcam=True)
    a = outputs.write(str(tmp_path / "a"), one, "t.csv", **opts)
    monkeypatch.setattr(tracking, "CHUNK_ROWS", 500)
    run = classify_chunks(tmp_path / "t.csv", chunk_tracks=6, memory_rows=1000,
                          model=small_model, device="cpu", gradcam=True)
    with outputs.Writer(str(tmp_path / "b"), "t.csv", **opts) as w:
        n = 0
        for res in run:
            w.add(res)
            n += 1
        b = w.close(run.notes)
    assert n == 8 and run.n == 45
    assert [os.path.basename(p) for p in a] == [os.path.basename(p) for p in b]
    assert {os.path.basename(p) for p in a} == {"classification.csv", "classification.json",
                                                "windows.csv", "gradcam.h5", "tracks.png"}
    for name in ("classification.csv", "windows.csv"):
        ra, rb = (list(csv.DictReader(open(tmp_path / d / name))) for d in "ab")
        assert len(ra) == len(rb) and [r.keys() for r in ra] == [r.keys() for r in rb], name
        for x, y in zip(ra, rb):
            for k in x:
                if (k.startswith(("p_", "alpha")) or k == "K") and x[k]:
                    assert float(x[k]) == pytest.approx(float(y[k]), abs=2e-6), (name, k)
                else:
                    assert x[k] == y[k], (name, k)
    ja, jb = (json.loads((tmp_path / d / "classification.json").read_text()) for d in "ab")
    assert _close(ja, jb)
    with h5py.File(tmp_path / "a" / "gradcam.h5") as fa, h5py.File(tmp_path / "b" / "gradcam.h5") as fb:
        for k in ("offsets", "id", "label"):
            np.testing.assert_array_equal(fa[k][...], fb[k][...])
        np.testing.assert_allclose(fa["cam"][...], fb["cam"][...], rtol=1e-4, atol=1e-5)
        assert len(fa["id"]) == 44  # every classified track (not "gap")
    assert w._shown.ids == [one.ids[i] for i in outputs.figure_tracks(one, figure_ids, 2)] \
        if figure_ids is None else sorted(w._shown.ids) == sorted(figure_ids)
    js = json.loads((tmp_path / "b" / "classification.json").read_text())
    assert js["n"] == 45 and len(js["tracks"]) == 45 and js["status_counts"]["missing_frames"] == 1
