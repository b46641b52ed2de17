"""``ResAnDi``: the one-dimensional ResNet-18 of Bae, Baek & Jeong (docs/method.md §3).

Written like torchvision's ``resnet.py`` (``BasicBlock``, ``_make_layer``, Kaiming
init), with one-dimensional convolutions over time::

    input (N, 2, 1000)                        positions, min-max scaled per axis
    stem     conv k35 s2 p17, BN, ReLU        (N,  64, 500)   always fp32
    maxpool  k3 s2 p1                         (N,  64, 250)
    layer1   2 x BasicBlock1d(64)             (N,  64, 250)
    layer2   2 x BasicBlock1d(128), stride 2  (N, 128, 125)
    layer3   2 x BasicBlock1d(256), stride 2  (N, 256,  63)
    layer4   2 x BasicBlock1d(512), stride 2  (N, 512,  32)
    avgpool  global average over time         (N, 512)
    fc       Linear(512, 8)                   (N, 8) logits

Block convolutions have kernel 15 and padding 7; a block that changes the stride or
the width has a 1x1 strided convolution + BN on its shortcut.  18,499,336 parameters.

The published code uses ``Conv2d`` with ``(1, k)`` kernels on ``(N, 2, 1, 1000)``
inputs; that is the same computation, and :func:`convert_published_state_dict`
turns its weights into this module's.

Every block has a name (:data:`FEATURE_NAMES`): ``"stem"``, ``"maxpool"``,
``"layer1"`` ... ``"layer4"`` (the output of the layer's last block), ``"layer1.0"``,
``"layer1.1"``, ..., ``"avgpool"``.  ``model.block("layer3.1")`` returns the module and
``model.forward_features(x, "layer2")`` the activation after it (Grad-CAM targets,
linear probes).  ReLUs are not in-place, so forward/backward hooks on any block work.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from copy import deepcopy

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .._version import __version__
from ..io.atomic import atomic_torch_save
from .task import DIM, LENGTH, NUM_CLASSES, check_input_kind

ARCH = "ResAnDi"

CHECKPOINT_FORMAT = "anomgrad-resandi-checkpoint"
CHECKPOINT_VERSION = 1


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv1d:
    """1x1 convolution (the shortcut projection)."""
    return nn.Conv1d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def convk(in_planes: int, out_planes: int, stride: int = 1, kernel_size: int = 15) -> nn.Conv1d:
    """Block convolution: kernel 15, 'same' padding 7, no bias (BN follows)."""
    return nn.Conv1d(in_planes, out_planes, kernel_size=kernel_size, stride=stride,
                     padding=kernel_size // 2, bias=False)


class BasicBlock1d(nn.Module):
    """torchvision's BasicBlock with one-dimensional kernel-15 convolutions."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, kernel_size: int = 15) -> None:
        super().__init__()
        self.conv1 = convk(inplanes, planes, stride, kernel_size)
        self.bn1 = nn.BatchNorm1d(planes)
        self.relu = nn.ReLU(inplace=False)
        self.conv2 = convk(planes, planes, 1, kernel_size)
        self.bn2 = nn.BatchNorm1d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out = out + identity
        out = self.relu(out)
        return out


class Stem(nn.Sequential):
    """conv k35 s2 p17, BN, ReLU, always computed in the parameters' precision (fp32),
    also under bf16 autocast.  Several of its filters learn near-cancelling differences
    of min-max-scaled positions (tap sums below 0.01, which BN then multiplies by 50-90);
    bf16 keeps 8 bits of mantissa, too few for them (docs/resandi.md §"Precision")."""

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.to(self.conv.weight.dtype))


class GlobalAvgPool1d(nn.AdaptiveAvgPool1d):
    """``AdaptiveAvgPool1d(1)`` (it is one, for code that checks) computed as a mean over
    time, whose CUDA backward is deterministic."""

    def __init__(self) -> None:
        super().__init__(1)

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=-1, keepdim=True)


class ResAnDi(nn.Module):
    """ResNet-18 over time for the 8-class anomalous-diffusion task (docs/method.md §3).

    Parameters
    ----------
    num_classes : outputs of the final Linear (8).
    in_channels : input channels (default: the spatial axes, 2, for ``input="positions"``;
        twice that for ``"increments"``).
    input : what the network reads (:data:`~anomgrad.resandi.task.INPUTS`;
        :func:`anomgrad.resandi.preprocess.network_input` makes it): ``"positions"``, the
        paper's, or ``"increments"`` (positions and scaled steps).  Recorded in
        ``config`` and checkpoints, so whoever runs the model preprocesses alike.
    length : time steps of the input (1000); other lengths are rejected by ``forward``.
    width : channels of the stem and layer1 (64); layers 2-4 use 2x, 4x, 8x.  Smaller
        widths only serve fast tests of the plumbing; the published network is 64.
    layers : blocks per layer ([2, 2, 2, 2]).
    zero_init_residual : torchvision's option (off, as in the published code).
    """

    def __init__(self, num_classes: int = NUM_CLASSES, in_channels: int | None = None,
                 length: int = LENGTH, width: int = 64, layers=(2, 2, 2, 2),
                 zero_init_residual: bool = False, input: str = "positions") -> None:
        super().__init__()
        check_input_kind(input)
        if in_channels is None:
            in_channels = DIM * (2 if input == "increments" else 1)
        for name, v, lo in (("num_classes", num_classes, 1), ("in_channels", in_channels, 1),
                            ("length", length, 1), ("width", width, 1)):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        layers = tuple(int(n) for n in layers)
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"layers must be 4 positive block counts, got {layers}")
        self.config = {"arch": ARCH, "num_classes": num_classes, "in_channels": in_channels,
                       "length": length, "width": width, "layers": list(layers),
                       "zero_init_residual": bool(zero_init_residual), "input": input}
        self.input = input
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.length = length
        self.inplanes = width

        self.stem = Stem(OrderedDict([
            ("conv", nn.Conv1d(in_channels, width, kernel_size=35, stride=2, padding=17,
                               bias=False)),
            ("bn", nn.BatchNorm1d(width)),
            ("relu", nn.ReLU(inplace=False)),
        ]))
        self.maxpool = nn.MaxPool1d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(8 * width, layers[3], stride=2)
        self.avgpool = GlobalAvgPool1d()
        self.fc = nn.Linear(8 * width * BasicBlock1d.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm1d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock1d):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock1d.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * BasicBlock1d.expansion, stride),
                nn.BatchNorm1d(planes * BasicBlock1d.expansion),
            )
        layers = [BasicBlock1d(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * BasicBlock1d.expansion
        for _ in range(1, blocks):
            layers.append(BasicBlock1d(self.inplanes, planes))
        return nn.Sequential(*layers)

    # ---- named blocks ---------------------------------------------------------------

    def feature_names(self) -> tuple[str, ...]:
        """Valid names for :meth:`block` and :meth:`forward_features`, input to output."""
        names = ["stem", "maxpool"]
        for k in range(1, 5):
            layer = getattr(self, f"layer{k}")
            names += [f"layer{k}.{i}" for i in range(len(layer))] + [f"layer{k}"]
        return tuple(names + ["avgpool"])

    def block(self, name: str) -> nn.Module:
        """The module called ``name`` (see :meth:`feature_names`)."""
        self._check_name(name)
        return self.get_submodule(name)

    def _check_name(self, name) -> None:
        names = self.feature_names()
        if name not in names:
            raise ValueError(f"unknown block {name!r}; valid names: {', '.join(names)}")

    def _stages(self):
        """(name, module) in execution order; 'layerK' is the end of layer K."""
        yield "stem", self.stem
        yield "maxpool", self.maxpool
        for k in range(1, 5):
            layer = getattr(self, f"layer{k}")
            for i, blk in enumerate(layer):
                yield f"layer{k}.{i}", blk
            yield f"layer{k}", None
        yield "avgpool", None

    def forward_features(self, x: Tensor, upto: str = "layer4") -> Tensor:
        """The activation after block ``upto``: (N, C, L), or (N, C) for "avgpool"."""
        self._check_name(upto)
        self.check_input(x)
        for name, module in self._stages():
            if name == "avgpool":
                x = torch.flatten(self.avgpool(x), 1)
            elif module is not None:
                x = module(x)
            if name == upto:
                return x
        raise AssertionError("unreachable")  # pragma: no cover

    def feature_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape (C, L) of every named activation (C only for "avgpool") for one input."""
        dev = next(self.parameters()).device
        was = self.training
        self.eval()
        out = {}
        with torch.no_grad():
            x = torch.zeros(1, self.in_channels, self.length, device=dev)
            for name, module in self._stages():
                if name == "avgpool":
                    x = torch.flatten(self.avgpool(x), 1)
                elif module is not None:
                    x = module(x)
                out[name] = tuple(x.shape[1:])
        self.train(was)
        return out

    # ---- forward --------------------------------------------------------------------

    def check_input(self, x) -> None:
        """Raise a clear error unless ``x`` is a float tensor (N, in_channels, length)."""
        if not isinstance(x, Tensor):
            raise TypeError(f"ResAnDi takes a torch tensor of shape (N, {self.in_channels}, "
                            f"{self.length}), got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"ResAnDi input must be a floating-point tensor, got {x.dtype}")
        want = f"(N, {self.in_channels}, {self.length}) = (batch, axes, time)"
        if x.dim() != 3:
            hint = ""
            if x.dim() == 2 and tuple(x.shape) == (self.in_channels, self.length):
                hint = "; for one trajectory use x.unsqueeze(0)"
            elif x.dim() == 4 and x.shape[2] == 1:
                hint = "; inputs of the published Conv2d code, (N, 2, 1, T), need x.squeeze(2)"
            raise ValueError(f"ResAnDi expects input of shape {want}, got shape "
                             f"{tuple(x.shape)}{hint}")
        if x.shape[1] != self.in_channels or x.shape[2] != self.length:
            hint = ""
            if x.shape[1] == self.length and x.shape[2] == self.in_channels:
                hint = "; the axes look swapped: use x.transpose(1, 2)"
            elif x.shape[1] == self.in_channels:
                hint = (f"; trajectories must be left zero-padded to {self.length} steps "
                        f"(anomgrad.resandi.preprocess)")
            elif self.input != "positions":
                hint = (f"; this network reads input={self.input!r}: make it with "
                        f"anomgrad.datasets.preprocess(raw, T, input={self.input!r}) or "
                        f"network_input(z, T, {self.input!r})")
            raise ValueError(f"ResAnDi expects input of shape {want}, got shape "
                             f"{tuple(x.shape)}{hint}")

    def features(self, x: Tensor) -> Tensor:
        """The pooled layer-4 features (N, 8 * width) that ``fc`` maps to the logits."""
        self.check_input(x)
        x = self.stem(x)
        x = self.maxpool(x)

        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)

        x = self.avgpool(x)
        return torch.flatten(x, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


def fold_batchnorm(model: "ResAnDi") -> "ResAnDi":
    """An inference copy of ``model``: in eval mode, every BatchNorm folded into the
    convolution before it (``torch.nn.utils.fusion.fuse_conv_bn_eval``: the convolution
    gets the scaled weights and a bias, the BatchNorm becomes an identity).  Its outputs
    are the eval-mode outputs of ``model`` up to rounding, one pass over memory fewer per
    convolution (about 15 % faster on a CPU, docs/benchmarks.md).  For forward passes
    only: the copy does not train, and ``model`` is left as it was."""
    m = deepcopy(unwrap(model)).eval()
    m.stem.conv = fuse_conv_bn_eval(m.stem.conv, m.stem.bn)
    m.stem.bn = nn.Identity()
    for layer in (m.layer1, m.layer2, m.layer3, m.layer4):
        for b in layer:
            b.conv1, b.bn1 = fuse_conv_bn_eval(b.conv1, b.bn1), nn.Identity()
            b.conv2, b.bn2 = fuse_conv_bn_eval(b.conv2, b.bn2), nn.Identity()
            if b.downsample is not None:
                b.downsample[0] = fuse_conv_bn_eval(b.downsample[0], b.downsample[1])
                b.downsample[1] = nn.Identity()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------
# Checkpoints


class CheckpointError(ValueError):
    """A file that is not a usable ResAnDi checkpoint (message names the path)."""


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DDP / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def convert_published_state_dict(sd: dict) -> dict:
    """Weights of the published ``resnet18_8`` (Conv2d, (1, k) kernels; names ``conv1``,
    ``bn1``, ``layer*``, ``fc``) as a :class:`ResAnDi` state dict."""
    out = {}
    for k, v in sd.items():
        k2 = k
        if k.startswith("conv1."):
            k2 = "stem.conv." + k[len("conv1."):]
        elif k.startswith("bn1."):
            k2 = "stem.bn." + k[len("bn1."):]
        if isinstance(v, Tensor) and v.dim() == 4 and v.shape[2] == 1:
            v = v.squeeze(2)
        out[k2] = v
    return out


def _looks_published(sd: dict) -> bool:
    return "conv1.weight" in sd and "bn1.weight" in sd and "stem.conv.weight" not in sd


def load_state_dict_checked(model: ResAnDi, sd: dict, source: str = "state dict") -> None:
    """``model.load_state_dict(sd)`` with a message that says what does not match."""
    if _looks_published(sd):
        sd = convert_published_state_dict(sd)
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k}: {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in sd and isinstance(sd[k], Tensor) and sd[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"shape mismatch ({'; '.join(shapes[:3])})")
        raise CheckpointError(f"{source}: not a ResAnDi state dict of this configuration "
                              f"({model.config}): {'; '.join(parts)}")
    model.load_state_dict(sd)


def save_checkpoint(path, model: nn.Module, family: str | None = None, **meta) -> None:
    """Write ``model`` (a :class:`ResAnDi`, possibly wrapped) as a checkpoint that
    :func:`load_checkpoint` and ``anomgrad evaluate`` read, atomically.  ``family``
    ("varying"/"fixed") lets evaluation refuse data of the other family; ``meta``:
    more entries (plain Python values / tensors)."""
    m = unwrap(model)
    if not isinstance(m, ResAnDi):
        raise TypeError(f"model must be a ResAnDi, got {type(m).__name__}")
    obj = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
           "arch": dict(m.config), "family": family, "model": m.state_dict(),
           "anomgrad_version": str(__version__), "torch_version": str(torch.__version__)}
    obj.update(meta)
    atomic_torch_save(obj, os.fspath(path))


def load_checkpoint(path, map_location="cpu", *, full: bool = False):
    """Load a ResAnDi checkpoint written by ``anomgrad train`` (``best.pt``/``last.pt``).

    Returns ``(model, meta)``: the model in eval mode on ``map_location`` and a dict with
    the checkpoint's ``family``, ``classes``, ``epoch``, ``config`` ... (``full``: every
    entry, optimizer state included).  A bare state dict (ours or the published code's)
    is accepted too and gives the default 64-wide network.  Anything else raises
    :class:`CheckpointError` saying what it is.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes), not a checkpoint")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle / zip errors of foreign or cut-short files
        why = (str(e).strip().splitlines() or ["cut short?"])[0][:200]
        raise CheckpointError(f"{path}: not a torch checkpoint readable without executing "
                              f"code ({type(e).__name__}: {why})") from e
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: not a ResAnDi checkpoint (a {type(obj).__name__})")
    if "format" in obj:
        if obj["format"] != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path}: format {obj['format']!r}, expected "
                                  f"{CHECKPOINT_FORMAT!r}")
        ver = int(obj.get("format_version", -1))
        if ver != CHECKPOINT_VERSION:
            raise CheckpointError(f"{path}: checkpoint format_version {ver}; this anomgrad "
                                  f"reads version {CHECKPOINT_VERSION}")
        arch = obj.get("arch", {})
        if not isinstance(arch, dict) or arch.get("arch") != ARCH:
            name = arch.get("arch") if isinstance(arch, dict) else arch
            raise CheckpointError(f"{path}: a checkpoint of architecture {name!r}, not {ARCH}")
        kw = {k: arch[k] for k in ("num_classes", "in_channels", "length", "width", "layers",
                                   "zero_init_residual", "input") if k in arch}
        model = ResAnDi(**kw)
        load_state_dict_checked(model, obj["model"], path)
        meta = obj if full else {k: v for k, v in obj.items()
                                 if k not in ("model", "optimizer", "rng")}
    elif all(isinstance(v, Tensor) for v in obj.values()) and obj:
        model = ResAnDi()
        load_state_dict_checked(model, obj, path)
        meta = {"arch": model.config}
    else:
        keys = ", ".join(list(map(str, obj))[:6])
        raise CheckpointError(f"{path}: not a ResAnDi checkpoint (no 'format' entry; keys: {keys})")
    model.to(map_location).eval()
    return model, meta


__all__ = ["ARCH", "BasicBlock1d", "GlobalAvgPool1d", "CheckpointError", "ResAnDi", "Stem", "conv1x1", "convk",
           "convert_published_state_dict", "count_parameters", "fold_batchnorm", "load_checkpoint",
           "save_checkpoint", "load_state_dict_checked", "unwrap"]

#: Block names of the default network ([2, 2, 2, 2] blocks), input to output.
FEATURE_NAMES = ("stem", "maxpool",
                 "layer1.0", "layer1.1", "layer1", "layer2.0", "layer2.1", "layer2",
                 "layer3.0", "layer3.1", "layer3", "layer4.0", "layer4.1", "layer4", "avgpool")
__all__.append("FEATURE_NAMES")
