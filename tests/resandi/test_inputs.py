"""The network's input (issue 20): the paper's min-max positions, or those and the scaled
steps (``input="increments"``), in numpy and torch, through training, checkpoints,
evaluation, Grad-CAM and classify."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anomgrad.cam import run_file
from anomgrad.resandi import datasets as D
from anomgrad.resandi import preprocess as P
from anomgrad.resandi.evaluate import evaluate
from anomgrad.resandi.nn import ResAnDi, load_checkpoint, save_checkpoint
from anomgrad.resandi.recipes import TrainError, resolve
from anomgrad.tracks.classify import classify

from reference import ref_increments


def _z_mix():
    parts = [D.generate_class("varying", "train", 0, c, 0, 8, 5) for c in range(8)]
    x = np.concatenate([p["x"] for p in parts])
    T = np.concatenate([p["T"] for p in parts])
    T[:6] = [1, 2, 3, 1000, 999, 10]  # extremes: one position, one step, a full track
    x[6] = 0.0  # a track that never moves
    z = D.normalize_padded(x, T)
    z[7, :, -T[7]:] += np.float32(0.5) * np.random.default_rng(1).normal(
        size=(2, T[7])).astype(np.float32)  # noise, the start moved off 0 too
    return x, z, T


def test_increments_match_the_reference_and_have_unit_rms():
    _, z, T = _z_mix()
    got = P.increments(z, T)
    np.testing.assert_allclose(got, ref_increments(z, T), rtol=2e-7, atol=1e-7)
    for i, t in enumerate(T):
        assert not got[i, :, :-t + 1 if t > 1 else None].any()  # padding and first position
        if t > 1 and i != 6:
            np.testing.assert_allclose((got[i].astype(np.float64) ** 2).sum(1) / (t - 1), 1,
                                       rtol=1e-5)
    assert not got[6].any()  # never moves: 0, not NaN
    # scale-free, as the positions channels (a power of two: z scales exactly)
    assert P.increments(np.float32(4.0) * z, T).tobytes() == got.tobytes()


def test_network_input_twins_agree():
    x, z, T = _z_mix()
    a = P.network_input(z, T, "increments")
    assert a.shape == (len(T), 4, 1000) and a.dtype == np.float32
    assert a[:, :2].tobytes() == P.minmax(z).tobytes()
    assert P.network_input(z, T).tobytes() == P.minmax(z).tobytes()
    b = P.network_input_torch(torch.from_numpy(z), torch.from_numpy(T), "increments").numpy()
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)  # float64 sums in another order
    c = P.preprocess_torch(torch.from_numpy(x), torch.from_numpy(T), input="increments")
    np.testing.assert_allclose(c.numpy(), P.preprocess(x, T, input="increments"), atol=1e-6)
    assert P.preprocess(x, T, input="increments")[:, :2].tobytes() == P.preprocess(x, T).tobytes()


def test_the_input_is_named_or_refused():
    z = np.zeros((1, 2, 1000), np.float32)
    for call in (lambda: P.network_input(z, None, "steps"),
                 lambda: P.preprocess_torch(torch.from_numpy(z), input="steps"),
                 lambda: ResAnDi(width=4, input="steps")):
        with pytest.raises(ValueError, match="input must be one of 'positions', 'increments', "
                                             "got 'steps'"):
            call()
    with pytest.raises(TrainError, match="input='increments' applies to fresh data only"):
        resolve("paper", "varying", data=["train.h5"], input="increments")


def test_checkpoints_record_what_the_network_reads(tmp_path):
    net = ResAnDi(width=4, input="increments")
    assert net.in_channels == 4 and net.config["input"] == "increments"
    assert ResAnDi(width=4).in_channels == 2
    save_checkpoint(tmp_path / "m.pt", net, "varying", epoch=1)
    back, _ = load_checkpoint(tmp_path / "m.pt")
    assert back.input == "increments" and back.in_channels == 4


@pytest.fixture(scope="module")
def inc_model():
    torch.manual_seed(0)
    return ResAnDi(width=4, input="increments").eval()


def test_evaluate_and_gradcam_feed_the_network_its_input(tmp_path, inc_model):
    d = D.resandi("varying", "test", 6, seed=3)
    res = evaluate(inc_model, d, device="cpu", progress=False, amp="none")
    with torch.no_grad():
        want = inc_model(torch.from_numpy(P.network_input(d["z"], d["T"], "increments")))
    assert res["accuracy"] == float((want.argmax(1).numpy() == d["label"]).mean())
    with pytest.raises(ValueError, match="reads input='increments', made from 'z' and 'T'"):
        evaluate(inc_model, (d["x"], d["label"]), device="cpu", progress=False)
    # a dataset file: its z and T
    path = tmp_path / "t.h5"
    D.write(path, "varying", "test", 6, seed=3, progress=False)
    save_checkpoint(tmp_path / "m.pt", inc_model, "varying", epoch=1)
    f = evaluate(tmp_path / "m.pt", path, device="cpu", progress=False, amp="none")
    assert f["accuracy"] == res["accuracy"]
    cam = run_file(tmp_path / "m.pt", path, tmp_path / "cam.h5", device="cpu",
                   progress=False, amp="none")
    assert cam["n"] == len(d["label"])


def test_classify_preprocesses_for_the_model(inc_model):
    g = np.random.default_rng(2)
    tracks = [np.cumsum(g.normal(size=(T, 2)), 0) * 2.5 + 40 for T in (12, 200, 1000)]
    res = classify(tracks, model=inc_model, device="cpu", amp="none")
    raw = np.zeros((3, 2, 1000))
    T = np.array([len(p) for p in tracks])
    for k, p in enumerate(tracks):
        raw[k, :, :len(p)] = (p - p[0]).T
    with torch.no_grad():
        want = torch.softmax(inc_model(torch.from_numpy(P.preprocess(raw, T, input="increments"))), 1)
    np.testing.assert_allclose(res.probabilities, want.numpy(), rtol=1e-5, atol=1e-6)


def test_a_wrong_input_names_what_the_network_reads(inc_model):
    with pytest.raises(ValueError, match="reads input='increments': make it with"):
        inc_model(torch.zeros(2, 2, 1000))
