"""What a capture feeds the model: positional and keyword inputs, with placeholders or real tensors.

An input is any Python structure that ``torch.utils._pytree`` can walk (tuples, lists, dicts,
NamedTuples) whose leaves are

- a :class:`TensorSpec` (a shape and a dtype): the capture makes a meta tensor for it, or a random
  real one under ``materialize``;
- a real ``torch.Tensor`` on the CPU: kept real, because its values may matter (the lengths of a
  packed sequence, a mask, token ids); an op that mixes it with meta tensors gets a meta copy;
- a meta tensor: used as is;
- anything else (``None``, a flag, a number): passed through.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from netanatomy.errors import UserError

#: dtype names accepted after ``:`` in ``--input`` (``2x9:int64``).
INPUT_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "float": torch.float32, "float16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "float64": torch.float64, "double": torch.float64,
    "int64": torch.int64, "long": torch.int64, "int32": torch.int32, "int": torch.int32,
    "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool,
    "complex64": torch.complex64,
}


@dataclass(frozen=True)
class TensorSpec:
    """A placeholder input: shape (``()`` for a 0-d tensor) and dtype, no values."""

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32

    def __post_init__(self) -> None:
        if any(int(d) < 0 for d in self.shape):
            raise UserError(f"input size {describe(self.shape)} has a negative dimension")


def describe(shape: tuple[int, ...] | list[int]) -> str:
    """``(2, 9)`` -> ``"2x9"``; a 0-d shape -> ``"scalar"``."""
    return "x".join(map(str, shape)) if len(shape) else "scalar"


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def random_like_spec(spec: TensorSpec) -> torch.Tensor:
    """A real CPU tensor for ``materialize``: standard normal floats, ones for integers (a valid
    index into any embedding and a valid sequence length), True for booleans."""
    if spec.dtype.is_floating_point or spec.dtype.is_complex:
        return torch.randn(spec.shape, dtype=spec.dtype)
    return torch.ones(spec.shape, dtype=spec.dtype)


def forward_name(model: nn.Module) -> str:
    return f"{type(model).__name__}.forward"


def check_arguments(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
    """Refuse, in one line, a call whose inputs do not fit ``model.forward``'s signature.

    Without this the forward itself fails with Python's ``TypeError`` deep inside ``nn.Module``.
    Models whose signature cannot be read (TorchScript, C++ extensions) are not checked here.
    """
    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*args, **kwargs)
        return
    except TypeError:
        pass
    params = list(sig.parameters.values())
    kinds = inspect.Parameter
    if any(p.kind is kinds.VAR_KEYWORD for p in params):
        unknown: list[str] = []
    else:
        unknown = [k for k in kwargs if k not in sig.parameters]
    if unknown:
        raise UserError(f"{forward_name(model)} has no argument {unknown[0]!r}; its arguments are "
                        f"{', '.join(p.name for p in params if p.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD))}")
    positional = [p for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    if len(args) > len(positional) and not any(p.kind is kinds.VAR_POSITIONAL for p in params):
        least = sum(1 for p in positional if p.default is kinds.empty)
        span = f"{least} to {len(positional)}" if least != len(positional) else str(least)
        raise UserError(f"{name} takes {span} input{'s' if len(positional) != 1 else ''}, got {len(args)} "
                        "(one --input per argument of forward, separated by commas)")
    given = {p.name for p in positional[: len(args)]} | set(kwargs)
    missing = [p.name for p in params if p.default is kinds.empty and p.name not in given
               and p.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)]
    if missing:
        raise UserError(f"{forward_name(model)} needs {' and '.join(missing)}: got {len(args)} input"
                        f"{'s' if len(args) != 1 else ''} (one --input per argument, e.g. --input 1x3x32x32,1x3x32x32)")
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:  # any other mismatch: Python's own words
        raise UserError(f"{forward_name(model)}: {exc}") from None
