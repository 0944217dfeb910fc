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

Inputs (see :mod:`netanatomy.capture.inputs`) are placeholders that become meta tensors, or real
CPU tensors that stay real (a packed sequence's lengths must be readable); an op that mixes a
real tensor with meta ones runs on a meta copy of it. Lazy layers are materialised by the
analysis before it captures (:func:`materialized_copy`); TorchScript modules take no hooks, so
an op that reads a scripted submodule's parameter (or a view of one) is attributed to that
submodule, and any other op to the nearest eager module above (the top level for a scripted
model), totals unchanged. ``real=True`` (``--materialize``) runs everything for real on the CPU,
for forwards that read tensor values.

Errors: an op that needs values (``.item()``, ``nonzero``...) raises :class:`UserError` naming
the layer and the op and offering ``--materialize``; an op or an ``nn`` layer that refuses its
arguments, or the user's own forward code raising, is a :class:`UserError` naming the layer (and
``--input`` only when that layer reads the model's input directly); anything raised inside
netanatomy itself propagates unchanged, as an internal error.

The model is left exactly as it was: hooks removed and every module's ``training`` flag restored
in ``finally``; parameters and buffers are never written (in-place updates such as batch norm's
running statistics land on the meta stand-ins).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import os
import sys
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter, is_lazy

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
from netanatomy.capture.inputs import TensorSpec, describe, dtype_name, random_like_spec
from netanatomy.capture.light_shapes import plain_shapes
from netanatomy.capture.limits import check_input_sizes
from netanatomy.capture.macs import op_macs
from netanatomy.capture.memo import SHARED as SHARED_MEMO
from netanatomy.capture.memo import compute, fast_leaves, fast_map, op_info
from netanatomy.capture.memo import disabled as memo_disabled
from netanatomy.capture.memo import enabled as memo_enabled
from netanatomy.capture.replay import Replayer, replayable
from netanatomy.capture.torch_private import (
    LOCAL_SCALAR_DENSE,
    TorchDispatchMode,
    distribution_validation_off,
    dynamo_stand_in,
    module_tensor_tables,
    outer_modes_active,
    storage_key,
    tree_flatten,
    tree_map,
)
from netanatomy.errors import UserError

_BATCH_NORM = torch.ops.aten.native_batch_norm.default
_ITEM = LOCAL_SCALAR_DENSE
_TO_COPY = torch.ops.aten._to_copy.default

#: How the forward reads a value, by op, for the message.
_VALUE_READS = {"_local_scalar_dense": ".item(), int(), float(), bool() or `if tensor:`"}

#: Messages of meta kernels that cannot run without values (PyTorch's own words).
_VALUE_ERRORS = ("cannot be called on meta tensors", "data-dependent", "Cannot copy out of meta tensor",
                 "value cannot be converted", "item()", "without output_size", "no fake impl or Meta kernel",
                 "raises unimplemented by default")


def needs_values(exc: BaseException) -> bool:
    """Whether ``exc`` is a meta kernel (or a builder on meta) refusing for want of tensor values."""
    return any(v in str(exc) for v in _VALUE_ERRORS)

_SMALL_REAL_BYTES = 64 * 1024

MATERIALIZE_HINT = ("rerun with --materialize (Python: materialize=True) to run it once on the CPU with real "
                    "weights and random inputs")


class CaptureFailure(RuntimeError):
    """An op of the user's forward failed; raised inside the dispatch, turned into a UserError."""

    def __init__(self, op: str, message: str, module: str, reads_input: list[int], data_dependent: bool) -> None:
        super().__init__(message)
        self.op = op
        self.message = message
        self.module = module
        self.reads_input = reads_input  # graph-input indices the op read directly
        self.data_dependent = data_dependent


# Kept for callers that catch it by name.
DataDependentError = CaptureFailure


def _is_script(module: nn.Module) -> bool:
    return isinstance(module, torch.jit.ScriptModule)


def module_type(module: nn.Module) -> str:
    """The class name; for a TorchScript module, the name of the class it was scripted from."""
    if _is_script(module):
        return str(getattr(module, "original_name", type(module).__name__))
    return type(module).__name__


class _Recorder(TorchDispatchMode):
    """Records each aten op with its producer links; the innermost mode, so it sees every op."""

    def __init__(self, module_stack: list[str], real: bool = False) -> None:
        super().__init__()
        self.nodes: list[OpNode] = []
        self.module_stack = module_stack
        self.real = real  # --materialize: run every op for real, convert nothing
        # id(tensor) -> (producer, output index, name). Every tensor seen is kept alive in
        # `_alive`, so an id is never reused during the capture.
        self.producer: dict[int, tuple[int, int, str]] = {}
        self._alive: list[torch.Tensor] = []
        self.seen_storages: set[int] = set()
        self._converted: dict[int, torch.Tensor] = {}
        self.kept_real: set[int] = set()  # real CPU tensors from the inputs, and what ops made of them
        self.failure: CaptureFailure | None = None
        # TorchScript takes no hooks; an op that reads a scripted module's parameter (or a view
        # of one: linear's transposed weight) ran in that module: id(tensor) -> module path.
        self.script_owner: dict[int, str] = {}
        self.script_types: dict[str, str] = {}
        self.script_calls: dict[str, ModuleCall] = {}
        self.memo = SHARED_MEMO
        self._refs: dict[int, TensorRef] = {}  # id(tensor) -> its TensorRef, until it is registered again
        self._keys: dict[int, Any] = {}  # id(tensor) -> its memo key (memo._arg_key_cached)
        # While a module replay records a first call: (storage key, bytes) of each tensor that
        # autograd saves (capture/replay.py).
        self.save_log: list[tuple[int, int]] | None = None

    def register(self, t: torch.Tensor, producer: int, index: int, name: str = "") -> None:
        self._refs.pop(id(t), None)
        self.producer[id(t)] = (producer, index, name)
        self._alive.append(t)
        self.seen_storages.add(storage_key(t))

    def stand_in(self, original: torch.Tensor, meta: torch.Tensor, name: str) -> None:
        """Let ``meta`` stand for ``original`` whenever an op reads it (TorchScript parameters)."""
        self._converted[id(original)] = meta
        self._alive.append(original)
        self.register(meta, PARAMETER, 0, name)

    def _to_meta(self, a: Any, keep: bool = True) -> Any:
        if isinstance(a, torch.Tensor) and a.device.type != "meta" and a.dim() > 0:
            if keep and id(a) in self.kept_real:
                return a
            meta = self._converted.get(id(a))
            if meta is None:
                meta = torch.empty_strided(a.shape, a.stride(), dtype=a.dtype, device="meta")
                self._converted[id(a)] = meta
                self._alive.append(a)
                entry = self.producer.get(id(a))  # a kept-real input keeps its identity
                if entry is None:
                    self.register(meta, CONSTANT, 0)
                else:
                    self.register(meta, *entry)
            return meta
        return a

    def ref(self, t: torch.Tensor) -> TensorRef:
        if is_lazy(t):  # a lazy layer materialising its own parameter: no shape yet
            return TensorRef(CONSTANT, 0, (), t.dtype)
        cached = self._refs.get(id(t))
        if cached is not None and cached.shape == t.shape and cached.dtype == t.dtype:
            return cached
        entry = self.producer.get(id(t))
        if entry is None:
            self.register(t, CONSTANT, 0)
            entry = (CONSTANT, 0, "")
        ref = self._refs[id(t)] = TensorRef(entry[0], entry[1], tuple(t.shape), t.dtype, entry[2])
        return ref

    def _fail(self, func: Any, message: str, tensors: list[Any], data_dependent: bool) -> CaptureFailure:
        reads = sorted({e[1] for t in tensors if isinstance(t, torch.Tensor)
                        for e in [self.producer.get(id(t))] if e is not None and e[0] == GRAPH_INPUT})
        self.failure = CaptureFailure(f"aten.{func.overloadpacket.__name__}", message, self.module_stack[-1],
                                      reads, data_dependent)
        return self.failure

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func.namespace == "prim":  # device/layout queries from autograd, not computation
            return func(*args, **kwargs)
        if func is _ITEM and not self.real and args[0].device.type == "meta":
            raise self._fail(func, f"the forward reads a tensor's value ({_VALUE_READS[_ITEM.overloadpacket.__name__]})",
                             [args[0]], True)
        tensors = [a for a in fast_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        if not self.real:
            # Most calls read only meta tensors, which _to_meta would leave as they are.
            if any(t.device.type != "meta" for t in tensors):
                args, kwargs = fast_map(self._to_meta, (tuple(args), dict(kwargs)))
                tensors = [a for a in fast_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
            if func is _TO_COPY and args[0].device.type == "meta" and kwargs.get("device") not in (None, "meta"):
                # x.cpu() / x.to("cuda") of a meta tensor: the copy stays meta; only reading its
                # values (caught above) would need data.
                kwargs = {**kwargs, "device": torch.device("meta")}
        # memo hook (capture/memo.py): a repeat of a pure call on meta tensors reuses the first
        # call's output metadata and MACs (a call with a real tensor is never memoised).
        memo_key, hit = self.memo.find(func, args, kwargs, self._keys) if not self.real else (None, None)
        out = self._run(func, args, kwargs, tensors) if hit is None else hit.outputs()
        if op_info(func).writes:
            for t in tensors:  # an op that writes may change its argument's metadata (unsqueeze_)
                self._keys.pop(id(t), None)
        raw_out = out
        self.failure = None  # an op failure that the forward caught and survived explains nothing
        # A real output of an op that read tensors is real on purpose (only kept-real tensors went
        # in, or the op returns host data, as packing returns its batch sizes on the CPU).
        stays_real = bool(tensors)
        if not self.real and not stays_real:
            # A factory without device= made a real tensor. A small one stays real: PyTorch's
            # C++ kernels write into their own host buffers (pad_packed_sequence's lengths), and
            # an op that reads it with meta tensors gets a meta copy. A large one becomes meta
            # at once, so that a capture never allocates real memory worth the name.
            out = tree_map(lambda a: a if isinstance(a, torch.Tensor) and a.nbytes <= _SMALL_REAL_BYTES
                           else self._to_meta(a), out)
        if func is _BATCH_NORM and not args[5]:
            # In eval mode PyTorch's CPU and CUDA kernels return empty save_mean/save_invstd;
            # the meta kernel returns C-sized ones, which autograd would then count as saved.
            out = (out[0], out[1].new_empty((0,)), out[2].new_empty((0,)))
        to_ref = lambda a: self.ref(a) if isinstance(a, torch.Tensor) else a  # noqa: E731
        node = OpNode(
            index=len(self.nodes),
            op=op_info(func).name,
            overload=func,
            args=tuple(fast_map(to_ref, list(args))),
            kwargs=fast_map(to_ref, dict(kwargs)) if kwargs else {},
            outputs=[],
            module=self.module_stack[-1],
        )
        macs = op_macs(func, args, kwargs, out) if hit is None else hit.macs
        if memo_key is not None and hit is None:
            self.memo.store(memo_key, raw_out, macs, args, kwargs)
        node.macs, node.counted = (macs or 0), macs is not None
        flat_out = fast_leaves(out)
        for k, t in enumerate(x for x in flat_out if isinstance(x, torch.Tensor)):
            allocated = storage_key(t) not in self.seen_storages
            node.outputs.append(TensorInfo(tuple(t.shape), t.dtype, t.numel() * t.element_size(), allocated))
            self.register(t, node.index, k)
            if stays_real and t.device.type != "meta":
                self.kept_real.add(id(t))
        if self.script_owner:
            self._attribute_to_script_module(func, node, tensors, out)
        self.nodes.append(node)
        return out

    def _attribute_to_script_module(self, func: Any, node: OpNode, tensors: list[torch.Tensor], out: Any) -> None:
        owners = {self.script_owner[id(t)] for t in tensors if id(t) in self.script_owner}
        here = self.module_stack[-1]
        if len(owners) != 1:
            return
        path = owners.pop()
        if path == here or not (here == "" or path.startswith(here + ".")):
            return
        node.module = path
        outs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        if func.is_view:
            for t in outs:
                self.script_owner[id(t)] = path
        call = self.script_calls.get(path)
        if call is None:
            call = ModuleCall(path=path, type=self.script_types.get(path, ""), depth=path.count(".") + 1,
                              first_node=node.index, end_node=node.index + 1,
                              input_shapes=[tuple(t.shape) for t in tensors if id(t) not in self.script_owner],
                              output_shapes=[])
            self.script_calls[path] = call
        call.end_node = node.index + 1
        call.output_shapes = [tuple(t.shape) for t in outs]
        call.output_refs = [self.ref(t) for t in outs]

    def _run(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], tensors: list[torch.Tensor]) -> Any:
        """Run one op; turn its refusal into a CaptureFailure that names it."""
        try:
            return compute(func, args, kwargs)  # through a hand-written shape rule where one applies
        except (RuntimeError, ValueError, IndexError, TypeError, NotImplementedError) as exc:
            message = _first_line(exc)
            mixed = any(t.device.type == "meta" for t in tensors) and any(id(t) in self.kept_real for t in tensors)
            if mixed and "device" in message:
                # A real input met meta weights: this op needs no values, so give it a meta copy.
                args, kwargs = tree_map(lambda a: self._to_meta(a, keep=False), (tuple(args), dict(kwargs)))
                return self._run(func, args, kwargs, [self._to_meta(t, keep=False) for t in tensors])
            on_meta = any(t.device.type == "meta" for t in tensors)
            data_dependent = on_meta and (isinstance(exc, NotImplementedError)
                                          or any(v in message for v in _VALUE_ERRORS)
                                          or ("CPU" in message and " meta " in message))
            if "device" in message and not data_dependent:
                raise  # a device mix-up that the capture made: ours, not the user's
            raise self._fail(func, message, tensors, data_dependent) from exc


def output_tensors(obj: Any) -> list[torch.Tensor]:
    """The tensors of a forward's result, each once: pytree containers (tuples, dicts,
    NamedTuples, Hugging Face outputs) and ``torch.distributions`` objects (their parameters)."""
    t = type(obj)
    if t is torch.Tensor:  # the common cases, without pytree: a module's output, its (x,) input
        return [obj]
    if t is tuple and len(obj) == 1 and type(obj[0]) is torch.Tensor:
        return [obj[0]]
    found: dict[int, torch.Tensor] = {}
    _visit(obj, 0, found, sys.modules.get("torch.distributions"))
    return list(found.values())


def _visit(o: Any, depth: int, found: dict[int, torch.Tensor], distributions: Any) -> None:
    # (a function of its own: a nested function that calls itself is a reference cycle)
    for leaf in tree_flatten(o)[0]:
        if isinstance(leaf, torch.Tensor):
            found.setdefault(id(leaf), leaf)
        elif distributions is not None and isinstance(leaf, distributions.Distribution) and depth < 8:
            _visit([v for v in vars(leaf).values() if isinstance(v, (torch.Tensor, distributions.Distribution))],
                   depth + 1, found, distributions)


def _tensor_shapes(obj: Any) -> list[tuple[int, ...]]:
    return [tuple(t.shape) for t in output_tensors(obj)]


@contextmanager
def _meta_state(walk: list[tuple[str, nn.Module]], cast: Any, recorder: _Recorder, param_storages: set[int],
                real: bool) -> Any:
    """Swap every parameter and buffer of the model for a meta stand-in (shared tensors stay
    shared), yield their shapes by name, and put the originals back however the call ends.
    ``walk`` is the model's ``named_modules(remove_duplicate=False)``.

    TorchScript modules keep their tensors (the script reads them from C++), and the recorder maps
    each one to its stand-in when an op reads it. Lazy (uninitialised) tensors are left for the
    layer to materialise. With ``real``, parameters stay as they are and buffers are replaced by
    copies, so that batch norm's running statistics are not written."""
    originals: list[tuple[dict[str, Any], str, Any]] = []
    stand_ins: dict[int, torch.Tensor] = {}
    names: dict[int, str] = {}
    # Each tensor's name as named_parameters(), then named_buffers() (remove_duplicate=False)
    # give it, from the walk of the modules (``walk``: named_modules(remove_duplicate=False)).
    for k in (0, 1):
        for prefix, module in walk:
            for key, t in module_tensor_tables(module)[k].items():
                if t is not None:
                    names.setdefault(id(t), f"{prefix}.{key}" if prefix else key)
    shapes: dict[str, tuple[int, ...]] = {}
    try:
        for prefix, module in walk:
            script = _is_script(module)
            for table in module_tensor_tables(module):
                for key, t in list(table.items()):
                    # Exact types first: isinstance against Parameter's metaclass is a Python call.
                    plain = type(t) is nn.Parameter or type(t) is torch.Tensor
                    if t is None or (not plain and is_lazy(t)):
                        continue
                    new = stand_ins.get(id(t))
                    if new is None:
                        name = names.get(id(t)) or f"{prefix}.{key}".lstrip(".")
                        if real:
                            new = t if isinstance(t, nn.Parameter) else t.clone()
                        elif script and t.device.type == "meta":
                            new = t
                        else:
                            new = torch.empty_strided(t.shape, t.stride(), dtype=cast(t), device="meta")
                            if type(t) is nn.Parameter or (not plain and isinstance(t, nn.Parameter)):
                                new = nn.Parameter(new, requires_grad=t.requires_grad)
                        stand_ins[id(t)] = new
                        if script and new is not t:
                            recorder.stand_in(t, new, name)
                        else:
                            recorder.register(new, PARAMETER, 0, name)
                        if script:
                            recorder.script_owner[id(new)] = name.rpartition(".")[0]
                        param_storages.add(storage_key(new))
                        shapes[names.get(id(t)) or key] = tuple(t.shape)
                    if not script and new is not t:
                        originals.append((table, key, t))
                        table[key] = new
        yield shapes
    finally:
        for table, key, t in reversed(originals):
            table[key] = t


class _SavedBytes:
    """The ``saved_tensors_hooks`` pack hook: counts the bytes of each storage autograd saves, once,
    for the module that saved it (parameters excluded).

    Why a class, emptied by :meth:`release` when the capture ends: autograd keeps the pack hook
    alive for as long as a saved tensor's node lives, and those nodes belong to the capture's own
    meta tensors, which the recorder keeps. A closure over the recorder made a cycle through C++
    that Python's collector cannot see, so every capture of a model stayed in memory for good."""

    __slots__ = ("module_stack", "param_storages", "recorder", "saved_bytes", "saved_storages")

    def __init__(self, recorder: _Recorder, module_stack: list[str], param_storages: set[int],
                 saved_bytes: dict[str, int]) -> None:
        self.recorder: _Recorder | None = recorder
        self.module_stack = module_stack
        self.param_storages = param_storages
        self.saved_storages: set[int] = set()
        self.saved_bytes = saved_bytes

    def count(self, key: int, nbytes: int) -> None:
        if key not in self.param_storages and key not in self.saved_storages:
            self.saved_storages.add(key)
            owner = self.module_stack[-1]
            self.saved_bytes[owner] = self.saved_bytes.get(owner, 0) + nbytes

    def pack(self, t: torch.Tensor) -> weakref.ref[torch.Tensor]:
        key = storage_key(t)
        recorder = self.recorder
        nbytes = t.untyped_storage().nbytes()
        if recorder is not None and recorder.save_log is not None:
            recorder.save_log.append((key, nbytes))
        self.count(key, nbytes)
        # A weak reference: the tensor itself, kept by the node that made it (ReLU saves its own
        # output), would be a cycle through C++ that no collector frees. The recorder keeps every
        # tensor of the capture alive, so a backward inside the forward still finds it.
        return weakref.ref(t)

    def release(self) -> None:
        self.recorder = None
        self.module_stack, self.param_storages, self.saved_storages, self.saved_bytes = [""], set(), set(), {}


def _unpack(ref: weakref.ref[torch.Tensor]) -> torch.Tensor:
    t = ref()
    if t is None:  # only a backward run after the capture ended (its meta tensors are gone)
        raise RuntimeError("a tensor saved during a netanatomy capture was used after the capture ended")
    return t


def _make_input(leaf: Any, cast: torch.dtype | None, real: bool, recorder: _Recorder, index: list[int]) -> Any:
    if isinstance(leaf, TensorSpec):
        dt = cast if (cast is not None and leaf.dtype.is_floating_point) else leaf.dtype
        spec = TensorSpec(tuple(leaf.shape), dt)
        x = random_like_spec(spec) if real else torch.zeros(spec.shape, dtype=dt, device="meta")
    elif isinstance(leaf, torch.Tensor):
        x = leaf.detach()
        if cast is not None and x.is_floating_point():
            x = x.to(cast)
        if real and x.device.type == "meta":
            raise UserError("materialize runs a real forward: give real tensors, or TensorSpec/sizes, not meta tensors")
        if not real and x.device.type not in ("cpu", "meta"):
            x = torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device="meta")
        if x.device.type == "cpu":
            recorder.kept_real.add(id(x))
    else:
        return leaf
    recorder.register(x, GRAPH_INPUT, index[0])
    index[0] += 1
    return x


_paused = [0, False]  # [depth of nested gc_paused blocks, whether the first full collection ran]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block, and back as it was after it.

    Why: a capture makes tens of thousands of small objects (nodes, references, tuples) that
    stay alive until it returns, so the collector's scans during it find nothing to free, yet
    each full scan walks every object of the process (torch alone leaves ~200,000): measured on
    DenseNet-121, 20 captures in a row took 83 ms each with the collector on, 52 ms with it off.
    Nothing here makes cycles that must be freed early; the collector runs as usual afterwards.

    The first time the outermost block ends in a process (the first analysis, which imported the
    capture, the receptive-field engine and PyTorch's meta kernels), it runs one full collection
    if one is due: Python has run as many young-generation collections since its last full one as
    its threshold allows (``gc.get_count()[2]``), which ``import torch`` alone brings about. Due,
    it comes with the next collection of the middle generation, wherever that falls: measured
    with ``gc.callbacks``, in torchinfo's first call (49 ms on ResNet-101), and in our second
    analysis when nothing ran it earlier (84 ms of a 110 ms call). Run here, it is part of the
    first call, which already waits on imports; a process about to exit would run it anyway
    (CPython collects at shutdown).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    _paused[0] += 1
    try:
        yield
    finally:
        _paused[0] -= 1
        if was_enabled:
            gc.enable()
            if _paused[0] == 0 and not _paused[1]:
                _paused[1] = True
                if gc.get_count()[2] >= gc.get_threshold()[2]:
                    gc.collect()


def capture(
    model: nn.Module,
    input_sizes: Sequence[Sequence[int]] | None = None,
    input_dtypes: Sequence[torch.dtype] | None = None,
    *,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    training: bool = False,
    dtype: torch.dtype | None = None,
    real: bool = False,
) -> Graph:
    """Run ``model`` once on meta inputs and return the captured graph.

    Args:
        model: any ``nn.Module`` (real weights, meta weights, any device; TorchScript too); it is
            not changed. Lazy layers must be materialised first (:func:`materialized_copy`).
        input_sizes: one shape per positional input of ``forward``, batch dimension included
            (``()`` for a 0-d input); ignored when ``args`` or ``kwargs`` is given.
        input_dtypes: dtype of each input (default float32; int64 for token indices).
        args: positional inputs instead of sizes; see :mod:`netanatomy.capture.inputs`.
        kwargs: keyword inputs of ``forward``, in the same forms.
        training: run in training mode (batch norm uses batch statistics, dropout is active,
            GoogLeNet's auxiliary heads run) instead of eval mode.
        dtype: cast floating-point parameters, buffers and inputs to this dtype (memory figures
            for float16/bfloat16); ``None`` keeps each tensor's own dtype.
        real: run every op for real on the CPU (the model must hold real weights): for forwards
            that read tensor values. Placeholders become random tensors.
    """
    # Modes of the caller's own (a FlopCounterMode around the call, FakeTensorMode...) must see
    # every op, which a memo hit or a replayed layer would not run: both stay off under them.
    with gc_paused(), (memo_disabled() if outer_modes_active() else contextlib.nullcontext()):
        return _capture(model, input_sizes, input_dtypes, args, kwargs, training, dtype, real)


def _capture(model: nn.Module, input_sizes: Sequence[Sequence[int]] | None, input_dtypes: Sequence[torch.dtype] | None,
             args: Sequence[Any] | None, kwargs: dict[str, Any] | None, training: bool, dtype: torch.dtype | None,
             real: bool) -> Graph:
    if args is None and kwargs is None:
        sizes = list(input_sizes or [])
        dtypes = list(input_dtypes) if input_dtypes is not None else [torch.float32] * len(sizes)
        if len(dtypes) != len(sizes):
            raise ValueError("one dtype per input")
        args = [TensorSpec(tuple(s), d) for s, d in zip(sizes, dtypes)]
    # The limits hold for every placeholder, however the inputs are nested (limits.py).
    check_input_sizes([leaf.shape for leaf in tree_flatten((list(args or []), dict(kwargs or {})))[0]
                       if isinstance(leaf, TensorSpec)])
    if real and dtype is not None:
        raise UserError("materialize computes in the model's own dtype: drop --dtype")
    if real and any(t.device.type == "meta" for t in [*model.parameters(), *model.buffers()] if not is_lazy(t)):
        raise UserError("materialize runs a real forward, but the model's weights are on the meta device: "
                        "build it on the CPU")
    # One walk of the module tree serves every table below (each of PyTorch's own walks costs
    # about a millisecond on DenseNet-121's 433 modules): the path of each module (its first),
    # the modules once each in model.modules() order, and their training flags.
    walk = list(model.named_modules(remove_duplicate=False))
    paths: dict[int, str] = {}
    unique: dict[int, nn.Module] = {}
    for name, m in walk:
        paths.setdefault(id(m), name)
        unique.setdefault(id(m), m)
    modules = list(unique.values())
    modes = [(m, m.training) for m in modules]
    module_stack: list[str] = [""]
    calls: list[ModuleCall] = []
    open_calls: list[ModuleCall] = []
    handles: list[Any] = []
    recorder = _Recorder(module_stack, real=real)
    recorder.script_types = {paths[id(m)]: module_type(m) for m in modules if _is_script(m)}
    saved_bytes: dict[str, int] = {}
    param_storages: set[int] = set()
    inputs: list[torch.Tensor] = []

    def cast(t: torch.Tensor) -> torch.dtype:
        return dtype if (dtype is not None and t.is_floating_point()) else t.dtype

    def pre_hook(module: nn.Module, hook_args: Any) -> None:
        path = paths.get(id(module), type(module).__name__)
        flat = output_tensors(hook_args)
        call = ModuleCall(
            path=path,
            type=module_type(module),
            depth=0 if path == "" else path.count(".") + 1,
            first_node=len(recorder.nodes),
            end_node=-1,
            input_shapes=[tuple(t.shape) for t in flat],
            output_shapes=[],
        )
        call.reads_input = sorted({e[1] for t in flat for e in [recorder.producer.get(id(t))]
                                   if e is not None and e[0] == GRAPH_INPUT})
        calls.append(call)
        open_calls.append(call)
        module_stack.append(path)

    def post_hook(module: nn.Module, hook_args: Any, output: Any) -> None:
        call = open_calls.pop()
        module_stack.pop()
        call.end_node = len(recorder.nodes)
        flat = output_tensors(output)
        call.output_shapes = [tuple(t.shape) for t in flat]
        call.output_refs = [recorder.ref(t) for t in flat]

    saving = _SavedBytes(recorder, module_stack, param_storages, saved_bytes)
    count_saved = saving.count

    # Which modules' calls are recorded: the model's own, except TorchScript ones (they take no
    # hooks: their ops go to the nearest eager module above). Two process-wide hooks see them all
    # (registering 2 hooks on each of 433 modules and removing them cost ~3 ms a capture); a
    # module with hooks of its own gets ours on itself instead, after its own, as before, so that
    # we see the output its hooks may replace.
    recorded: set[int] = set()
    own_hooks: list[nn.Module] = []
    for m in modules:
        if _is_script(m):
            continue
        if m._forward_hooks or m._forward_pre_hooks:
            own_hooks.append(m)
        else:
            recorded.add(id(m))

    # Standard torch.nn layers replay an earlier call with the same metadata (capture/replay.py):
    # their forward is swapped, on the instance, for the replayer's for the capture's duration.
    replayer = Replayer(recorder, module_stack, count_saved)
    replayed: list[nn.Module] = []
    if not real and memo_enabled() and not recorder.script_types:
        replayed = [m for m in modules if id(m) in recorded and replayable(m)]

    def global_pre_hook(module: nn.Module, hook_args: Any) -> None:
        if id(module) in recorded:
            pre_hook(module, hook_args)

    def global_post_hook(module: nn.Module, hook_args: Any, output: Any) -> None:
        if id(module) in recorded:
            post_hook(module, hook_args, output)

    try:
        handles.append(register_module_forward_pre_hook(global_pre_hook))
        handles.append(register_module_forward_hook(global_post_hook))
        for module in own_hooks:
            handles.append(module.register_forward_pre_hook(pre_hook))
            handles.append(module.register_forward_hook(post_hook))
        for module in replayed:
            vars(module)["forward"] = functools.partial(replayer.forward, module)
        if not all(m.training == training and type(m).train is nn.Module.train for m in modules):
            model.train(training)  # (already in that mode, with PyTorch's own train(): a no-op)
        with dynamo_stand_in(), plain_shapes(), distribution_validation_off(), \
                _meta_state(walk, cast, recorder, param_storages, real) as param_shapes:
            counter = [0]
            call_args, call_kwargs = tree_map(lambda leaf: _make_input(leaf, dtype, real, recorder, counter),
                                              (tuple(args or ()), dict(kwargs or {})))
            inputs = [t for t in tree_flatten((call_args, call_kwargs))[0] if isinstance(t, torch.Tensor)]
            with torch.autograd.graph.saved_tensors_hooks(saving.pack, _unpack), recorder:
                output = model(*call_args, **call_kwargs)
        outputs = [recorder.ref(t) for t in output_tensors(output)]
    except UserError:
        raise
    except Exception as exc:
        raise _explain(exc, recorder, open_calls, inputs) from None
    finally:
        saving.release()
        for h in handles:
            h.remove()
        for module in replayed:
            vars(module).pop("forward", None)
        for module, was_training in modes:
            if module.training is not was_training:  # (nn.Module's __setattr__ is slow Python)
                module.training = was_training
    if recorder.script_calls:  # scripted modules seen through their parameters, in order
        calls = sorted([*calls, *recorder.script_calls.values()], key=lambda c: (c.first_node, c.depth))
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


_TORCH_DIR = os.path.dirname(torch.__file__)
_OUR_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ZOO_DIR = os.path.join(_OUR_DIR, "zoo") + os.sep
_REPLAY_FILE = os.path.join(_OUR_DIR, "capture", "replay.py")  # the zoo's forwards are models like the user's
#: torch's Python front ends whose checks of their arguments are the user's to fix.
_ARGUMENT_CHECKS = tuple(os.path.join(_TORCH_DIR, "nn", d) for d in ("functional.py", "utils", "modules"))
_TORCH_CHECKS = tuple(os.path.join(_TORCH_DIR, d) for d in ("nn", "distributions", "functional.py", "_tensor.py"))


def _explain(exc: Exception, recorder: _Recorder, open_calls: list[ModuleCall], inputs: list[torch.Tensor]) -> BaseException:
    """A UserError naming the layer, the op and the way forward, when the failure is the model's
    or its input's; the exception itself, unchanged, when it is ours (an internal error)."""
    failure = recorder.failure
    call = open_calls[-1] if open_calls else None
    if failure is not None:
        where = _where(failure.module, call)
        if failure.data_dependent:
            return UserError(f"{where} needs tensor values that a meta capture does not have: {failure.op} "
                             f"({failure.message}); {MATERIALIZE_HINT}")
        shapes = f" on {' and '.join(describe(x) for x in call.input_shapes)}" \
            if call is not None and call.path == failure.module and call.input_shapes else ""
        return UserError(f"{where} failed in {failure.op}{shapes}: {failure.message}"
                         f"{_input_hint(failure.reads_input, inputs)}")
    frames = _frames(exc)[1:]  # below capture(): the model's forward and what it called
    if frames and frames[-1] == _REPLAY_FILE:
        return exc  # raised in the replay itself: our bug
    # The replay stands between a layer's call and its own forward: not where anything is raised.
    frames = [f for f in frames if f != _REPLAY_FILE]
    innermost = frames[-1] if frames else ""
    if any(f.startswith(_OUR_DIR + os.sep) and not f.startswith(_ZOO_DIR) for f in frames):
        return exc  # raised in netanatomy's own code (a hook, the recorder): our bug
    if innermost.startswith(_TORCH_DIR + os.sep) and not innermost.startswith(_TORCH_CHECKS):
        return exc  # deep inside torch, not an argument check: not known to be the user's
    if not isinstance(exc, (RuntimeError, ValueError, TypeError, IndexError, KeyError, AssertionError,
                            AttributeError, NotImplementedError)):
        return exc
    where = _where(call.path if call else "", call)
    # torch.nn's own argument checks ("expected 4D input") blame the input when the layer read it.
    checks = innermost.startswith(_ARGUMENT_CHECKS) and not innermost.endswith(os.path.join("modules", "module.py"))
    reads = call.reads_input if call and checks else []
    return UserError(f"{where} raised {type(exc).__name__}: {_first_line(exc)}{_input_hint(reads, inputs)}")


def _where(path: str, call: ModuleCall | None) -> str:
    if not path:
        return "the model's own forward"
    kind = f" ({call.type})" if call is not None and call.path == path else ""
    return f"layer {path!r}{kind}"


def _input_hint(reads: list[int], inputs: list[torch.Tensor]) -> str:
    """Point at --input only when the failing layer or op read the model's input directly."""
    shown = [f"{describe(tuple(inputs[i].shape))}:{dtype_name(inputs[i].dtype)}" for i in reads if i < len(inputs)]
    if shown:
        return f" (it reads the model's input {', '.join(shown)} directly: check --input, its size and dtype)"
    if inputs:  # a layer deep inside: the input may or may not be the cause; show it, blame nothing
        return f" (model input {', '.join(f'{describe(tuple(x.shape))}:{dtype_name(x.dtype)}' for x in inputs)})"
    return ""


def _frames(exc: BaseException) -> list[str]:
    files: list[str] = []
    tb = exc.__traceback__
    while tb is not None:
        files.append(os.path.abspath(tb.tb_frame.f_code.co_filename))
        tb = tb.tb_next
    return files


def materialized_copy(model: nn.Module, args: Sequence[Any], kwargs: dict[str, Any] | None = None) -> nn.Module:
    """For a model with lazy layers (``nn.LazyLinear``...): a copy on the meta device whose lazy
    layers have inferred their shapes from one meta forward on these inputs. The model itself is
    not touched (its weights are not copied: every tensor of the copy is a meta stand-in)."""
    memo: dict[int, Any] = {}
    for t in [*model.parameters(), *model.buffers()]:
        if isinstance(t, UninitializedParameter):
            memo[id(t)] = UninitializedParameter(requires_grad=t.requires_grad, device="meta", dtype=t.dtype)  # type: ignore[call-arg]
        elif isinstance(t, UninitializedBuffer):
            memo[id(t)] = UninitializedBuffer(requires_grad=t.requires_grad, device="meta", dtype=t.dtype)  # type: ignore[call-arg]
        else:
            meta = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta")
            memo[id(t)] = nn.Parameter(meta, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else meta
    copied = copy.deepcopy(model, memo)
    # The lazy layers' own pre-hooks infer the shapes and initialise on meta; this first
    # capture (init ops included) is thrown away.
    capture(copied, args=args, kwargs=kwargs)
    return copied


def has_lazy(model: nn.Module) -> bool:
    """Whether a parameter or buffer of the model is uninitialised (a lazy layer's)."""
    # One walk of the tables, exact types first: model.parameters() and buffers() walk the tree
    # twice and is_lazy is an isinstance against a Python metaclass (~1 ms on DenseNet-121).
    for module in model.modules():
        for table in module_tensor_tables(module):
            for t in table.values():
                if t is not None and type(t) is not nn.Parameter and type(t) is not torch.Tensor and is_lazy(t):
                    return True
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if "TorchScript interpreter" in text and lines:
        return lines[-1].strip()  # the script's own error is its last line
    return lines[0] if lines else type(exc).__name__
