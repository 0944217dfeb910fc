"""Module replay: a ``torch.nn`` layer called again with the same metadata runs the same ops.

Why: the op memo (``capture/memo.py``) saves the kernels, but every op still goes through the
layer's Python forward, the dispatcher, autograd and the recorder: ~35 µs an op. An
``nn.LSTM(300, 512, 2)`` on 7 time steps is 222 such ops (7.5 ms, against 2-5 ms for a real
forward of the fused kernel); DenseNet-121's 58 identical 3x3 convolutions, batch norms and
ReLUs of 128 channels are ~500 more. A replay appends the ops recorded at the first such call,
re-pointed at this call's inputs and parameters, and returns fresh meta outputs with the
recorded metadata, without running anything.

What is replayed: a module whose class is one of ``torch.nn``'s own (so its forward is PyTorch's
code, a function of what the key holds), with no child modules, no hooks of its own and no
``forward`` set on the instance, called with meta tensors (and plain values) only. The key: the
class and its ``forward``; every plain attribute of the module (``stride``, ``training``,
``batch_first``...; a module with an attribute that is not a plain value is never replayed); the
metadata of its parameters and buffers (shape, strides, dtype, ``requires_grad``); the metadata of
each input (shape, strides, dtype, ``requires_grad``, whether it is a leaf or a view) and their
nesting; grad mode, inference mode, autocast and the default dtype.

What a replay reproduces, exactly: the nodes (op, arguments as references, outputs, MACs), the
module's outputs (shape, strides, dtype, a storage each, ``requires_grad``, not leaves where they
require grad), the producer of an input or of the module's own tensor that the layer changed in
place (``ReLU(inplace=True)``, batch norm's batch counter) and the bytes autograd saves, each
storage resolved against this capture's (an input's storage already saved by an earlier layer is
not counted twice). A first call whose result a replay could not reproduce (an output that is a
view or an input's storage, an input whose ``requires_grad`` the layer changed, an op on a tensor
from elsewhere) marks the key "always run": later calls run the layer as usual.
``tests/test_capture_memo.py`` compares every capture of the zoo, cold and warm, with the memo and
the replay off; ``tests/test_capture_replay.py`` the layers and inputs that differ in one thing.

The replay is off whenever the memo is (``memo.disabled()``, ``NETANATOMY_NO_MEMO=1``, a caller's
own dispatch or function mode around the capture, ``materialize``, a TorchScript model).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from netanatomy.capture.graph import PARAMETER, OpNode, TensorInfo, TensorRef
from netanatomy.capture.memo import fast_leaves
from netanatomy.capture.torch_private import (
    any_autocast_enabled,
    no_dispatch_modes,
    storage_key,
    tree_flatten,
    tree_unflatten,
)

_ATOMS = (int, float, bool, str, type(None), torch.dtype, torch.device, torch.layout, torch.memory_format)

#: Attributes of every module that are not its configuration: tables (read separately), hooks
#: (must be empty), and the flat weight lists of ``nn.RNNBase`` (its parameters again, read
#: through ``_parameters``).
_TABLES = frozenset({"_parameters", "_buffers", "_modules", "_non_persistent_buffers_set", "_is_full_backward_hook",
                     "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
                     "_load_state_dict_post_hooks", "_flat_weights", "_flat_weight_refs"})
_HOOKS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
          "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks")

_NOT_CONFIG = _TABLES | set(_HOOKS) | {"forward"}  # ("forward": ours, set for the capture)

_UNKEYABLE = object()
_ALWAYS_RUN = object()  # table value: this key's first call could not be replayed

# Kinds of a placeholder in a template's arguments and saves.
_NODE, _ARG, _OWN = 0, 1, 2


def _value_key(v: Any) -> Any:
    """A key for a plain value (nested tuples and lists of atoms), or _UNKEYABLE."""
    t = type(v)
    if t is tuple or t is list:
        keys = tuple([_value_key(x) for x in v])
        return _UNKEYABLE if any(k is _UNKEYABLE for k in keys) else (t.__name__, keys)
    if isinstance(v, _ATOMS):
        return (t.__name__, v)
    return _UNKEYABLE


def _tensor_key(t: torch.Tensor) -> Any:
    cls = type(t)
    if (cls is not torch.Tensor and cls is not nn.Parameter) or not t.is_meta or t.layout is not torch.strided:
        return _UNKEYABLE
    return (cls, t.shape, t.stride(), t.dtype, t.requires_grad, t.is_leaf, t._is_view(), t.is_conj(), t.is_neg())


def _args_key(v: Any) -> Any:
    t = type(v)
    if t is torch.Tensor or t is nn.Parameter:
        return _tensor_key(v)
    if t is tuple or t is list:
        keys = tuple([_args_key(x) for x in v])
        return _UNKEYABLE if any(k is _UNKEYABLE for k in keys) else (t.__name__, keys)
    if isinstance(v, torch.Tensor):
        return _UNKEYABLE
    return _value_key(v)


def replayable(module: nn.Module) -> bool:
    """Whether calls of ``module`` may be replayed (see the module docstring)."""
    cls = type(module)
    return (cls.__module__.startswith("torch.nn.modules.") and not module._modules and "forward" not in vars(module)
            and not any(getattr(module, h, None) for h in _HOOKS))


def module_key(module: nn.Module) -> Any:
    """The part of a call's key that the module gives, or _UNKEYABLE."""
    items: list[Any] = [type(module), type(module).forward]
    for name, value in vars(module).items():
        if name in _NOT_CONFIG:
            continue
        kind = type(value)
        if kind is int or kind is bool or kind is float or kind is str:  # most of them: no recursion
            items.append((name, kind, value))
            continue
        k = _value_key(value)
        if k is _UNKEYABLE:
            return _UNKEYABLE
        items.append((name, k))
    for table in (module._parameters, module._buffers):
        for name, tensor in table.items():
            k = None if tensor is None else _tensor_key(tensor)
            if k is _UNKEYABLE:
                return _UNKEYABLE
            items.append((name, k))
        items.append("|")
    return tuple(items)


class _Sym:
    """A tensor reference in a template: node ``a``'s output ``b``, input ``a``, or the module's
    own tensor named ``a`` (with the shape, dtype and name of the reference recorded)."""

    __slots__ = ("a", "b", "dtype", "kind", "name", "shape")

    def __init__(self, kind: int, a: Any, b: int, ref: TensorRef) -> None:
        self.kind, self.a, self.b = kind, a, b
        self.shape, self.dtype, self.name = ref.shape, ref.dtype, ref.name


class _Template:
    """What the first call did, in terms of its inputs and the module's own tensors."""

    __slots__ = ("changed_inputs", "changed_own", "nodes", "outs", "saves", "single", "spec")

    def __init__(self) -> None:
        # (overload, op name, args, kwargs, outputs, macs, counted, where the placeholders are)
        self.nodes: list[tuple[Any, str, Any, Any, tuple[TensorInfo, ...], int, bool, Any]] = []
        self.changed_inputs: list[tuple[int, int, int, str]] = []  # input i -> node j's output k, name
        self.changed_own: list[tuple[str, int, int, str]] = []  # the module's tensor -> node j's output k
        self.spec: Any = None
        self.single = False  # the output is one tensor, no container
        # ("in", i) | ("new", shape, stride, dtype, requires_grad, node j, output k, name) | ("value", v)
        self.outs: list[tuple[Any, ...]] = []
        self.saves: list[tuple[int, Any, int]] = []  # (kind, which, nbytes): _ARG i or _NODE ("out"/"inner", n)


class Replayer:
    """Replays modules' calls within one capture (the table is the process's: :data:`TEMPLATES`)."""

    def __init__(self, recorder: Any, module_stack: list[str], count_saved: Callable[[int, int], None]) -> None:
        self.recorder = recorder
        self.module_stack = module_stack
        self.count_saved = count_saved
        self._module_keys: dict[int, Any] = {}
        self._grad_leaves: dict[torch.dtype, torch.Tensor] = {}
        self.replays = 0

    def forward(self, module: nn.Module, *args: Any, **kwargs: Any) -> Any:
        """Stands for ``module.forward`` during the capture."""
        mkey = self._module_keys.get(id(module))
        if mkey is None:
            mkey = self._module_keys[id(module)] = module_key(module)
        akey = _args_key(args) if not kwargs else _UNKEYABLE
        if mkey is _UNKEYABLE or akey is _UNKEYABLE:
            return type(module).forward(module, *args, **kwargs)
        key = (mkey, akey, torch.is_grad_enabled(), torch.is_inference_mode_enabled(), any_autocast_enabled(),
               torch.get_default_dtype())
        template = TEMPLATES.get(key)
        if template is _ALWAYS_RUN:
            return type(module).forward(module, *args)
        if template is not None:
            self.replays += 1
            return self._replay(template, module, args)
        return self._record(key, module, args)

    # --- the first call ------------------------------------------------------------------------

    def _record(self, key: Any, module: nn.Module, args: tuple[Any, ...]) -> Any:
        rec = self.recorder
        start = len(rec.nodes)
        inputs = [a for a in fast_leaves(args) if isinstance(a, torch.Tensor)]
        entry = [rec.producer.get(id(t)) for t in inputs]
        grads = [t.requires_grad for t in inputs]
        # (the layer may change its own tensors in place: batch norm counts its batches)
        own_entry = {name: rec.producer.get(id(t)) for table in (module._parameters, module._buffers)
                     for name, t in table.items() if t is not None}
        log: list[tuple[int, int]] = []
        outer, rec.save_log = rec.save_log, log
        try:
            out = type(module).forward(module, *args)
        finally:
            rec.save_log = outer
            if outer is not None:
                outer.extend(log)
        with no_dispatch_modes():  # nothing done to look at the result is an op of the model
            template = self._template(module, out, start, inputs, entry, grads, own_entry, log)
        global _stored_nodes
        if template is not None:
            _stored_nodes += len(template.nodes)
        if len(TEMPLATES) >= _LIMIT or _stored_nodes > _NODE_LIMIT:  # a long session: start afresh
            TEMPLATES.clear()
            _stored_nodes = 0 if template is None else len(template.nodes)
        TEMPLATES[key] = _ALWAYS_RUN if template is None else template
        return out

    def _template(self, module: nn.Module, out: Any, start: int, inputs: list[torch.Tensor],
                  entry: list[tuple[int, int, str] | None], grads: list[bool],
                  own_entry: dict[str, tuple[int, int, str] | None], log: list[tuple[int, int]]) -> _Template | None:
        rec = self.recorder
        end = len(rec.nodes)
        if any(e is None for e in entry) or any(t.requires_grad != g for t, g in zip(inputs, grads)):
            return None
        where = self.module_stack[-1]
        # Who each outside reference is: an input (by its producer at entry) or the module's tensor.
        outside: dict[tuple[int, int, str], tuple[int, Any]] = {}
        storages: dict[int, tuple[int, Any]] = {}
        for i, (t, e) in enumerate(zip(inputs, entry)):
            assert e is not None
            outside.setdefault(e, (_ARG, i))
            storages.setdefault(storage_key(t), (_ARG, i))
        for name, e in own_entry.items():
            if e is not None and e[0] == PARAMETER:
                outside.setdefault(e, (_OWN, name))
            storages.setdefault(storage_key(_own_tensor(module, name)), (_OWN, name))
        symbolizer = _Symbolizer(start, end, outside)
        sym = symbolizer.walk

        template = _Template()
        for node in rec.nodes[start:end]:
            args, kwargs = sym(node.args), sym(node.kwargs)
            if not symbolizer.ok or node.module != where:
                return None
            # Where the references are: none, only at the top of ``args`` (most ops: a list of
            # positions to fill, no walk of the arguments on a replay), or anywhere (a walk).
            patches: Any = None
            if _has_sym(kwargs) or any(type(a) is not _Sym and _has_sym(a) for a in args):
                patches = True
            elif _has_sym(args):
                patches = [(i, a) for i, a in enumerate(args) if type(a) is _Sym]
            template.nodes.append((node.overload, node.op, args, kwargs, tuple(node.outputs), node.macs, node.counted,
                                   patches))
        for i, (t, e) in enumerate(zip(inputs, entry)):
            now = rec.producer.get(id(t))
            if now != e:
                if now is None or not start <= now[0] < end:
                    return None
                template.changed_inputs.append((i, now[0] - start, now[1], now[2]))
        for name, e in own_entry.items():
            now = rec.producer.get(id(_own_tensor(module, name)))
            if now != e:
                if now is None or not start <= now[0] < end:
                    return None
                template.changed_own.append((name, now[0] - start, now[1], now[2]))
        flat, template.spec = tree_flatten(out)
        template.single = isinstance(out, torch.Tensor)
        fresh: dict[int, int] = {}  # storage key of a new output -> its place in template.outs
        for leaf in flat:
            if not isinstance(leaf, torch.Tensor):
                if _value_key(leaf) is _UNKEYABLE:
                    return None
                template.outs.append(("value", leaf))
                continue
            same = [i for i, t in enumerate(inputs) if t is leaf]
            if same:
                template.outs.append(("in", same[0]))
                continue
            produced = rec.producer.get(id(leaf))
            skey = storage_key(leaf)
            if (type(leaf) is not torch.Tensor or produced is None or not start <= produced[0] < end
                    or leaf.device.type != "meta" or leaf.layout != torch.strided or leaf._is_view()
                    or leaf.storage_offset() != 0 or leaf.is_conj() or leaf.is_neg() or skey in storages
                    or skey in fresh or leaf.is_leaf == leaf.requires_grad):
                return None
            replica = torch.empty_strided(leaf.shape, leaf.stride(), dtype=leaf.dtype, device="meta")
            if replica.untyped_storage().nbytes() != leaf.untyped_storage().nbytes():
                return None
            fresh[skey] = len(template.outs)
            template.outs.append(("new", tuple(leaf.shape), leaf.stride(), leaf.dtype, leaf.requires_grad,
                                  produced[0] - start, produced[1], produced[2]))
        internal: dict[int, int] = {}
        for skey, nbytes in log:
            known = storages.get(skey)
            if known is not None and known[0] == _OWN:
                continue  # a parameter or buffer: never counted as saved (its storage is the model's)
            if known is not None:
                template.saves.append((known[0], known[1], nbytes))
            elif skey in fresh:
                template.saves.append((_NODE, ("out", fresh[skey]), nbytes))
            else:
                template.saves.append((_NODE, ("inner", internal.setdefault(skey, len(internal))), nbytes))
        return template

    # --- a repeat ------------------------------------------------------------------------------

    def _replay(self, template: _Template, module: nn.Module, args: tuple[Any, ...]) -> Any:
        rec = self.recorder
        base = len(rec.nodes)
        where = self.module_stack[-1]
        inputs = [a for a in fast_leaves(args) if isinstance(a, torch.Tensor)]
        input_refs = [rec.ref(t) for t in inputs]
        resolver = _Resolver(rec, module, base, input_refs)
        one, resolve = resolver.one, resolver.walk
        nodes = rec.nodes
        for j, (func, name, targs, tkwargs, outputs, macs, counted, patches) in enumerate(template.nodes):
            if patches is None:
                args = targs
            elif patches is True:
                args = resolve(targs)
            else:
                filled = list(targs)
                for i, a in patches:
                    filled[i] = one(a)
                args = tuple(filled)
            kwargs = (resolve(tkwargs) if patches is True else dict(tkwargs)) if tkwargs else {}
            node = OpNode(base + j, name, func, args, kwargs, list(outputs), where)
            node.macs, node.counted = macs, counted
            nodes.append(node)
        for i, j, k, name in template.changed_inputs:
            rec.register(inputs[i], base + j, k, name)
        for own_name, j, k, name in template.changed_own:
            t = _own_tensor(module, own_name)
            rec.register(t, base + j, k, name)
            rec._keys.pop(id(t), None)
        leaves: list[Any] = []
        with no_dispatch_modes():
            for out in template.outs:
                if out[0] == "in":
                    leaves.append(inputs[out[1]])
                elif out[0] == "value":
                    leaves.append(out[1])
                else:
                    _, shape, stride, dtype, requires_grad, j, k, name = out
                    t = torch.empty_strided(shape, stride, dtype=dtype, device="meta")
                    if requires_grad:
                        # A non-leaf that requires grad, as the layer's own output is: later ops
                        # then save for backward as they would, and may change it in place.
                        # (copy_ from a 0-d leaf: its meta kernel is C++, 2 µs; add_'s is
                        # Python, 13 µs. It saves nothing for backward.)
                        t.copy_(self._grad_leaf(dtype))
                    leaves.append(t)
        for out, t in zip(template.outs, leaves):
            if out[0] == "new":
                rec.register(t, base + out[5], out[6], out[7])
        for t in inputs:  # an in-place op may have changed their metadata: recompute memo keys
            rec._keys.pop(id(t), None)
        inner: dict[Any, int] = {}
        for kind, which, nbytes in template.saves:
            if kind == _ARG:
                t = inputs[which]
                self.count_saved(storage_key(t), t.untyped_storage().nbytes())
            elif which[0] == "out":
                self.count_saved(storage_key(leaves[which[1]]), nbytes)
            else:
                # A storage that only lived inside the layer: a number no real storage has.
                skey = inner.get(which[1])
                if skey is None:
                    skey = inner[which[1]] = -next(_inner_keys)
                self.count_saved(skey, nbytes)
        rec.failure = None
        return leaves[0] if template.single else tree_unflatten(leaves, template.spec)

    def _grad_leaf(self, dtype: torch.dtype) -> torch.Tensor:
        leaf = self._grad_leaves.get(dtype)
        if leaf is None:
            leaf = self._grad_leaves[dtype] = torch.zeros((), dtype=dtype, device="meta", requires_grad=True)
        return leaf


class _ArgMap:
    """Maps the leaves of an op's arguments through nested tuples, lists and dicts. (Classes, not
    nested functions: a nested function that calls itself is a reference cycle, which would keep
    the whole capture alive until the garbage collector's next pass.)"""

    __slots__ = ()

    def leaf(self, a: Any) -> Any:
        raise NotImplementedError

    def walk(self, a: Any) -> Any:
        t = type(a)
        if t is tuple:
            return tuple([self.walk(x) for x in a])
        if t is list:
            return [self.walk(x) for x in a]
        if t is dict:
            return {k: self.walk(v) for k, v in a.items()}
        return self.leaf(a)


class _Symbolizer(_ArgMap):
    """A first call's references made a template's placeholders."""

    __slots__ = ("end", "ok", "outside", "start")

    def __init__(self, start: int, end: int, outside: dict[tuple[int, int, str], tuple[int, Any]]) -> None:
        self.start, self.end, self.outside = start, end, outside
        self.ok = True  # False once an op read a tensor that is neither made here nor given

    def leaf(self, a: Any) -> Any:
        if type(a) is not TensorRef:
            return a
        if self.start <= a.producer < self.end:
            return _Sym(_NODE, a.producer - self.start, a.output, a)
        found = self.outside.get((a.producer, a.output, a.name))
        if found is None:
            self.ok = False
            return a
        return _Sym(found[0], found[1], 0, a)


class _Resolver(_ArgMap):
    """A template's placeholders made this replay's :class:`TensorRef` objects."""

    __slots__ = ("base", "input_refs", "module", "own", "rec")

    def __init__(self, rec: Any, module: nn.Module, base: int, input_refs: list[TensorRef]) -> None:
        self.rec, self.module, self.base, self.input_refs = rec, module, base, input_refs
        self.own: dict[str, TensorRef] = {}

    def one(self, a: _Sym) -> TensorRef:
        if a.kind == _NODE:
            return TensorRef(self.base + a.a, a.b, a.shape, a.dtype, a.name)
        if a.kind == _ARG:
            return self.input_refs[a.a]
        ref = self.own.get(a.a)
        if ref is None:
            ref = self.own[a.a] = self.rec.ref(_own_tensor(self.module, a.a))
        return ref

    def leaf(self, a: Any) -> Any:
        return self.one(a) if type(a) is _Sym else a


def _own_tensor(module: nn.Module, name: str) -> torch.Tensor:
    t: torch.Tensor | None = module._parameters.get(name)
    if t is None:
        t = module._buffers[name]
    assert t is not None  # (a template names only tensors that were there)
    return t


def _has_sym(a: Any) -> bool:
    t = type(a)
    if t is _Sym:
        return True
    if t is tuple or t is list:
        return any(_has_sym(x) for x in a)
    if t is dict:
        return any(_has_sym(x) for x in a.values())
    return False


_inner_keys = itertools.count(1)
_LIMIT = 20_000  # templates
_NODE_LIMIT = 500_000  # nodes in them all (an LSTM's template holds a few hundred; ~0.3 KB each)
_stored_nodes = 0
#: The process's templates, by call key (see the module docstring); emptied with the op memo.
TEMPLATES: dict[Any, Any] = {}


def clear() -> None:
    """Empty the table (``memo.clear`` calls it)."""
    global _stored_nodes
    TEMPLATES.clear()
    _stored_nodes = 0
