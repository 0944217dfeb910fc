"""Keep a capture from importing ``torch._dynamo``, which it does not use.

A capture runs PyTorch's meta kernels, many of which are Python references wrapped in
``torch._disable_dynamo``. That wrapper imports ``torch._dynamo`` (~800 modules, ~1.7 s of CPU on
a 2-core machine: more than ``import torch`` itself) the first time each reference runs, only to
mark it "do not compile". Nothing is compiled during a capture, so the mark is a no-op.

While a capture runs, and only if the real module is not loaded yet, a stand-in module answers
``disable(fn)`` with ``fn``; afterwards the stand-in is removed and every function it touched loses
the cached ``__dynamo_disable`` attribute again, so a later ``torch.compile`` finds torch as it was.
(The meta kernels also import sympy, for type checks; that one is needed.)
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

_DYNAMO = "torch._dynamo"


@contextmanager
def _dynamo_stand_in() -> Iterator[None]:
    if _DYNAMO in sys.modules or "_dynamo" in vars(torch):
        yield
        return
    touched: list[Callable[..., Any]] = []

    def disable(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        touched.append(fn)
        return fn

    stand_in = types.ModuleType(_DYNAMO, "netanatomy's stand-in for torch._dynamo during a capture")
    stand_in.disable = disable  # type: ignore[attr-defined]
    sys.modules[_DYNAMO] = stand_in
    torch._dynamo = stand_in  # `import torch._dynamo` reads the attribute
    try:
        yield
    finally:
        if sys.modules.get(_DYNAMO) is stand_in:
            del sys.modules[_DYNAMO]
        if vars(torch).get("_dynamo") is stand_in:
            del torch._dynamo
        for fn in touched:
            if getattr(fn, "__dynamo_disable", None) is fn:
                delattr(fn, "__dynamo_disable")


light_torch = _dynamo_stand_in
