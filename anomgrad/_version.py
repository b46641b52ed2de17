"""The installed version of anomgrad (from the package metadata)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("anomgrad")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
