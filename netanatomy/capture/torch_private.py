"""Every private PyTorch API that netanatomy relies on, in one place.

PyTorch may change anything whose name starts with an underscore in any release. Each name below
is used by the package only through this module, and ``tests/test_torch_private.py`` pins the
exact behaviour relied on, one test per item, so a torch upgrade that changes one of them fails
there, loudly and in one place, instead of as a wrong number somewhere in a report.

1. ``TorchDispatchMode`` (``torch.utils._python_dispatch``): the capture records every aten op
   below autograd through it.
2. ``tree_flatten`` / ``tree_map`` (``torch.utils._pytree``): walk nested op arguments and outputs.
3. ``UntypedStorage._cdata``: the identity of a meta tensor's storage (``data_ptr()`` is 0 for every
   meta storage, so it cannot tell two apart), for "allocated" and "saved for backward" bytes.
4. ``flop_registry`` (``torch.utils.flop_counter``) and its calling convention
   ``formula(*args, **kwargs, out_val=out) -> FLOPs`` for conv/mm/bmm/addmm/attention.
5. ``torch._ops.OpOverload``: its ``overloadpacket``, ``namespace`` and ``is_view``.
6. ``aten._local_scalar_dense``: the op behind ``.item()``, ``bool(t)`` and ``int(t)``.
7. ``nn.Module._parameters`` / ``_buffers``: the tables the capture swaps meta stand-ins into.
8. ``nn.modules.conv._ConvNd`` / ``nn.modules.batchnorm._NormBase``: the base classes the parameter
   formulas dispatch on.
9. The lazy ``torch._dynamo`` import of ``torch._disable_dynamo`` (see :func:`dynamo_stand_in`).
10. ``Distribution._validate_args``: the default that ``set_default_validate_args`` sets
    (:func:`distribution_validation_off`).
11. ``OpOverload._schema``'s alias annotations (which arguments an op writes, which outputs alias
    them): the memo (``capture/memo.py``) memoises only ops that return fresh tensors or update
    their first argument in place (:func:`op_alias_info`).
12. ``torch.fx.experimental.symbolic_shapes`` and the ``sympy`` import of type promotion: while a
    capture runs, ``capture/light_shapes.py`` lends stand-ins for their plain-int answers (each
    pinned against the real function by ``tests/test_capture_speed.py``), so that a capture does
    not import sympy.
13. ``torch._C._DisableTorchDispatch`` (a guard: no ``__torch_dispatch__`` mode sees the ops run
    under it) and ``torch._C._is_any_autocast_enabled``: a module replay (``capture/replay.py``)
    makes its outputs without recording them, and keys its table on the autocast state.
14. ``torch._C._len_torch_dispatch_stack`` / ``_len_torch_function_stack``: whether the caller
    runs the capture inside modes of its own, which must see every op (the memo and the replay
    then stay off; :func:`outer_modes_active`).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch._ops import OpOverload
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten
from torch.utils.flop_counter import flop_registry

__all__ = [
    "LOCAL_SCALAR_DENSE",
    "ConvNd",
    "NormBase",
    "OpOverload",
    "TorchDispatchMode",
    "any_autocast_enabled",
    "dynamo_stand_in",
    "flop_formula_macs",
    "module_tensor_tables",
    "no_dispatch_modes",
    "op_alias_info",
    "outer_modes_active",
    "stand_in_problem",
    "storage_key",
    "tree_flatten",
    "tree_map",
    "tree_unflatten",
]

ConvNd = nn.modules.conv._ConvNd
NormBase = nn.modules.batchnorm._NormBase
LOCAL_SCALAR_DENSE = torch.ops.aten._local_scalar_dense.default


#: A context manager under which no dispatch mode sees the ops run (item 13).
no_dispatch_modes: Callable[[], Any] = torch._C._DisableTorchDispatch
#: Whether autocast is on for any device (item 13).
any_autocast_enabled: Callable[[], bool] = torch._C._is_any_autocast_enabled


def outer_modes_active() -> bool:
    """Whether a dispatch or function mode is active (item 14)."""
    return bool(torch._C._len_torch_dispatch_stack() or torch._C._len_torch_function_stack())


def storage_key(t: torch.Tensor) -> int:
    """An integer that is the same for two tensors exactly when they share a storage (meta too)."""
    return int(t.untyped_storage()._cdata)


def module_tensor_tables(module: nn.Module) -> tuple[dict[str, Any], dict[str, Any]]:
    """The module's own parameter and buffer tables, which ``setattr`` would not let us fill with
    plain meta tensors for the duration of a capture."""
    return module._parameters, module._buffers


def flop_formula_macs(packet: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int | None:
    """MACs of an op from ``torch.utils.flop_counter``'s formula, or None when it has none.

    The registry counts 2 FLOPs per multiply-accumulate, hence the halving.
    """
    formula = flop_registry.get(packet)
    if formula is None:
        return None
    return int(formula(*args, **kwargs, out_val=out)) // 2


# --- the torch._dynamo stand-in ---------------------------------------------------------------
#
# A capture runs PyTorch's meta kernels, many of which are Python references wrapped in
# ``torch._disable_dynamo``. That wrapper imports ``torch._dynamo`` (~800 modules, ~1.7 s of CPU on
# a 2-core machine: more than ``import torch`` itself) the first time each reference runs, only to
# mark it "do not compile" (``torch._dynamo.disable(fn, recursive, wrapping=False)``, cached on
# ``fn.__dynamo_disable``). Nothing is compiled during a capture, so the mark is a no-op.
#
# While a capture runs, and only if the real module is not loaded yet, a stand-in module answers
# ``disable(fn, ...)`` with ``fn``; afterwards it is removed and every function it touched loses the
# cached attribute, so a later ``torch.compile`` finds torch as it was. Any other attribute of
# ``torch._dynamo`` asked for during the capture loads the real module and answers from it.
# The first use checks, on a probe function, that ``torch._disable_dynamo`` still behaves exactly so;
# when anything differs the capture loads the real ``torch._dynamo`` first (slower, still right).

_DYNAMO = "torch._dynamo"
_CACHE_ATTR = "__dynamo_disable"
_problem: list[str | None] = []  # [reason the stand-in is not used, or None], once checked


class _StandIn(types.ModuleType):
    """``torch._dynamo`` while a capture runs: ``disable(fn, ...)`` returns ``fn`` unchanged."""

    def __init__(self) -> None:
        super().__init__(_DYNAMO, "netanatomy's stand-in for torch._dynamo during a capture")
        self.touched: list[Callable[..., Any]] = []

    def disable(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        self.touched.append(fn)
        return fn

    def __getattr__(self, name: str) -> Any:
        # Anything but `disable` (a config flag, a submodule, ``__path__`` for
        # ``import torch._dynamo.x``): hand over to the real module rather than fail.
        if name.startswith("__") and name != "__path__":
            raise AttributeError(name)
        return getattr(_load_real_dynamo(self), name)


def _remove(stand_in: _StandIn) -> None:
    if sys.modules.get(_DYNAMO) is stand_in:
        del sys.modules[_DYNAMO]
    if vars(torch).get("_dynamo") is stand_in:
        del torch._dynamo
    for fn in stand_in.touched:
        if vars(fn).get(_CACHE_ATTR) is fn:
            delattr(fn, _CACHE_ATTR)
    stand_in.touched.clear()


def _load_real_dynamo(stand_in: _StandIn | None = None) -> types.ModuleType:
    if stand_in is not None:
        _remove(stand_in)
    import torch._dynamo as real  # the slow import the stand-in avoids

    return real


def _install() -> _StandIn:
    stand_in = _StandIn()
    sys.modules[_DYNAMO] = stand_in
    torch._dynamo = stand_in  # `import torch._dynamo` inside a function reads this attribute
    return stand_in


def _check_stand_in() -> str | None:
    """Why the stand-in cannot be trusted with this torch, or None when it can.

    What is relied on, tried on a probe: ``torch._disable_dynamo(fn)`` returns a wrapper that, on
    its first call, imports ``torch._dynamo`` (so finds the stand-in), calls its ``disable`` with
    ``fn`` first, caches the result on ``fn.__dynamo_disable``, calls that result, and touches
    nothing else; a second call reuses the cache.
    """
    wrap = getattr(torch, "_disable_dynamo", None)
    if not callable(wrap):
        return "torch._disable_dynamo is gone"

    def probe(x: int) -> int:
        return x + 1

    answered: list[Any] = []

    def answer(fn: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        answered.append(fn)
        return lambda x: probe(x) * 10  # a result distinct from probe's, to see that it is used

    stand_in = _install()
    stand_in.disable = answer  # type: ignore[method-assign]
    try:
        wrapped = wrap(probe)
        first, second = wrapped(1), wrapped(1)
        cached = vars(probe).get(_CACHE_ATTR)
        still_ours = sys.modules.get(_DYNAMO) is stand_in and vars(torch).get("_dynamo") is stand_in
    except Exception as exc:
        return f"torch._disable_dynamo raised {type(exc).__name__}: {exc}"
    finally:
        _remove(stand_in)
    if not still_ours:
        return "torch._disable_dynamo loaded the real torch._dynamo"
    if len(answered) != 1 or answered[0] is not probe:
        return f"torch._disable_dynamo called torch._dynamo.disable {len(answered)} times, not once with the function"
    if (first, second) != (20, 20) or cached is None:
        return "torch._disable_dynamo no longer calls and caches what torch._dynamo.disable returns"
    return None


def stand_in_problem() -> str | None:
    """Why this torch gets the real ``torch._dynamo`` in a capture (None: the stand-in is used).

    Checked once per process, the first time it is asked.
    """
    if not _problem:
        _problem.append(None if _DYNAMO in sys.modules else _check_stand_in())
    return _problem[0]


@contextmanager
def dynamo_stand_in() -> Iterator[None]:
    """Within the block, ``torch._dynamo`` is the stand-in (see above), unless the real module is
    already loaded or this torch's ``_disable_dynamo`` does not behave as relied on, in which case
    the real module is loaded now, before any capture mode is active."""
    if _DYNAMO in sys.modules or "_dynamo" in vars(torch):
        yield
        return
    if stand_in_problem() is not None:
        _load_real_dynamo()
        yield
        return
    stand_in = _install()
    try:
        yield
    finally:
        _remove(stand_in)



@contextmanager
def distribution_validation_off() -> Iterator[None]:
    """``torch.distributions`` validates arguments by reading their values (``scale > 0``); a
    capture has no values, so validation is off while it runs, and the previous default (the
    private class attribute ``Distribution._validate_args``) is restored afterwards."""
    import torch.distributions as dist

    before = dist.Distribution._validate_args
    dist.Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        dist.Distribution.set_default_validate_args(before)


def op_alias_info(func: OpOverload) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """``(arguments, written arguments, returns, aliased returns)`` of an aten op's schema: an
    argument is written when its alias annotation says so (``Tensor(a!) self``); a return is
    aliased when it carries an annotation (``-> Tensor(a!)``). Each item has ``alias_info``
    (``before_set``, ``is_write``); the written ones are items of ``arguments`` (``is`` holds)."""
    schema = func._schema
    arguments, returns = list(schema.arguments), list(schema.returns)
    writes = [x for x in arguments if x.alias_info is not None and x.alias_info.is_write]
    aliased = [r for r in returns if r.alias_info is not None]
    return arguments, writes, returns, aliased
