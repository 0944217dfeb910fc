"""Memoised operator calls: a network repeats the same block with the same shapes, so compute once.

A meta kernel is a pure function of its arguments' *metadata*: given the operator, the shapes,
strides, dtypes and storage offsets of its tensor arguments and every non-tensor argument, its
outputs' shapes, strides and dtypes are always the same (meta tensors hold no values). Most of a
capture's time is spent in PyTorch's Python meta kernels and decompositions (batch norm alone is
half of a warm ResNet-50), and ResNet's bottlenecks, DenseNet's dense layers and an LSTM's time
steps call them again and again with identical metadata. The memo runs the real kernel the first
time and, on a repeat, makes fresh meta outputs with the recorded metadata (``torch.empty_strided``
on the meta device allocates nothing), together with the MACs computed the first time. The table
is the process's (:data:`SHARED`): a second analysis of the same model, or of a model built from the
same blocks, finds its calls there.

An in-place op (``add_``, ``sigmoid_``) is memoised too: its kernel only checks shapes and returns
its first argument, so a repeat returns that argument (after checking, the first time, that the
kernel did exactly that and left its metadata unchanged).

What is *not* memoised (the real kernel runs every time): views, ``out=`` ops and ops that write
to several arguments (their outputs alias inputs in ways storage identity must reflect); any call with a tensor not
on the meta device (a CPU scalar's value could matter) or with an argument that cannot be part
of a key; any call whose outputs a fresh ``empty_strided`` would not reproduce exactly (a storage
offset, a storage larger than the tensor, two outputs sharing a storage, an output aliasing an
input). The key is exact: two calls share an entry only if every argument compares equal *and*
has the same type (``1`` vs ``1.0`` vs ``True`` promote differently).

``NETANATOMY_NO_MEMO=1`` in the environment (read at import), or :func:`disabled`, turns the memo off, and
with it the module replay one level up (``capture/replay.py``); tests compare every result with and
without them. Both are off, too, while the caller's own dispatch or function modes are active (a
``FlopCounterMode`` around the call must see every op: a hit runs none).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch

from netanatomy.capture.torch_private import (
    op_alias_info,
    storage_key,
    tree_flatten,
    tree_map,
    tree_unflatten,
)

_ENV = "NETANATOMY_NO_MEMO"
_off = 0  # depth of active `disabled()` blocks

_UNKEYABLE = object()
_ATOMS = (int, float, bool, str, type(None), torch.dtype, torch.device, torch.layout, torch.memory_format)


_ENV_OFF = bool(os.environ.get(_ENV))  # read once: os.environ costs a microsecond per op


def enabled() -> bool:
    """Whether captures use the memo now."""
    return _off == 0 and not _ENV_OFF


@contextmanager
def disabled() -> Iterator[None]:
    """Captures inside this block run every kernel (the reference for tests and benchmarks)."""
    global _off
    _off += 1
    try:
        yield
    finally:
        _off -= 1


def _arg_key(a: Any) -> Any:
    if isinstance(a, torch.Tensor):
        if type(a) not in (torch.Tensor, torch.nn.Parameter) or a.device.type != "meta" or a.layout != torch.strided:
            return _UNKEYABLE  # a subclass may carry more than metadata; a real tensor has values
        # No storage offset: a shape rule reads sizes, strides and dtype, never where the data
        # starts (an LSTM's input at step t is a select of the sequence, at offset t*B*I).
        return ("T", tuple(a.shape), a.stride(), a.dtype, a.is_conj(), a.is_neg())
    if isinstance(a, (list, tuple)):
        keys = tuple(_arg_key(x) for x in a)
        return _UNKEYABLE if any(k is _UNKEYABLE for k in keys) else (type(a).__name__, keys)
    if isinstance(a, _ATOMS):
        return (type(a).__name__, a)
    return _UNKEYABLE


#: A tensor's key -> a small int that stands for it in the keys of calls: Python does not cache
#: a tuple's hash, and a call key with 32 tensors' shapes and strides in it is hashed at every
#: look-up. Numbers are never reused (a capture may hold a token across a clearing of the table).
_TOKENS: dict[Any, int] = {}
_next_token = itertools.count()


def _token(key: Any) -> Any:
    if key is _UNKEYABLE:
        return key
    token = _TOKENS.get(key)
    if token is None:
        token = _TOKENS[key] = next(_next_token)
    return token


def _arg_key_cached(a: Any, cache: dict[int, Any]) -> Any:
    """:func:`_arg_key`, with each tensor's key kept in ``cache`` by ``id``: a capture passes
    the same tensor to many ops (DenseNet concatenates each feature map with up to 31 others).
    The capture keeps every tensor alive, so an id is not reused while the cache lives, and it
    drops a tensor's entry after any op that writes to the tensor (``unsqueeze_`` changes
    metadata in place)."""
    t = type(a)
    if t is torch.Tensor or t is torch.nn.Parameter:
        k = cache.get(id(a))
        if k is None:
            k = cache[id(a)] = _token(_arg_key(a))
        return k
    if t is tuple or t is list:
        keys = tuple([_arg_key_cached(x, cache) for x in a])
        return _UNKEYABLE if any(k is _UNKEYABLE for k in keys) else (t.__name__, keys)
    return _arg_key(a)


_FRESH, _IN_PLACE = "fresh", "in place"


def _kind(func: torch._ops.OpOverload) -> str | None:
    """``"fresh"``: every output is new memory; ``"in place"``: the op updates its first argument
    and returns it (``add_``, ``sigmoid_``); None: anything else (views, ``out=``, several writes)."""
    arguments, writes, returns, aliased = op_alias_info(func)
    if func.is_view:
        return None
    if not writes and not aliased:
        return _FRESH
    if len(writes) == 1 and writes[0] is arguments[0] and len(returns) == 1 and aliased:
        returned, written = aliased[0].alias_info, writes[0].alias_info
        if returned is not None and written is not None and returned.before_set == written.before_set:
            return _IN_PLACE
    return None


class OpInfo(NamedTuple):
    """What a capture and the memo need to know of an op, worked out once per op."""

    op: Any  # the OpOverload itself (also guards the id it is filed under)
    name: str  # ``aten.add.Tensor`` -> ``"add"``
    writes: bool  # its schema writes to an argument (``add_``, ``unsqueeze_``, ``out=``)
    kind: str | None  # see _kind
    token: int  # stands for the op in the memo's keys


#: id(op) -> its OpInfo. By id, because an OpOverload's ``__hash__`` is a Python method (a
#: dictionary keyed by the op itself costs a Python call per look-up, several per captured op);
#: torch.ops keeps every op alive, and the entry's ``op`` is checked anyway.
_OP_INFO: dict[int, OpInfo] = {}
_OP_OF_TOKEN: dict[int, OpInfo] = {}


def op_info(func: Any) -> OpInfo:
    """The :class:`OpInfo` of ``func``."""
    info = _OP_INFO.get(id(func))
    if info is None or info.op is not func:
        info = OpInfo(func, func.overloadpacket.__name__, bool(op_alias_info(func)[1]), _kind(func), next(_next_token))
        _OP_INFO[id(func)] = _OP_OF_TOKEN[info.token] = info
    return info


class _Entry:
    """What a repeat of a call returns: fresh outputs (tree spec and metadata) or its first
    argument, and the MACs of the first call."""

    def __init__(self, kind: str, macs: int | None, spec: Any = None,
                 metas: list[tuple[tuple[int, ...], tuple[int, ...], torch.dtype]] | None = None) -> None:
        self.kind, self.macs, self.spec, self.metas = kind, macs, spec, metas or []


class OpMemo:
    """A table key -> :class:`_Entry` (None: seen, not memoisable), of at most ``limit`` entries
    (then it starts afresh: the entries are small, but a long session analyses many models)."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._table: dict[tuple[Any, ...], _Entry | None] = {}
        self.hits = 0
        self.misses = 0

    def _key(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
             cache: dict[int, Any] | None = None) -> tuple[Any, ...] | None:
        info = op_info(func)
        if info.kind is None:
            return None
        arg_key = _arg_key(args) if cache is None else _arg_key_cached(args, cache)
        if arg_key is _UNKEYABLE:
            return None
        kw_key = _arg_key(tuple(sorted(kwargs.items()))) if kwargs else ("tuple", ())
        if kw_key is _UNKEYABLE:
            return None
        return (info.token, arg_key, kw_key)  # the op's token: a small int hashes in C

    def find(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
             cache: dict[int, Any] | None = None) -> tuple[Any, Hit | None]:
        """``(key, hit)``: ``hit`` rebuilds a repeat's outputs; ``key`` is None when the call
        cannot be memoised (then :meth:`store` is not needed). ``cache`` keeps tensors' keys
        by id for one capture (see :func:`_arg_key_cached`)."""
        key = self._key(func, args, kwargs, cache) if enabled() else None
        if key is None:
            return None, None
        entry = self._table.get(key)
        if entry is None:
            return (None if key in self._table else key), None
        self.hits += 1
        return key, Hit(entry, args)

    def store(self, key: Any, out: Any, macs: int | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Record the first call's raw outputs (as the kernel returned them) and MACs."""
        self.misses += 1
        if len(self._table) >= self.limit:
            self._table.clear()
            _TOKENS.clear()
        if _OP_OF_TOKEN[key[0]].kind == _IN_PLACE:
            # The kernel must have returned its first argument, with the metadata it had before.
            self_key, now = key[1][1][0], _arg_key(args[0])  # the key found, the metadata now
            same = out is args[0] and (now == self_key or (type(self_key) is int and _TOKENS.get(now) == self_key))
            self._table[key] = _Entry(_IN_PLACE, macs) if same else None
        else:
            self._table[key] = _entry(out, macs, args, kwargs)


#: The process's table, shared by every capture: the key holds everything a kernel's answer
#: depends on, so an entry is as valid for the next model (or the next call on the same model:
#: a notebook re-running ``summary``) as for the next block of this one.
SHARED = OpMemo()


def clear() -> None:
    """Empty the shared table and the module replays' (tests start from cold tables with it)."""
    from netanatomy.capture import replay

    SHARED._table.clear()
    _TOKENS.clear()
    replay.clear()


class Hit:
    """A repeated call: its outputs (fresh ones with the recorded metadata, or the updated first
    argument), and the recorded MACs."""

    def __init__(self, entry: _Entry, args: tuple[Any, ...]) -> None:
        self._entry, self._args, self.macs = entry, args, entry.macs

    def outputs(self) -> Any:
        if self._entry.kind == _IN_PLACE:
            return self._args[0]
        outs = [torch.empty_strided(shape, stride, dtype=dtype, device="meta") for shape, stride, dtype in self._entry.metas]
        return tree_unflatten(outs, self._entry.spec)


def _entry(out: Any, n: int | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Entry | None:
    """The metadata of ``out`` if fresh ``empty_strided`` tensors reproduce it exactly, else None."""
    flat, spec = tree_flatten(out)  # the spec rebuilds the same containers on a hit
    if not flat or not all(isinstance(t, torch.Tensor) and type(t) is torch.Tensor for t in flat):
        return None
    inputs = {storage_key(t) for t in fast_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
    seen: set[int] = set()
    metas = []
    for t in flat:
        storage = t.untyped_storage()
        key = storage_key(t)
        if (t.device.type != "meta" or t.layout != torch.strided or t.storage_offset() != 0 or t.is_conj() or t.is_neg()
                or key in inputs or key in seen or t.requires_grad):
            return None
        seen.add(key)
        replica = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta")
        if replica.untyped_storage().nbytes() != storage.nbytes():
            return None
        metas.append((tuple(t.shape), tuple(t.stride()), t.dtype))
    return _Entry(_FRESH, n, spec, metas)


# Hand-written shape rules, only where a measurement showed they pay (see bench/analyzer_vs_peers.py):
# each answers a subset of calls exactly as the meta kernel would (tests/test_capture_memo.py runs
# both on every case) and returns None for anything else, which then goes to the kernel.
def _batch_norm_rule(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``native_batch_norm`` on a dense input. Its meta kernel is PyTorch's Python decomposition
    (~20 elementwise refs, ~3 ms a call), and DenseNet-121 calls it with 65 different channel
    counts. On the meta device the decomposition returns the output in the input's dtype and
    layout, and ``save_mean``/``save_invstd`` of shape (C,) in the computation dtype (float32 for
    half inputs) in both modes."""
    if kwargs or len(args) != 8:
        return None
    x, weight, bias, running_mean, running_var, training, _, _ = args
    if (not isinstance(x, torch.Tensor) or x.device.type != "meta" or x.dim() < 2 or not x.dtype.is_floating_point
            or x.numel() == 0):
        return None
    channels = x.shape[1]
    for t in (weight, bias, running_mean, running_var):
        if t is not None and (not isinstance(t, torch.Tensor) or t.device.type != "meta" or tuple(t.shape) != (channels,)
                              or t.dtype != x.dtype):
            return None
    dense = x.is_contiguous() or (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last))
    if not dense or type(training) is not bool:
        return None
    if training and x.numel() == channels:  # the kernel divides by n - 1 = 0: let it raise
        return None
    if not training and (running_mean is None or running_var is None):  # the kernel raises
        return None
    stats = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    out = torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device="meta")
    return (out, torch.empty((channels,), dtype=stats, device="meta"),
            torch.empty((channels,), dtype=stats, device="meta"))


def _cat_rule(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``cat`` of dense, same-dtype, non-empty meta tensors in the default layout. Its meta kernel
    is PyTorch's Python reference (~0.25 ms a call, 60 distinct calls in a cold DenseNet-121,
    whose dense layers concatenate 1 to 32 feature maps). Such inputs give a contiguous output
    whose size along ``dim`` is the sum of theirs. Anything else (a channels-last or ambiguous
    layout, mixed dtypes, an empty tensor, sizes that do not match) goes to the kernel."""
    if kwargs or not 1 <= len(args) <= 2:
        return None
    tensors, dim = args[0], (args[1] if len(args) == 2 else 0)
    if type(tensors) not in (list, tuple) or not tensors or type(dim) is not int:
        return None
    first = tensors[0]
    if type(first) is not torch.Tensor:
        return None
    rank, dtype = first.dim(), first.dtype
    if rank == 0 or not -rank <= dim < rank:
        return None
    dim %= rank
    total = 0
    for t in tensors:
        if (type(t) is not torch.Tensor or t.device.type != "meta" or t.dtype != dtype or t.dim() != rank
                or t.numel() == 0 or not t.is_contiguous() or t.is_conj() or t.is_neg()):
            return None
        if rank == 4 and t.is_contiguous(memory_format=torch.channels_last):
            return None  # both layouts at once (C or H*W of 1): the kernel's choice, not ours
        if rank == 5 and t.is_contiguous(memory_format=torch.channels_last_3d):
            return None
        if t.shape[:dim] != first.shape[:dim] or t.shape[dim + 1:] != first.shape[dim + 1:]:
            return None
        total += t.shape[dim]
    shape = list(first.shape)
    shape[dim] = total
    return torch.empty(shape, dtype=dtype, device="meta")


SHAPE_RULES: dict[Any, Any] = {torch.ops.aten.native_batch_norm.default: _batch_norm_rule,
                               torch.ops.aten.cat.default: _cat_rule}


def compute(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``func(*args, **kwargs)``, through a hand-written rule where one applies (memo enabled)."""
    rule = SHAPE_RULES.get(func) if enabled() else None
    out = rule(args, kwargs) if rule is not None else None
    return func(*args, **kwargs) if out is None else out


def fast_map(fn: Any, obj: Any) -> Any:
    """``tree_map(fn, obj)`` for the containers of aten arguments and results (plain tuples,
    lists and dicts), without pytree's per-node bookkeeping (most of a capture's per-op time once
    kernels are memoised). Any other container goes to ``tree_map`` itself, so the result is the same."""
    t = type(obj)
    if t is torch.Tensor or t is torch.nn.Parameter:
        return fn(obj)
    if t is tuple:
        return tuple([fast_map(fn, x) for x in obj])
    if t is list:
        return [fast_map(fn, x) for x in obj]
    if t is dict:
        return {k: fast_map(fn, v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list, dict)):
        return tree_map(fn, obj)
    return fn(obj)


def fast_leaves(obj: Any) -> list[Any]:
    """``tree_flatten(obj)[0]``, by the same shortcut as :func:`fast_map`."""
    t = type(obj)
    if t is tuple or t is list:
        return [leaf for x in obj for leaf in fast_leaves(x)]
    if t is dict:
        return [leaf for v in obj.values() for leaf in fast_leaves(v)]
    if isinstance(obj, (tuple, list, dict)):
        return tree_flatten(obj)[0]
    return [obj]
