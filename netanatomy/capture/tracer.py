"""Capture a model's forward pass on meta tensors.

Why meta tensors: they carry shape, dtype and storage identity but no data, so a forward pass
through VGG16 at 8x3x1024x1024 allocates nothing and computes nothing, and a model that already
holds real weights is analysed without copying them: each parameter and buffer is swapped for a
meta stand-in for the duration of the call only, and put back in ``finally``. A tensor that the
forward creates or keeps outside the model's parameters (a constant, a plain attribute) is turned
into a meta tensor when an op first reads it.

What is recorded:
- every aten op (below autograd, so ``F.relu``, ``torch.cat``, ``x + y`` and ``x.view`` inside
  ``forward`` are all seen), with its tensor arguments linked to the op that produced them;
- the module each op ran in, from forward pre/post hooks that are removed afterwards;
- the tensors autograd saves for backward, through ``saved_tensors_hooks``.

The model is left exactly as it was: hooks removed and every module's ``training`` flag restored
in ``finally``; parameters and buffers are never written (in-place updates such as batch norm's
running statistics land on the meta stand-ins).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from netanatomy.capture.graph import (
    CONSTANT,
    GRAPH_INPUT,
    PARAMETER,
    Graph,
    ModuleCall,
    OpNode,
    TensorInfo,
    TensorRef,
)
from netanatomy.capture.lazy_torch import light_torch
from netanatomy.capture.light_shapes import plain_shapes
from netanatomy.capture.macs import op_macs
from netanatomy.capture.memo import SHARED as SHARED_MEMO
from netanatomy.capture.memo import compute, fast_leaves, fast_map
from netanatomy.errors import UserError

_BATCH_NORM = torch.ops.aten.native_batch_norm.default


class DataDependentError(RuntimeError):
    """The forward pass needs a tensor's value, which a meta tensor does not have."""


_VALUE_ERRORS = ("cannot be called on meta tensors", "data-dependent", "Cannot copy out of meta tensor",
                 "value cannot be converted", "item()")


def _storage_key(t: torch.Tensor) -> int:
    return int(t.untyped_storage()._cdata)


class _Recorder(TorchDispatchMode):
    """Records each aten op with its producer links; the innermost mode, so it sees every op."""

    def __init__(self, module_stack: list[str]) -> None:
        super().__init__()
        self.nodes: list[OpNode] = []
        self.module_stack = module_stack
        # id(tensor) -> (producer, output index, name). Every tensor seen is kept alive in
        # `_alive`, so an id is never reused during the capture.
        self.producer: dict[int, tuple[int, int, str]] = {}
        self._alive: list[torch.Tensor] = []
        self.seen_storages: set[int] = set()
        self._converted: dict[int, torch.Tensor] = {}
        self.memo = SHARED_MEMO
        self._refs: dict[int, TensorRef] = {}  # id(tensor) -> its TensorRef, until it is registered again

    def register(self, t: torch.Tensor, producer: int, index: int, name: str = "") -> None:
        self._refs.pop(id(t), None)
        self.producer[id(t)] = (producer, index, name)
        self._alive.append(t)
        self.seen_storages.add(_storage_key(t))

    def _to_meta(self, a: Any) -> Any:
        if isinstance(a, torch.Tensor) and a.device.type != "meta" and a.dim() > 0:
            meta = self._converted.get(id(a))
            if meta is None:
                meta = torch.empty_strided(a.shape, a.stride(), dtype=a.dtype, device="meta")
                self._converted[id(a)] = meta
                self._alive.append(a)
                self.register(meta, CONSTANT, 0)
            return meta
        return a

    def ref(self, t: torch.Tensor) -> TensorRef:
        cached = self._refs.get(id(t))
        if cached is not None and cached.shape == t.shape and cached.dtype == t.dtype:
            return cached
        entry = self.producer.get(id(t))
        if entry is None:
            self.register(t, CONSTANT, 0)
            entry = (CONSTANT, 0, "")
        ref = self._refs[id(t)] = TensorRef(entry[0], entry[1], tuple(t.shape), t.dtype, entry[2])
        return ref

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func.namespace == "prim":  # device/layout queries from autograd, not computation
            return func(*args, **kwargs)
        if func is torch.ops.aten._local_scalar_dense.default:
            raise DataDependentError("the forward reads a tensor's value (.item(), bool(), int())")
        args, kwargs = fast_map(self._to_meta, (tuple(args), dict(kwargs)))
        # memo hook (capture/memo.py): a repeat of a pure call reuses the first call's metadata and MACs
        memo_key, hit = self.memo.find(func, args, kwargs)
        out = compute(func, args, kwargs) if hit is None else hit.outputs()
        raw_out = out
        out = fast_map(self._to_meta, out)  # a factory without device= made a real tensor
        if func is _BATCH_NORM and not args[5]:
            # In eval mode PyTorch's CPU and CUDA kernels return empty save_mean/save_invstd;
            # the meta kernel returns C-sized ones, which autograd would then count as saved.
            out = (out[0], out[1].new_empty((0,)), out[2].new_empty((0,)))
        to_ref = lambda a: self.ref(a) if isinstance(a, torch.Tensor) else a  # noqa: E731
        node = OpNode(
            index=len(self.nodes),
            op=func.overloadpacket.__name__,
            overload=func,
            args=tuple(fast_map(to_ref, list(args))),
            kwargs=fast_map(to_ref, dict(kwargs)),
            outputs=[],
            module=self.module_stack[-1],
        )
        macs = op_macs(func, args, kwargs, out) if hit is None else hit.macs
        if memo_key is not None and hit is None:
            self.memo.store(memo_key, raw_out, macs, args, kwargs)
        node.macs, node.counted = (macs or 0), macs is not None
        flat_out = fast_leaves(out)
        for k, t in enumerate(x for x in flat_out if isinstance(x, torch.Tensor)):
            allocated = _storage_key(t) not in self.seen_storages
            node.outputs.append(TensorInfo(tuple(t.shape), t.dtype, t.numel() * t.element_size(), allocated))
            self.register(t, node.index, k)
        self.nodes.append(node)
        return out


def _module_paths(model: nn.Module) -> dict[int, str]:
    paths: dict[int, str] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        paths.setdefault(id(module), name)
    return paths


def _tensor_shapes(obj: Any) -> list[tuple[int, ...]]:
    flat, _ = tree_flatten(obj)
    return [tuple(t.shape) for t in flat if isinstance(t, torch.Tensor)]


@contextmanager
def _meta_state(model: nn.Module, cast: Any, recorder: _Recorder, param_storages: set[int]) -> Any:
    """Swap every parameter and buffer of ``model`` for a meta stand-in (shared tensors stay
    shared), yield their shapes by name, and put the originals back however the call ends."""
    originals: list[tuple[dict[str, Any], str, Any]] = []
    stand_ins: dict[int, torch.Tensor] = {}
    names: dict[int, str] = {}
    for name, t in [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]:
        names.setdefault(id(t), name)
    shapes: dict[str, tuple[int, ...]] = {}
    try:
        for prefix, module in model.named_modules(remove_duplicate=False):
            for table in (module._parameters, module._buffers):
                for key, t in list(table.items()):
                    if t is None:
                        continue
                    meta = stand_ins.get(id(t))
                    if meta is None:
                        meta = torch.empty_strided(t.shape, t.stride(), dtype=cast(t), device="meta")
                        if isinstance(t, nn.Parameter):
                            meta = nn.Parameter(meta, requires_grad=t.requires_grad)
                        stand_ins[id(t)] = meta
                        recorder.register(meta, PARAMETER, 0, names.get(id(t), f"{prefix}.{key}".lstrip(".")))
                        param_storages.add(_storage_key(meta))
                        shapes[names.get(id(t), key)] = tuple(t.shape)
                    originals.append((table, key, t))
                    table[key] = meta
        yield shapes
    finally:
        for table, key, t in reversed(originals):
            table[key] = t


def capture(
    model: nn.Module,
    input_sizes: Sequence[Sequence[int]],
    input_dtypes: Sequence[torch.dtype] | None = None,
    *,
    training: bool = False,
    dtype: torch.dtype | None = None,
) -> Graph:
    """Run ``model`` once on meta inputs of the given sizes and return the captured graph.

    Args:
        model: any ``nn.Module`` (real weights, meta weights, any device); it is not changed.
        input_sizes: one shape per positional input of ``forward``, batch dimension included.
        input_dtypes: dtype of each input (default float32; int64 for token indices).
        training: run in training mode (batch norm uses batch statistics, dropout is active,
            GoogLeNet's auxiliary heads run) instead of eval mode.
        dtype: cast floating-point parameters, buffers and inputs to this dtype (memory figures
            for float16/bfloat16); ``None`` keeps each tensor's own dtype.
    """
    dtypes = list(input_dtypes) if input_dtypes is not None else [torch.float32] * len(input_sizes)
    if len(dtypes) != len(input_sizes):
        raise ValueError("one dtype per input")
    paths = _module_paths(model)
    modes = [(m, m.training) for m in model.modules()]
    module_stack: list[str] = [""]
    calls: list[ModuleCall] = []
    open_calls: list[ModuleCall] = []
    handles: list[Any] = []
    recorder = _Recorder(module_stack)
    saved_bytes: dict[str, int] = {}
    saved_storages: set[int] = set()
    param_storages: set[int] = set()

    def cast(t: torch.Tensor) -> torch.dtype:
        return dtype if (dtype is not None and t.is_floating_point()) else t.dtype

    def pre_hook(module: nn.Module, args: Any) -> None:
        path = paths.get(id(module), type(module).__name__)
        call = ModuleCall(
            path=path,
            type=type(module).__name__,
            depth=0 if path == "" else path.count(".") + 1,
            first_node=len(recorder.nodes),
            end_node=-1,
            input_shapes=_tensor_shapes(args),
            output_shapes=[],
        )
        calls.append(call)
        open_calls.append(call)
        module_stack.append(path)

    def post_hook(module: nn.Module, args: Any, output: Any) -> None:
        call = open_calls.pop()
        module_stack.pop()
        call.end_node = len(recorder.nodes)
        call.output_shapes = _tensor_shapes(output)
        flat, _ = tree_flatten(output)
        call.output_refs = [recorder.ref(t) for t in flat if isinstance(t, torch.Tensor)]

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = _storage_key(t)
        if key not in param_storages and key not in saved_storages:
            saved_storages.add(key)
            owner = module_stack[-1]
            saved_bytes[owner] = saved_bytes.get(owner, 0) + t.untyped_storage().nbytes()
        return t

    try:
        for module in model.modules():
            handles.append(module.register_forward_pre_hook(pre_hook))
            handles.append(module.register_forward_hook(post_hook))
        model.train(training)
        with light_torch(), plain_shapes(), _meta_state(model, cast, recorder, param_storages) as param_shapes:
            inputs = []
            for i, (size, dt) in enumerate(zip(input_sizes, dtypes)):
                in_dtype = dtype if (dtype is not None and dt.is_floating_point) else dt
                x = torch.zeros(tuple(size), dtype=in_dtype, device="meta")
                recorder.register(x, GRAPH_INPUT, i)
                inputs.append(x)
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), recorder:
                output = model(*inputs)
        flat_out, _ = tree_flatten(output)
        outputs = [recorder.ref(t) for t in flat_out if isinstance(t, torch.Tensor)]
    except DataDependentError as exc:
        raise _data_dependent(module_stack[-1], exc) from None
    except (RuntimeError, ValueError) as exc:
        # A shape mismatch in the user's model or input: name the layer and the shapes.
        call = open_calls[-1] if open_calls else None
        where = f"layer {call.path!r} ({call.type})" if call and call.path else "the model's forward"
        shapes = " and ".join("x".join(map(str, s)) for s in call.input_shapes) if call else "?"
        msg = _first_line(exc)
        if any(v in msg for v in _VALUE_ERRORS):
            raise _data_dependent(module_stack[-1], exc) from None
        raise UserError(
            f"{where} failed on input {shapes}: {msg} (check --input: channels and size)"
        ) from None
    finally:
        for h in handles:
            h.remove()
        for module, was_training in modes:
            module.training = was_training
    input_infos = [
        TensorInfo(tuple(x.shape), x.dtype, x.numel() * x.element_size(), True) for x in inputs
    ]
    return Graph(
        nodes=recorder.nodes,
        calls=calls,
        inputs=input_infos,
        outputs=outputs,
        saved_bytes=saved_bytes,
        param_shapes=param_shapes,
        training=training,
    )


def _data_dependent(where: str, exc: BaseException) -> UserError:
    return UserError(
        f"the forward pass depends on tensor values at layer {where or 'the model itself'!r} "
        f"({_first_line(exc)}); netanatomy analyses shapes without computing values, so control flow "
        "and shapes in forward must depend only on the input's shape"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
