"""anomgrad: anomalous-diffusion trajectories, ResAnDi and Grad-CAM over time."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("anomgrad")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"

from .config import MODELS
from .generate import generate

__all__ = ["MODELS", "generate", "__version__"]
