"""ResAnDi (anomgrad.nn): exact architecture, named blocks, input checks, checkpoints."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import anomgrad as ag
from anomgrad.resandi.nn import (FEATURE_NAMES, CheckpointError, ResAnDi, convert_published_state_dict,
                         count_parameters, fold_batchnorm, load_checkpoint, save_checkpoint)


def expected_parameters(width=64, layers=(2, 2, 2, 2), classes=8, cin=2, k_stem=35, k=15):
    """Parameter count of ResAnDi from its definition (docs/method.md §3), by hand."""
    bn = lambda c: 2 * c  # noqa: E731  (weight and bias; running stats are buffers)
    total = cin * width * k_stem + bn(width)  # stem conv (no bias) + BN
    cin_ = width
    for i, nblocks in enumerate(layers):
        c = width * 2**i
        for b in range(nblocks):
            total += cin_ * c * k + bn(c) + c * c * k + bn(c)  # conv1, bn1, conv2, bn2
            if b == 0 and (i > 0 or cin_ != c):  # 1x1 strided projection + BN
                total += cin_ * c + bn(c)
            cin_ = c
    return total + cin_ * classes + classes  # Linear(512, 8)


def test_parameter_count_is_exact():
    assert expected_parameters() == 18_499_336  # "about 18.5 M"
    assert count_parameters(ResAnDi()) == 18_499_336
    assert count_parameters(ResAnDi(width=8)) == expected_parameters(width=8)
    assert count_parameters(ResAnDi(layers=(1, 1, 1, 1))) == expected_parameters(layers=(1,) * 4)


def test_layer_hyperparameters():
    m = ResAnDi()
    c = m.stem.conv
    assert (c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.bias) == \
        (2, 64, (35,), (2,), (17,), None)
    assert isinstance(m.stem.bn, nn.BatchNorm1d) and isinstance(m.stem.relu, nn.ReLU)
    p = m.maxpool
    assert (p.kernel_size, p.stride, p.padding) == (3, 2, 1)
    for k, width in zip(range(1, 5), (64, 128, 256, 512)):
        layer = getattr(m, f"layer{k}")
        assert len(layer) == 2
        for i, blk in enumerate(layer):
            assert blk.conv1.kernel_size == (15,) and blk.conv1.padding == (7,)
            assert blk.conv2.kernel_size == (15,) and blk.conv2.padding == (7,)
            assert blk.conv1.out_channels == blk.conv2.out_channels == width
            stride = 2 if (k > 1 and i == 0) else 1
            assert blk.conv1.stride == (stride,) and blk.conv2.stride == (1,)
            if k > 1 and i == 0:
                ds = blk.downsample
                assert ds[0].kernel_size == (1,) and ds[0].stride == (2,)
                assert isinstance(ds[1], nn.BatchNorm1d)
            else:
                assert blk.downsample is None
            assert not blk.relu.inplace
    assert isinstance(m.avgpool, nn.AdaptiveAvgPool1d) and m.avgpool.output_size == 1
    assert (m.fc.in_features, m.fc.out_features) == (512, 8)


def test_feature_shapes_at_T1000():
    m = ResAnDi().eval()
    shapes = m.feature_shapes()
    assert tuple(shapes) == FEATURE_NAMES == m.feature_names()
    want = {"stem": (64, 500), "maxpool": (64, 250), "layer1": (64, 250),
            "layer2": (128, 125), "layer3": (256, 63), "layer4": (512, 32), "avgpool": (512,)}
    for name, s in want.items():
        assert shapes[name] == s
    for k in range(1, 5):
        assert shapes[f"layer{k}.0"] == shapes[f"layer{k}.1"] == shapes[f"layer{k}"]
    x = torch.rand(3, 2, 1000)
    with torch.no_grad():
        assert m(x).shape == (3, 8)
        assert m.forward_features(x, "layer3").shape == (3, 256, 63)
        assert m.forward_features(x, "layer2.0").shape == (3, 128, 125)
        # forward_features up to the pool + fc is the forward pass
        torch.testing.assert_close(m.fc(m.forward_features(x, "avgpool")), m(x), rtol=0, atol=0)
        # and the features are those of the named modules
        assert torch.equal(m.forward_features(x, "layer1"), m.layer1(m.maxpool(m.stem(x))))


def test_named_blocks():
    m = ResAnDi(width=8)
    assert m.block("layer3.1") is m.layer3[1]
    assert m.block("stem") is m.stem and m.block("layer4") is m.layer4
    with pytest.raises(ValueError, match="valid names: stem, maxpool, layer1.0"):
        m.block("layer5")
    with pytest.raises(ValueError, match="unknown block 'conv1'"):
        m.forward_features(torch.rand(1, 2, 1000), "conv1")


def test_folded_batchnorm_gives_the_eval_outputs():
    """fold_batchnorm: the eval-mode network with every BN inside its convolution; the
    same logits (float64: to 1e-10), no BatchNorm left, the model it came from untouched."""
    torch.manual_seed(3)
    m = ResAnDi(width=8, input="increments").double().train()
    for bn in (b for b in m.modules() if isinstance(b, torch.nn.BatchNorm1d)):
        c = bn.num_features  # statistics and affine far from the identity
        bn.running_mean.copy_(torch.randn(c, dtype=torch.float64))
        bn.running_var.copy_(torch.rand(c, dtype=torch.float64) * 3 + 0.01)
        torch.nn.init.normal_(bn.weight, 1, 0.5), torch.nn.init.normal_(bn.bias, 0, 0.5)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x = torch.rand(5, 4, 1000, dtype=torch.float64)
    f = fold_batchnorm(m)
    assert m.training and all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    assert not any(isinstance(b, torch.nn.BatchNorm1d) for b in f.modules())
    assert not f.training and not any(p.requires_grad for p in f.parameters())
    with torch.no_grad():
        want, got = m.eval()(x), f(x)
    assert torch.allclose(got, want, rtol=1e-10, atol=1e-10) and want.std() > 0.1


def test_bad_input_is_rejected_clearly():
    m = ResAnDi(width=4)
    with pytest.raises(ValueError, match=r"\(N, 2, 1000\).*got shape \(2, 1000\).*unsqueeze"):
        m(torch.rand(2, 1000))
    with pytest.raises(ValueError, match=r"got shape \(4, 2, 999\).*left zero-padded"):
        m(torch.rand(4, 2, 999))
    with pytest.raises(ValueError, match=r"got shape \(4, 1000, 2\).*transpose"):
        m(torch.rand(4, 1000, 2))
    with pytest.raises(ValueError, match=r"got shape \(4, 3, 1000\)"):
        m(torch.rand(4, 3, 1000))
    with pytest.raises(ValueError, match=r"published Conv2d.*squeeze\(2\)"):
        m(torch.rand(4, 2, 1, 1000))
    with pytest.raises(TypeError, match="torch tensor"):
        m(torch.rand(4, 2, 1000).numpy())
    with pytest.raises(TypeError, match="floating-point"):
        m(torch.zeros(4, 2, 1000, dtype=torch.int64))
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        ResAnDi(width=0)


def test_gradcam_at_layer4_is_cam():
    """GAP -> Linear: d y_c / d A_k(t) = W[c, k] / 32 (docs/method.md §4), through hooks."""
    torch.manual_seed(0)
    m = ResAnDi(width=8).eval()
    acts = {}
    m.layer4.register_forward_hook(lambda mod, i, o: acts.__setitem__("A", o))
    x = torch.rand(5, 2, 1000)
    y = m(x)
    c = torch.tensor([0, 3, 7, 1, 5])
    (g,) = torch.autograd.grad(y[torch.arange(5), c].sum(), acts["A"])
    assert g.shape == (5, 64, 32)
    want = (m.fc.weight[c] / 32)[:, :, None].expand_as(g)
    torch.testing.assert_close(g, want, rtol=1e-6, atol=1e-7)


def test_captum_layer_gradcam_on_named_block():
    captum = pytest.importorskip("captum.attr")
    torch.manual_seed(1)
    m = ResAnDi(width=8).eval()
    lgc = captum.LayerGradCam(m, m.block("layer3"))
    a = lgc.attribute(torch.rand(2, 2, 1000), target=[1, 4])
    assert a.shape == (2, 1, 63)


def test_published_weights_convert():
    torch.manual_seed(2)
    m = ResAnDi(width=8).eval()
    pub = {}
    for k, v in m.state_dict().items():
        k2 = k.replace("stem.conv.", "conv1.").replace("stem.bn.", "bn1.")
        pub[k2] = v.unsqueeze(2) if v.dim() == 3 else v  # Conv2d (out, in, 1, k)
    assert pub["conv1.weight"].shape == (8, 2, 1, 35)
    conv = convert_published_state_dict(pub)
    m2 = ResAnDi(width=8).eval()
    m2.load_state_dict(conv)
    x = torch.rand(2, 2, 1000)
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))


def test_checkpoint_round_trip_and_errors(tmp_path):
    torch.manual_seed(3)
    m = ResAnDi(width=4).eval()
    p = tmp_path / "m.pt"
    save_checkpoint(p, m, "fixed", epoch=7)
    m2, meta = load_checkpoint(p)
    assert meta["family"] == "fixed" and meta["epoch"] == 7 and meta["arch"]["width"] == 4
    x = torch.rand(2, 2, 1000)
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))
    assert not m2.training
    # another architecture
    other = tmp_path / "other.pt"
    torch.save({"format": "anomgrad-resandi-checkpoint", "format_version": 1,
                "arch": {"arch": "ResNet50"}, "model": {}}, other)
    with pytest.raises(CheckpointError, match="architecture 'ResNet50', not ResAnDi"):
        load_checkpoint(other)
    # a bare state dict of some other network
    lin = tmp_path / "linear.pt"
    torch.save(nn.Sequential(nn.Linear(3, 4)).state_dict(), lin)
    with pytest.raises(CheckpointError, match=r"not a ResAnDi state dict.*missing \d+ keys.*"
                                              r"unexpected 2 keys \(e\.g\. 0\.weight"):
        load_checkpoint(lin)
    # weights of another width under a ResAnDi config
    bad = tmp_path / "bad.pt"
    torch.save({"format": "anomgrad-resandi-checkpoint", "format_version": 1,
                "arch": ResAnDi(width=8).config, "model": m.state_dict()}, bad)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_checkpoint(bad)
    newer = tmp_path / "newer.pt"
    torch.save({"format": "anomgrad-resandi-checkpoint", "format_version": 99}, newer)
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_checkpoint(newer)
    text = tmp_path / "t.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a torch checkpoint"):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_lazy_package_attributes():
    import subprocess
    import sys

    code = ("import sys, anomgrad as ag; assert 'torch' not in sys.modules; "
            "assert callable(ag.train) and callable(ag.evaluate); "
            "import anomgrad.resandi.train, anomgrad.resandi.evaluate; "
            "assert callable(ag.train) and callable(ag.evaluate); "
            # the plain functions, whatever submodules are imported
            "import anomgrad.tracks.checks, anomgrad.tracks.classify, inspect; "
            "assert ag.classify is anomgrad.tracks.classify.classify; "
            "assert ag.train is anomgrad.resandi.train.train; "
            "assert ag.evaluate is anomgrad.resandi.evaluate.evaluate; "
            "assert 'gradcam' in inspect.signature(ag.classify).parameters; "
            "assert 'family' in inspect.signature(ag.train).parameters; "
            "print(ag.nn.ResAnDi.__name__, ag.datasets.CLASS_NAMES[7])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["ResAnDi", "BM"]
    assert ag.nn.ResAnDi is ResAnDi
