"""Build a model on the meta device without running its weight initialisation.

On the meta device an initialiser has no values to write, yet several in-place fills
(``normal_``, ``erfinv_``, ``clamp_`` ...) run a Python reference there that imports
``torch._dynamo`` (~1.7 s) for nothing. Inside :func:`skip_init_on_meta`, those fills return their
meta tensor untouched; shapes, dtypes and everything else are built exactly as without it. The
mode uses only PyTorch's public ``TorchFunctionMode``; a fill it does not list still works (it may
then load ``torch._dynamo``, which is only slower).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

# In-place fills that ``torch.nn.init`` and models' own init code call on weights; each keeps the
# tensor's shape and dtype, so skipping one on a meta tensor changes nothing observable.
_FILLS = ("normal_", "uniform_", "erfinv_", "clamp_", "clamp_min_", "clamp_max_", "exponential_",
          "log_normal_", "cauchy_", "geometric_", "random_", "bernoulli_")


@functools.cache
def _fills() -> frozenset[Callable[..., Any]]:
    methods = {getattr(torch.Tensor, n) for n in _FILLS if hasattr(torch.Tensor, n)}
    # The initialisers of torch.nn.init that dispatch through __torch_function__ reach the mode as
    # themselves, and run without it: they are skipped whole (each only writes values in place).
    init = torch.nn.init
    initialisers = {getattr(init, n) for n in dir(init) if n.endswith("_") and not n.startswith("_")}
    return frozenset(methods | {f for f in initialisers if callable(f)})


class skip_init_on_meta(TorchFunctionMode):  # a context manager, named like torch.no_grad
    """``with torch.device("meta"), skip_init_on_meta(): model = build()`` builds without filling."""

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _fills():
            # the tensor comes first; nn.init passes it on by keyword (`tensor=`)
            target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
            if isinstance(target, torch.Tensor) and target.is_meta:
                return target
        return func(*args, **kwargs)
