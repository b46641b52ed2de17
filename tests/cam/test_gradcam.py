"""Grad-CAM over time: against captum, against the plain-torch composition, the
closed form against autograd, the fused kernel on edge cases and the band masks
against numpy."""

import numpy as np
import pytest
import torch

from devices import DEVICES

import anomgrad as ag
from anomgrad import cam as G
from anomgrad.resandi.nn import ResAnDi

captum = pytest.importorskip("captum.attr")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = ResAnDi(width=16).eval()
    with torch.no_grad():  # non-trivial BN statistics
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    return m


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.rand(5, 2, 1000, generator=g), torch.tensor([0, 2, 4, 5, 7])


def minmax(a):
    lo, hi = a.amin(1, keepdim=True), a.amax(1, keepdim=True)
    return torch.where(hi > lo, (a - lo) / (hi - lo), torch.zeros_like(a))


LAYERS = ["stem", "maxpool", "layer1", "layer1.0", "layer2", "layer2.1", "layer3", "layer3.0",
          "layer4", "layer4.0", "layer4.1"]


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("upsample", ["nearest", "linear"])
@pytest.mark.parametrize("relu", [False, True])
def test_matches_captum(model, batch, layer, upsample, relu):
    x, y = batch
    ours = ag.gradcam(model, x, layer, y, relu=relu, upsample=upsample, normalize=True)
    attr = captum.LayerGradCam(model, model.block(layer)).attribute(x, target=y, relu_attributions=relu)
    ref = captum.LayerAttribution.interpolate(attr, (1000,), interpolate_mode=upsample)[:, 0]
    torch.testing.assert_close(ours, minmax(ref.detach()), rtol=0, atol=1e-5)


@pytest.mark.parametrize("layer", ["layer2", "layer4"])
def test_closed_form_equals_autograd(model, batch, layer):
    x, y = batch
    if layer == "layer4":
        a = G.gradcam_full(model, x, layer, y, cells=True, closed_form=True).cells
        b = G.gradcam_full(model, x, layer, y, cells=True, closed_form=False).cells
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    else:
        with pytest.raises(ValueError, match="closed form"):
            G.gradcam_full(model, x, layer, y, closed_form=True)


def test_closed_form_runs_without_autograd(model, batch, monkeypatch):
    x, y = batch

    def boom(*a, **k):
        raise AssertionError("layer4 must not need a backward pass")

    monkeypatch.setattr(torch.autograd, "grad", boom)
    assert ag.gradcam(model, x, "layer4", y).shape == (5, 1000)


def test_autograd_path_leaves_parameter_grads_alone(model, batch):
    x, y = batch
    ag.gradcam(model, x, "layer2", y)
    assert all(p.grad is None for p in model.parameters())


def test_targets_and_per_cell(model, batch):
    x, y = batch
    logits = model.eval()(x)
    pred = logits.argmax(1)
    torch.testing.assert_close(ag.gradcam(model, x, "layer4"), ag.gradcam(model, x, "layer4", pred))
    torch.testing.assert_close(ag.gradcam(model, x, "layer4", "predicted"), ag.gradcam(model, x, "layer4", pred))
    torch.testing.assert_close(ag.gradcam(model, x, "layer4", 3), ag.gradcam(model, x, "layer4", torch.full((5,), 3)))
    cells = ag.gradcam(model, x, "layer4", y, per_cell=True)
    assert cells.shape == (5, 32)
    cam = ag.gradcam(model, x, "layer4", y)  # signed, nearest: the cells repeated 31-32 times
    idx = torch.div(torch.arange(1000) * 32, 1000, rounding_mode="floor")
    torch.testing.assert_close(cam, cells[:, idx])
    n_per_cell = torch.bincount(idx)
    assert set(n_per_cell.tolist()) == {31, 32}


def test_numpy_in_numpy_out_and_batching(model, batch):
    x, y = batch
    a = ag.gradcam(model, x.numpy(), "layer3", y.numpy(), batch_size=2)
    assert isinstance(a, np.ndarray)
    np.testing.assert_allclose(a, ag.gradcam(model, x, "layer3", y).numpy(), rtol=1e-5, atol=1e-6)


def test_bf16_autocast_close_to_float32(model, batch):
    x, y = batch
    a = ag.gradcam(model, x, "layer4", y, normalize=True, amp=True)
    b = ag.gradcam(model, x, "layer4", y, normalize=True)
    assert float((a - b).abs().mean()) < 0.05


# ---- the fused kernel --------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("L,T", [(32, 1000), (7, 100), (1, 50), (13, 13), (10, 20), (63, 1000), (40, 30)])
@pytest.mark.parametrize("upsample", ["nearest", "linear"])
@pytest.mark.parametrize("relu,normalize", [(False, False), (True, True), (False, True)])
def test_kernel_equals_torch_composition(device, L, T, upsample, relu, normalize):
    g = torch.Generator().manual_seed(L * 1000 + T)
    A = torch.randn(6, 24, L, generator=g).to(device)
    w = torch.randn(6, 24, generator=g).to(device)
    cam, cells, _ = G.fused(A, w, T, relu=relu, upsample=upsample, normalize=normalize, cells=True)
    assert cam.device == A.device and cells.device == A.device
    ref_cam, ref_cells = G.torch_composition(A, w, T, relu=relu, upsample=upsample, normalize=normalize)
    torch.testing.assert_close(cells, ref_cells, rtol=1e-5, atol=1e-5)
    if L == 1 and normalize:
        # a one-cell map is constant: 0 after min-max (torch's linear weights leave
        # rounding noise that min-max blows up, so it is no reference here)
        assert torch.all(cam == 0)
    else:
        torch.testing.assert_close(cam, ref_cam, rtol=1e-5, atol=1e-5)


def np_bands(cam_raw, L, T, nbands=10):
    """Reference: cells whose every (nearest-mapped) step lies strictly inside a band."""
    out = np.zeros((cam_raw.shape[0], nbands, L), bool)
    idx = np.array([_core_nearest(t, L, T) for t in range(T)])
    for i, v in enumerate(cam_raw.astype(np.float64)):
        edges = np.percentile(v, np.arange(0, 101, 100 // nbands))
        for j in range(L):
            vals = v[idx == j]
            if vals.size:
                out[i, :, j] = (vals.min() > edges[:-1]) & (vals.max() < edges[1:])
    return out


def _core_nearest(t, L, T):
    if T == L:
        return t
    if T == 2 * L:
        return t >> 1
    return min(int(np.floor(np.float32(t) * (np.float32(L) / np.float32(T)))), L - 1)


@pytest.mark.parametrize("device", DEVICES)
def test_kernel_gives_the_same_bits_on_every_device(device):
    """The CPU and CUDA kernels compile the same header: identical outputs."""
    g = torch.Generator().manual_seed(0)
    for L, T in [(32, 1000), (500, 1000), (7, 100), (1, 10)]:
        A, w = torch.randn(300, 64, L, generator=g), torch.randn(300, 64, generator=g)
        for up in ("nearest", "linear"):
            ref = G.fused(A, w, T, upsample=up, normalize=True, cells=True, nbands=10)
            got = G.fused(A.to(device), w.to(device), T, upsample=up, normalize=True, cells=True,
                          nbands=10)
            for a, b in zip(ref, got):
                assert torch.equal(a, b.cpu())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layer", ["layer4", "layer2"])
def test_gradcam_on_every_device_equals_the_cpu(model, batch, device, layer):
    """In fp32 (``amp="none"``; on a GPU also without TF32 convolutions, which cuDNN uses by
    default and which moved cells by up to 1.6 % of a map's largest value on an H200) the
    maps agree to 1e-4; the default ("auto": bf16 on a GPU) stays within bf16's documented
    tolerance (docs/resandi.md §3, "Precision")."""
    x, y = batch
    a = ag.gradcam(model, x, layer, y, normalize=True, amp="none")
    m = ResAnDi(width=16).eval()
    m.load_state_dict(model.state_dict())
    m, xd, yd = m.to(device), x.to(device), y.to(device)
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        b = ag.gradcam(m, xd, layer, yd, normalize=True, amp="none")
    assert b.device.type == device
    torch.testing.assert_close(a, b.cpu(), rtol=0, atol=1e-4)
    err = (ag.gradcam(m, xd, layer, yd, normalize=True).cpu() - a).abs()
    assert float(err.median()) <= 0.01 and float(err.quantile(0.95)) <= 0.05


@pytest.mark.parametrize("L,T,upsample", [(32, 1000, "nearest"), (32, 1000, "linear"), (5, 17, "linear"), (1, 10, "nearest")])
def test_band_masks_match_numpy(L, T, upsample):
    g = torch.Generator().manual_seed(3)
    A, w = torch.randn(20, 16, L, generator=g), torch.randn(20, 16, generator=g)
    cam, _, bands = G.fused(A, w, T, upsample=upsample, nbands=10)
    np.testing.assert_array_equal(bands.numpy(), np_bands(cam.numpy(), L, T))
    if L == 32 and upsample == "nearest":  # every cell falls in at most one band, most in one
        per_cell = bands.sum(1)
        assert per_cell.max() <= 1 and per_cell.float().mean() > 0.5


def test_nearest_cells_cover_31_or_32_steps():
    idx = [_core_nearest(t, 32, 1000) for t in range(1000)]
    assert sorted(set(np.bincount(idx))) == [31, 32] and idx == sorted(idx)


# ---- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(layer="layer5"), ValueError, "valid layers: stem"),
    (dict(layer="avgpool"), ValueError, "unknown layer"),
    (dict(target=np.zeros(3, int)), ValueError, "n=5 labels"),
    (dict(target=9), ValueError, r"\[0, 7\]"),
    (dict(target=np.zeros(5)), TypeError, "integer"),
    (dict(upsample="cubic"), ValueError, "upsample"),
])
def test_bad_input(model, batch, kwargs, exc, match):
    x, y = batch
    args = dict(layer="layer4", target=y)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        ag.gradcam(model, x, **args)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"weights must be \(n, K\)"):
        G.fused(torch.zeros(2, 3, 4), torch.zeros(2, 4), 10)
    with pytest.raises(ValueError, match="activations"):
        G.fused(torch.zeros(3, 4), torch.zeros(3, 4), 10)


# ---- anomgrad gradcam (command line) -------------------------------------------------------


def test_gradcam_command(tmp_path):
    import h5py

    from anomgrad.resandi import datasets as D
    from anomgrad.cli import main
    from anomgrad.resandi.nn import load_checkpoint, save_checkpoint

    data = tmp_path / "test.h5"
    assert main(["dataset", "--family", "varying", "--split", "test", "--n-per-class", "6",
                 "--out", str(data), "-q"]) == 0
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "m.pt", ResAnDi(width=8), family="varying")
    out = tmp_path / "cams.h5"
    assert main(["gradcam", str(tmp_path / "m.pt"), str(data), "--out", str(out), "--bands", "10",
                 "--figure", "-q"]) == 0
    assert (tmp_path / "cams.png").stat().st_size > 10_000
    model, _ = load_checkpoint(tmp_path / "m.pt")
    d = D.load(data, fields=("x", "label"))
    with h5py.File(out) as f:
        assert f["cam"].shape == (48, 1000) and f["bands"].shape == (48, 10, 32)
        ref = ag.gradcam(model, torch.from_numpy(d["x"]), "layer4", torch.from_numpy(d["label"]))
        np.testing.assert_allclose(f["cam"][...], ref.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(f["target"][...], d["label"])
    assert main(["gradcam", str(tmp_path / "m.pt"), str(data), "--out", str(tmp_path / "x.h5"),
                 "--target", "sideways", "-q"]) == 2
    assert not (tmp_path / "x.h5.partial").exists()
