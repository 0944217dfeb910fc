"""Keep ``torch._dynamo`` from being imported by a capture.

Many of PyTorch's meta kernels are Python references wrapped in ``torch._disable_dynamo``, which
imports ``torch._dynamo`` (about 800 modules, ~1.7 s of CPU on a 2-core machine: longer than
``import torch`` itself) the first time each one runs, only to mark it "do not compile". Nothing
is being compiled during a capture, so that mark is a no-op. While a capture runs, and only if the
real ``torch._dynamo`` is not loaded yet, a stand-in module answers ``disable(fn, ...)`` with
``fn`` itself; afterwards the stand-in is removed and every function it touched loses the cached
``__dynamo_disable`` attribute again, so that a later ``torch.compile`` sees torch exactly as it
was. If the real module is already loaded (the user compiles, or imported it), nothing is done.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

_NAME = "torch._dynamo"


@contextmanager
def dynamo_stand_in() -> Iterator[None]:
    if _NAME in sys.modules or "_dynamo" in vars(torch):
        yield
        return
    touched: list[Callable[..., Any]] = []

    def disable(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        touched.append(fn)
        return fn

    stand_in = types.ModuleType(_NAME, "netanatomy's stand-in for torch._dynamo during a capture")
    stand_in.disable = disable  # type: ignore[attr-defined]
    sys.modules[_NAME] = stand_in
    torch._dynamo = stand_in  # `import torch._dynamo` reads the attribute
    try:
        yield
    finally:
        if sys.modules.get(_NAME) is stand_in:
            del sys.modules[_NAME]
        if vars(torch).get("_dynamo") is stand_in:
            del torch._dynamo
        for fn in touched:
            if getattr(fn, "__dynamo_disable", None) is fn:
                delattr(fn, "__dynamo_disable")
