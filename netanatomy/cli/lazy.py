"""Handlers that import their implementation only when their command runs (startup time)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable


def lazy_handler(module: str, function: str) -> Callable[[argparse.Namespace], int]:
    """A handler that imports ``module`` and calls ``module.function(args)`` when invoked."""

    def handler(args: argparse.Namespace) -> int:
        return int(getattr(importlib.import_module(module), function)(args) or 0)

    handler.__name__ = f"{function}_handler"
    return handler
