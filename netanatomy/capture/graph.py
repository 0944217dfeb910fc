"""The captured computation: every aten op of one forward pass, its inputs, and the module it ran in.

This is the true graph of the computation, functional calls (``F.relu``, ``torch.cat``, ``x + y``,
``x.view``) included, not the order in which modules happened to be called. The analyzer sums it
per module; the receptive-field engine walks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from netanatomy.capture.torch_private import OpOverload

#: ``TensorRef.producer`` of a tensor that no op produced.
GRAPH_INPUT = -1  # one of the model's inputs (``TensorRef.output`` says which)
PARAMETER = -2  # a parameter or buffer of the model (``TensorRef.name`` says which)
CONSTANT = -3  # any other tensor (created outside the forward, e.g. a plain attribute)


@dataclass(frozen=True, slots=True)
class TensorRef:
    """A tensor argument of an op: which node produced it, with its shape."""

    producer: int  # node index, or GRAPH_INPUT / PARAMETER / CONSTANT
    output: int  # which output of the producer (or which graph input)
    shape: tuple[int, ...]
    dtype: torch.dtype
    name: str = ""  # parameter/buffer name when producer == PARAMETER


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """An op output: shape, dtype and the bytes it spans."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    nbytes: int  # numel * itemsize
    allocated: bool  # True when the op allocated new memory for it (not a view, not in place)


@dataclass(slots=True)
class OpNode:
    """One aten op of the forward pass."""

    index: int
    op: str  # packet name without namespace, e.g. "convolution", "add", "max_pool2d_with_indices"
    overload: OpOverload
    args: tuple[Any, ...]  # tensors replaced by TensorRef; lists of tensors by lists of TensorRef
    kwargs: dict[str, Any]
    outputs: list[TensorInfo]
    module: str  # path of the innermost module the op ran in ("" = the model's own forward)
    macs: int = 0
    counted: bool = False  # True when a MAC formula covers this op (even if it gives 0)

    def tensor_inputs(self) -> list[TensorRef]:
        """The tensor arguments in order, lists flattened (e.g. the inputs of ``cat``)."""
        refs: list[TensorRef] = []
        for a in (*self.args, *self.kwargs.values()):
            if isinstance(a, TensorRef):
                refs.append(a)
            elif isinstance(a, (list, tuple)):
                refs.extend(x for x in a if isinstance(x, TensorRef))
        return refs


@dataclass(slots=True)
class ModuleCall:
    """One call of a module's forward."""

    path: str  # "" for the root model
    type: str  # class name
    depth: int  # 0 for the root
    first_node: int  # index of the first op inside this call
    end_node: int  # one past the last op inside this call
    input_shapes: list[tuple[int, ...]]
    output_shapes: list[tuple[int, ...]]
    output_refs: list[TensorRef] = field(default_factory=list)
    reads_input: list[int] = field(default_factory=list)  # graph inputs it received directly


@dataclass(slots=True)
class Graph:
    """The whole capture."""

    nodes: list[OpNode]
    calls: list[ModuleCall]
    inputs: list[TensorInfo]
    outputs: list[TensorRef]
    #: bytes of the tensors autograd saves for backward, by the module that saved them (no
    #: parameters; each storage once, attributed to the first module that saved it)
    saved_bytes: dict[str, int]
    #: name -> shape of every parameter and buffer, as the capture saw them
    param_shapes: dict[str, tuple[int, ...]]
    training: bool  # whether the capture ran the model in training mode

    @property
    def total_saved_bytes(self) -> int:
        return sum(self.saved_bytes.values())

    def consumers(self) -> dict[int, list[int]]:
        """Node index -> indices of the nodes that read one of its outputs."""
        out: dict[int, list[int]] = {}
        for node in self.nodes:
            for ref in node.tensor_inputs():
                if ref.producer >= 0:
                    out.setdefault(ref.producer, []).append(node.index)
        return out
