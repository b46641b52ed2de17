"""Modules that can be called: ``ag.train(...)`` and ``ag.evaluate(...)`` run the
module's main function while ``ag.train.RECIPES`` etc. stay module attributes."""

from __future__ import annotations

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return self.__main_function__(*args, **kwargs)


def make_callable(module_name: str, fn) -> None:
    """Calling the module ``module_name`` calls ``fn``."""
    mod = sys.modules[module_name]
    mod.__main_function__ = fn
    mod.__class__ = _CallableModule


__all__ = ["make_callable"]
