"""What-if experiments on the server under test. Never part of the product.

``bench/run.py --experiment NAME[,NAME...]`` starts daphne with this directory first on its
PYTHONPATH and ``BENCH_EXPERIMENTS=NAME,...``; Python imports this ``sitecustomize`` at
start-up, which imports ``bench/experiments/NAME.py`` for each name. An experiment patches
one thing (a setting, a function of the gateway) so that a suggested optimisation can be
measured before anyone changes the real code. ``after_import(module_name, fn)`` runs ``fn``
on a module right after it is first imported (most targets need Django set up first).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any


class _AfterImport(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, fn: Callable[[ModuleType], None]) -> None:
        self.name = name
        self.fn = fn

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # let the normal finders locate it
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module
        fn = self.fn

        def exec_module(module: ModuleType) -> None:
            original(module)
            fn(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def after_import(name: str, fn: Callable[[ModuleType], None]) -> None:
    if name in sys.modules:
        fn(sys.modules[name])
    else:
        sys.meta_path.insert(0, _AfterImport(name, fn))


for _name in filter(None, os.environ.get("BENCH_EXPERIMENTS", "").split(",")):
    importlib.import_module(_name.strip())
    print(f"bench experiment active: {_name}", file=sys.stderr)
