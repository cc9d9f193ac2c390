"""One lazy-export idiom for the stage packages: ``import mace4ir.<stage>`` stays cheap.

A stage's ``__init__`` names its public objects and the modules that define them; the
first access imports that module and returns the real object (real signature and
docstring in ``help()``), which is then cached in the package namespace.

    __getattr__, __dir__ = lazy_exports(__name__, {"train": "training.loop.trainer"})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable, Callable]:
    """(``__getattr__``, ``__dir__``) for ``package``; ``exports`` maps a public name to the
    module that defines it, relative to ``mace4ir`` (``"evaluation.spectra.metrics"``). A name
    that is its module's own last component exports the module itself."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"mace4ir.{exports[name]}")
        value = module if exports[name].rsplit(".", 1)[-1] == name else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
