"""The compiled core ``anomgrad._core``, imported in one place so that a missing or
broken build says what to do instead of a bare ImportError deep inside a call."""

import importlib

try:  # by name: the extension module has no source for the import graph to follow
    core = importlib.import_module("anomgrad._core")
except ImportError as e:  # a source tree without a build, or a build for another Python
    raise ImportError(
        f"anomgrad: the compiled core (anomgrad._core) is missing or cannot be loaded ({e}). "
        "Reinstall the package so it is built: pip install . (from the source tree; a C++17 "
        "compiler is needed, CUDA is optional)") from e

__all__ = ["core"]
