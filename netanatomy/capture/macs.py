"""Multiply-accumulate counts of aten ops.

Convention (stated in every report): a MAC is one multiply plus one add of a convolution, a
linear/matmul, or a recurrent layer's matrix products; FLOPs = 2 x MACs. This is the convention of
torchvision's published "GFLOPS" column (which counts MACs) and of ``torch.utils.flop_counter``
(which counts 2 FLOPs per MAC). The formulas for conv/mm/bmm/addmm/attention come from
``torch.utils.flop_counter``'s registry; only the fused recurrent kernels, which it does not
know, have formulas here. Every other op with arithmetic (ReLU, batch norm, pooling, additions,
softmax ...) is reported as *not counted*, by name, never silently as zero.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from netanatomy.capture.torch_private import OpOverload, flop_formula_macs

aten = torch.ops.aten


def _fused_rnn_macs(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    """MACs of a fused RNN kernel: for every time step and batch row, each 2-D weight
    (W_ih: G·H x I, W_hh: G·H x H, and W_hr: P x H with projections) is one matrix-vector product."""
    x = args[0]
    weights = args[1] if isinstance(args[1], (list, tuple)) else args[1:5]
    batch_first = _batch_first(args, kwargs)
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    if x.dim() == 2:  # unbatched or packed: one row per step
        steps, batch = x.shape[0], 1
    return int(steps * batch * sum(w.numel() for w in weights if isinstance(w, torch.Tensor) and w.dim() == 2))


def _batch_first(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if "batch_first" in kwargs:
        return bool(kwargs["batch_first"])
    # mkldnn_rnn_layer(input, w0, w1, w2, w3, hx, cx, reverse, batch_sizes, mode, hidden_size,
    #                  num_layers, has_biases, bidirectional, batch_first, train)
    if len(args) > 14 and isinstance(args[14], bool):
        return args[14]
    # _cudnn_rnn(input, weight, weight_stride0, weight_buf, hx, cx, mode, hidden_size, proj_size,
    #            num_layers, batch_first, ...)
    if len(args) > 10 and isinstance(args[10], bool):
        return args[10]
    return False


# Packets (not overloads) whose MACs are computed here because flop_counter has no formula.
_EXTRA_FORMULAS: dict[Any, Callable[[tuple[Any, ...], dict[str, Any], Any], int]] = {}
for _name in ("mkldnn_rnn_layer", "_cudnn_rnn", "miopen_rnn"):
    if hasattr(aten, _name):
        _EXTRA_FORMULAS[getattr(aten, _name)] = _fused_rnn_macs

#: Ops that move or create data without arithmetic: neither counted nor "uncounted".
NO_ARITHMETIC: frozenset[str] = frozenset(
    {
        "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "full",
        "full_like", "new_empty", "new_zeros", "new_ones", "new_full", "scalar_tensor", "arange",
        "fill_", "fill", "zero_", "copy_", "clone", "_to_copy", "contiguous", "lift_fresh",
        "lift_fresh_copy", "cat", "stack", "constant_pad_nd", "pad", "reflection_pad2d",
        "replication_pad2d", "embedding", "index_select", "index", "gather", "one_hot", "detach",
        "alias", "_unsafe_view", "repeat", "flip", "roll", "masked_fill", "masked_fill_", "where",
        "split_with_sizes_copy", "unsafe_split", "unsafe_chunk", "unbind", "split", "chunk",
        "bernoulli_", "native_dropout", "dropout", "rand", "randn", "rand_like", "randn_like",
        "_local_scalar_dense", "sym_size", "sym_stride", "sym_numel", "sym_storage_offset",
        "eq", "ne", "lt", "le", "gt", "ge", "sort", "topk", "argmax", "max_unpool2d",
        "channel_shuffle", "pixel_shuffle", "im2col", "col2im", "upsample_nearest2d",
        "upsample_nearest1d", "upsample_nearest3d", "_reshape_alias", "expand", "expand_copy",
        "_pack_padded_sequence", "_pad_packed_sequence",
    }
)


def op_macs(overload: OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int | None:
    """MACs of one op call, or None when no formula covers the op."""
    packet = overload.overloadpacket
    macs = flop_formula_macs(packet, args, kwargs, out)
    if macs is not None:
        return macs
    extra = _EXTRA_FORMULAS.get(packet)
    if extra is not None:
        return extra(args, kwargs, out)
    return None


def has_arithmetic(overload: OpOverload) -> bool:
    """False for views, data movement and tensor creation; True for ops that compute."""
    if overload.is_view:
        return False
    return overload.overloadpacket.__name__ not in NO_ARITHMETIC
