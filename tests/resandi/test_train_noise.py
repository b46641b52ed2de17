"""Training under localization noise (issue 20, item 1): the per-track noise mix, the
noise itself on the CPU and in torch, and the run's batches, validation set and options."""

import numpy as np
import pytest
import torch

from anomgrad.processing import normalize
from anomgrad.resandi import datasets as D
from anomgrad.resandi.preprocess import NOISE_CLEAN_SHARE, noisy_z, training_sigmas
from anomgrad.resandi.recipes import TrainConfig, TrainError
from anomgrad.resandi.train.data import NOISE_VAL, FreshBatches, make_val, noise_for


def test_training_sigmas_mix_clean_tracks_and_a_uniform_range():
    s = training_sigmas(40_000, 1.5, key=7)
    clean = s == 0
    assert abs(clean.mean() - NOISE_CLEAN_SHARE) < 0.01
    noisy = s[~clean]
    assert noisy.min() >= 0 and noisy.max() <= 1.5
    assert abs(noisy.mean() - 0.75) < 0.01 and abs(noisy.std() - 1.5 / np.sqrt(12)) < 0.01
    np.testing.assert_array_equal(s, training_sigmas(40_000, 1.5, key=7))
    assert not np.array_equal(s, training_sigmas(40_000, 1.5, key=8))


def test_noisy_z_adds_sigma_normals_to_the_valid_steps_only(rng):
    n, T = 400, rng.integers(10, 1001, 400)
    x = np.cumsum(rng.normal(size=(n, 2, 1000)), -1).astype(np.float32)
    z = D.normalize_padded(x, T)
    sigma = rng.uniform(0.1, 2.0, n)
    got = noisy_z(z, T, sigma, 11)
    d = got.astype(np.float64) - z
    for i in range(0, n, 37):
        pad = 1000 - T[i]
        assert np.all(d[i, :, :pad] == 0)  # the left padding stays 0
        assert np.all(d[i, :, pad:] != 0)
    # pooled over tracks: the added values are N(0, sigma_i^2)
    u = np.concatenate([d[i, :, 1000 - T[i]:].ravel() / sigma[i] for i in range(n)])
    assert abs(u.mean()) < 0.01 and abs(u.std() - 1) < 0.01
    # torch on the CPU: the same numbers
    tz = noisy_z(torch.from_numpy(z), torch.from_numpy(T), sigma, 11)
    np.testing.assert_array_equal(tz.numpy(), got)


def test_noisy_preprocessing_is_the_clean_one_at_sigma_0():
    x, T, _ = FreshBatches("varying", 0, range(8), 4)[(0, 0)]
    clean = D.preprocess_torch(x, T)
    torch.testing.assert_close(D.preprocess_torch(x, T, noise=(np.zeros(len(T)), 3)), clean,
                               rtol=0, atol=0)
    noisy = D.preprocess_torch(x, T, noise=(np.full(len(T), 0.5), 3))
    assert (noisy - clean).abs().amax() > 0.01
    assert noisy.min() >= 0 and noisy.max() <= 1


def test_the_noise_of_a_run_is_fixed_by_its_seed_and_the_batch():
    a = noise_for(0, 1.0, 64, 0, 3, 5, 0)
    b = noise_for(0, 1.0, 64, 0, 3, 5, 0)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    c = noise_for(0, 1.0, 64, 0, 3, 6, 0)  # the next batch
    assert c[1] != a[1] and not np.array_equal(c[0], a[0])
    assert noise_for(1, 1.0, 64, 0, 3, 5, 0)[1] != a[1]  # another seed


def test_a_noisy_run_validates_on_the_same_noise_mix():
    class One:
        rank, world = 0, 1

    cfg = TrainConfig(family="varying", val_per_class=40, noise=1.0)
    xv, yv, n = make_val(cfg, One())
    xc, yc, _ = make_val(cfg.replace(noise=0.0), One())
    torch.testing.assert_close(yv, yc)
    assert n == 320
    changed = (xv - xc).abs().amax(dim=(1, 2)) > 0
    frac = float(changed.float().mean())
    assert 1 - NOISE_CLEAN_SHARE - 0.12 < frac < 1 - NOISE_CLEAN_SHARE + 0.12
    # the noise of validation is its own: reproducible, and the clean rows are the clean set
    xv2, _, _ = make_val(cfg, One())
    torch.testing.assert_close(xv, xv2, rtol=0, atol=0)
    sig, _ = noise_for(cfg.seed, 1.0, n, NOISE_VAL)
    assert torch.equal(changed, torch.from_numpy(sig > 0))


@pytest.mark.parametrize("input", ["positions", "increments"])
def test_a_noisy_run_validates_a_val_file_under_its_noise_mix(tmp_path, input):
    """With a val file, both inputs are validated under the run's noise (the positions
    once skipped it); without noise the file's rows are the network's input unchanged."""
    from anomgrad.resandi import datasets as D
    from anomgrad.resandi.preprocess import network_input

    class One:
        rank, world = 0, 1

    val = str(tmp_path / "val.h5")
    D.write(val, "varying", "val", 30, 0, progress=False)
    cfg = TrainConfig(family="varying", val=val, noise=1.0, input=input)
    xv, yv, n = make_val(cfg, One())
    xc, yc, _ = make_val(cfg.replace(noise=0.0), One())
    torch.testing.assert_close(yv, yc)
    changed = (xv - xc).abs().amax(dim=(1, 2)) > 0
    sig, _ = noise_for(cfg.seed, 1.0, n, NOISE_VAL)
    assert n == 240 and torch.equal(changed, torch.from_numpy(sig > 0))
    d = D.load(val, fields=("z", "T"), family="varying", split="val")
    want = network_input(np.ascontiguousarray(d["z"], np.float32), d["T"], input)
    torch.testing.assert_close(xc, torch.from_numpy(np.ascontiguousarray(want)))


@pytest.mark.parametrize("noise", [-0.1, float("nan"), float("inf")])
def test_bad_noise_is_refused(noise):
    with pytest.raises(TrainError, match="noise"):
        TrainConfig(family="varying", noise=noise)


def test_noise_with_dataset_files_is_refused(tmp_path):
    f = tmp_path / "train.h5"
    f.write_bytes(b"")
    with pytest.raises(TrainError, match="noise applies to fresh data"):
        TrainConfig(family="varying", recipe="paper", data=[str(f)], noise=0.5)


def test_normalize_gives_unit_step_std_the_scale_sigma_refers_to(rng):
    x = np.cumsum(rng.normal(scale=3.7, size=(50, 2, 500)), -1)
    d = np.diff(normalize(x), axis=-1)
    np.testing.assert_allclose(d.std(-1), 1.0, rtol=1e-9)


def test_noise_robustness_bench_scores_the_clean_level_like_evaluate(tmp_path):
    """bench/noise_robustness.py on an .npz of raw tracks (the andi_test_set.py layout):
    at sigma = 0 it gives what ag.evaluate gives on the same tracks preprocessed; noise
    changes the inputs, and every file comes out."""
    import json
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
    import noise_robustness as NR

    from anomgrad.resandi.evaluate import evaluate
    from anomgrad.resandi.nn import ResAnDi, save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "m.pt", ResAnDi(width=4).eval(), family="varying")
    parts = [D.generate_class("varying", "test", 0, c, 0, 6, seed=1) for c in range(8)]
    x = np.concatenate([p["x"] for p in parts])
    T = np.concatenate([p["T"] for p in parts])
    label = np.concatenate([p["label"] for p in parts])
    np.savez(tmp_path / "t.npz", x=x, T=T, label=label)
    assert NR.main([f"m={tmp_path / 'm.pt'}", "--test", str(tmp_path / "t.npz"),
                    "--per-class", "6", "--sigmas", "0", "1", "--out", str(tmp_path / "o")]) == 0
    res = json.loads((tmp_path / "o" / "noise.json").read_text())
    ref = evaluate(str(tmp_path / "m.pt"), {"x": D.preprocess(x, T), "label": label},
                   amp="none", progress=False)
    assert res["models"]["m"]["0.0"]["accuracy"] == pytest.approx(ref["accuracy"])
    assert sorted(res["models"]["m"]["0.0"]["per_band"]) == ["10-50", "200-1000", "50-200"]
    assert {"noise.csv", "noise.png"} <= set(os.listdir(tmp_path / "o"))
