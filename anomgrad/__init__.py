"""anomgrad: anomalous-diffusion trajectories, ResAnDi and Grad-CAM over time."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("anomgrad")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"

from .config import MODELS
from .generate import generate
from .processing import (add_noise, cut, diffusion_factors, normalize, random_lengths,
                         scale_diffusion)

__all__ = ["MODELS", "generate", "normalize", "add_noise", "scale_diffusion",
           "diffusion_factors", "cut", "random_lengths", "gradcam", "__version__",
           "datasets", "nn", "train", "evaluate"]

# torch-based parts load on first use, so `import anomgrad` stays light.
_LAZY = {"gradcam": ("cam", "gradcam"), "gradcam_full": ("cam", "gradcam_full")}
# ResAnDi modules (attr None: the module itself).  ``ag.train`` and ``ag.evaluate`` are
# callable modules: ``ag.train(...)`` is ``anomgrad.train.train(...)``.
_LAZY.update({m: (m, None) for m in ("datasets", "nn", "train", "evaluate")})


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = importlib.import_module(f".{module}", __name__)
        if attr is not None:
            value = getattr(value, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'anomgrad' has no attribute {name!r}")
