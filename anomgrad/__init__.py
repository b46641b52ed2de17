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
           "diffusion_factors", "cut", "random_lengths", "__version__"]
