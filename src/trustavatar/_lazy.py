"""Packages whose public names are imported on first use (PEP 562).

A package that re-exports its modules' names imports all of them, and everything they
import, whenever any one module of it is imported: a child process that needs one module
of ``trustavatar.consent`` would load the face, X.509 and schema libraries too. With
:func:`lazy_exports` the package imports nothing until a name is used.

A public name must not also be the name of one of the package's modules: importing that
module would replace the name with the module (the import system sets the attribute), so
:func:`lazy_exports` refuses such a table.
"""

from __future__ import annotations

__all__ = ["lazy_exports"]

import importlib
import pkgutil
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose public names ``where``
    maps to the modules (relative to the package) that define them."""
    module = sys.modules[package]
    clashes = sorted(set(where) & {m.name for m in pkgutil.iter_modules(module.__path__)})
    if clashes:
        raise ImportError(f"{package}: public names that are also module names: {clashes}")

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        setattr(module, name, value)  # later uses are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(where))

    return __getattr__, __dir__
