"""Keep a capture from importing sympy through ``torch._check`` and type promotion.

Every shape check of PyTorch's Python meta kernels (``torch._check(cond, msg)``) runs
``from torch.fx.experimental.symbolic_shapes import expect_true`` (and many kernels import
``guard_or_false``, ``sym_eq`` and the like from the same module). That module imports sympy and
mpmath (~500 modules: measured 0.25-1.0 s of a 0.6-1.7 s cold ``summary resnet50`` on a loaded
2-core machine, more than the whole warm analysis). It needs sympy for *symbolic* sizes only;
a capture's sizes are plain ints, and for plain ints and bools each of these functions is the
identity or ``==``.

While a capture runs, and only if the real module is not loaded yet, a stand-in module answers
the functions below for plain Python values exactly as the real ones do (same results, same
``AssertionError`` for a wrong type). Anything else (a ``SymInt``/``SymBool`` argument, or a name
not listed here) loads the real module, which then replaces the stand-in for good: correctness
never depends on the list being complete, only the speed does. Afterwards the stand-in is removed.

Type promotion (``torch._prims_common.elementwise_dtypes``, run by every elementwise reference)
imports sympy itself, only to ask ``isinstance(x, sympy.Basic)``. While sympy is not loaded no
object can be a sympy expression, so a stand-in ``sympy`` whose ``Basic`` is a fresh class answers
that question truthfully; any other name loads the real sympy the same way.
"""

from __future__ import annotations

import functools
import importlib
import operator
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class _StandIn(types.ModuleType):
    """A module whose listed attributes are light; any other name loads the real module."""

    def __getattr__(self, name: str) -> Any:
        # ``import sympy.core`` asks the package (sympy, top-level; symbolic_shapes is a plain
        # module) for ``__path__`` first: the real package answers.
        if name.startswith("__") and not (name == "__path__" and "." not in self.__name__):
            raise AttributeError(name)
        return getattr(_real(self.__name__), name)


def _real(name: str) -> types.ModuleType:
    """Drop every stand-in (the real symbolic_shapes imports the real sympy) and import ``name``."""
    for key in [k for k, m in sys.modules.items() if isinstance(m, _StandIn)]:
        del sys.modules[key]
        parent_name, _, child = key.rpartition(".")
        parent = sys.modules.get(parent_name) if parent_name else None
        if parent is not None and isinstance(vars(parent).get(child), _StandIn):
            delattr(parent, child)
    return importlib.import_module(name)


def _slow(name: str, *args: Any) -> Any:
    """The real function: a symbolic argument, or a wrong type (whose error the real one raises)."""
    return getattr(_real(SHAPES), name)(*args)


# The non-symbolic branch of each function of torch.fx.experimental.symbolic_shapes, same results;
# anything else goes to the real function (tests/test_capture_speed.py compares them).
def _expect_true(a: Any, skip: int = 0) -> Any:
    return a if type(a) is bool else _slow("expect_true", a, skip)


def _bool_or(name: str) -> Callable[[Any], Any]:
    def f(a: Any) -> Any:
        return a if type(a) is bool else _slow(name, a)

    f.__name__ = name
    return f


def _guard_int(a: Any) -> Any:
    return a if type(a) is int else _slow("guard_int", a)


def _hint(a: Any) -> Any:
    return a if type(a) in (bool, int) else _slow("guarding_hint_or_throw", a)


def _has_hint(a: Any) -> Any:
    return True if type(a) in (bool, int, float) else _slow("has_guarding_hint", a)


def _never_symbolic(name: str) -> Callable[[Any], Any]:
    def f(a: Any) -> Any:
        return False if type(a) in (bool, int, float) else _slow(name, a)

    f.__name__ = name
    return f


def _sym_eq(x: Any, y: Any) -> Any:
    if isinstance(x, (tuple, list)) and isinstance(y, (list, tuple)):
        if len(x) != len(y):
            return False
        return functools.reduce(operator.and_, map(_sym_eq, x, y), True)
    if type(x) is int and type(y) is int:
        return x == y
    return _slow("sym_eq", x, y)


def _fold(name: str, op: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    def f(x: Any, *others: Any) -> Any:
        if type(x) is not bool or any(type(y) is not bool for y in others):
            return _slow(name, x, *others)
        for y in others:
            x = op(x, y)
        return x

    f.__name__ = name
    return f


SHAPES = "torch.fx.experimental.symbolic_shapes"

#: The functions the stand-in answers itself.
SHAPE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "expect_true": _expect_true,
    **{name: _bool_or(name) for name in ("guard_or_false", "guard_or_true", "statically_known_true",
                                          "guard_size_oblivious")},
    "sym_and": _fold("sym_and", operator.and_),
    "sym_or": _fold("sym_or", operator.or_),
    "sym_eq": _sym_eq,
    "guard_int": _guard_int,
    "guarding_hint_or_throw": _hint,
    "has_guarding_hint": _has_hint,
    "is_symbolic": _never_symbolic("is_symbolic"),
    "is_nested_int": _never_symbolic("is_nested_int"),
}


class _NoSympyObject:
    """``sympy.Basic`` while sympy is not loaded: no object is an instance of it."""


@contextmanager
def _standing_in(name: str, attrs: dict[str, Any]) -> Iterator[None]:
    parent_name, _, child = name.rpartition(".")
    parent = sys.modules.get(parent_name) if parent_name else None
    if name in sys.modules or (parent_name and (parent is None or child in vars(parent))):
        yield
        return
    stand_in = _StandIn(name, f"netanatomy's stand-in for {name} during a capture")
    for key, value in attrs.items():
        setattr(stand_in, key, value)
    sys.modules[name] = stand_in
    if parent is not None:
        setattr(parent, child, stand_in)
    try:
        yield
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        if parent is not None and vars(parent).get(child) is stand_in:
            delattr(parent, child)


@contextmanager
def plain_shapes() -> Iterator[None]:
    """While active, shape checks and type promotion on plain values do not import sympy."""
    with _standing_in(SHAPES, SHAPE_FUNCTIONS), _standing_in("sympy", {"Basic": _NoSympyObject}):
        yield
