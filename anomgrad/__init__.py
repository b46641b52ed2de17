"""anomgrad: anomalous-diffusion trajectories, ResAnDi and Grad-CAM over time.

The package is layered (docs/architecture.md): leaves (``config``, ``_validate``,
``rng``, the compiled ``_core``) -> trajectories (``models``, ``generate``,
``processing``, ``_cuda``) -> files (``io``) -> ResAnDi (``resandi``) -> Grad-CAM
(``cam``) -> your own tracks (``tracks``) and the paper's experiments
(``experiments``) -> the command line (``cli``).
``import anomgrad`` loads the trajectory layer only; torch-based parts load on first
use.
"""

import importlib

from . import _numba  # noqa: F401  (how Numba compiles: before any kernel)
from ._version import __version__
from .config import MODELS
from .generate import generate
from .processing import (add_noise, cut, diffusion_factors, normalize, random_lengths,
                         scale_diffusion)

__all__ = ["MODELS", "generate", "normalize", "add_noise", "scale_diffusion",
           "diffusion_factors", "cut", "random_lengths", "gradcam", "__version__",
           "datasets", "nn", "train", "evaluate", "classify", "pretrained"]

# torch-based parts load on first use, so `import anomgrad` stays light.  ``ag.train``,
# ``ag.evaluate`` and ``ag.classify`` are the plain functions (``help()`` shows their
# signatures).
_LAZY = {"gradcam": ("cam", "gradcam"), "gradcam_full": ("cam", "gradcam_full"),
         "datasets": ("resandi.datasets", None), "nn": ("resandi.nn", None),
         "train": ("resandi.train", "train"), "evaluate": ("resandi.evaluate", "evaluate"),
         "classify": ("tracks.classify", "classify"),
         "pretrained": ("resandi.pretrained", "pretrained")}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = importlib.import_module(f".{module}", __name__)
        if attr is not None:
            value = getattr(value, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'anomgrad' has no attribute {name!r}")
