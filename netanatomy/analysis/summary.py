"""``netanatomy.summary``: capture once on fake tensors, then sum the graph per module."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from netanatomy.analysis.params import RULE_TYPES, Formula, formula
from netanatomy.analysis.records import OPTIMIZER_STATE_COPIES, LayerRecord, Summary, Totals
from netanatomy.capture.graph import Graph
from netanatomy.capture.inputs import TensorSpec, check_arguments, dtype_name
from netanatomy.capture.macs import has_arithmetic
from netanatomy.capture.torch_private import tree_flatten
from netanatomy.capture.tracer import capture, gc_paused, has_lazy, materialized_copy, module_type
from netanatomy.errors import UserError

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64}


def parse_dtype(name: str | torch.dtype | None) -> torch.dtype | None:
    if name is None or isinstance(name, torch.dtype):
        return name
    try:
        return _DTYPES[name]
    except KeyError:
        raise UserError(f"unknown dtype {name!r}; choose one of {', '.join(_DTYPES)}") from None


def summary(
    model: nn.Module,
    input_size: Sequence[int] | Sequence[Sequence[int]] | None = None,
    *,
    input_data: Any = None,
    input_kwargs: dict[str, Any] | None = None,
    input_dtypes: Sequence[torch.dtype] | None = None,
    mode: str = "eval",
    dtype: str | torch.dtype | None = None,
    optimizer: str = "adam",
    model_name: str | None = None,
    receptive_fields: bool = True,
    materialize: bool = False,
) -> Summary:
    """Analyse ``model`` on fake tensors: per-layer shapes, parameters with formulas, MACs, memory.

    Args:
        model: any ``nn.Module``, lazy layers and TorchScript included; it is left exactly as it
            was (weights are never copied).
        input_size: the input shape with batch dimension, e.g. ``(1, 3, 224, 224)``, or a list
            of shapes for a model with several inputs (``()`` for a 0-d input).
        input_data: the positional inputs instead of sizes: a tensor, a
            :class:`~netanatomy.capture.inputs.TensorSpec`, a dict or NamedTuple of them (one
            input), or a tuple/list of inputs. Real CPU tensors stay real (their values may matter:
            a packed sequence's lengths, a mask); others become meta placeholders.
        input_kwargs: keyword inputs of ``forward``, in the same forms.
        input_dtypes: dtype per input of ``input_size`` (default float32; int64 for token indices).
        mode: ``"eval"`` or ``"train"`` (batch norm statistics, dropout, auxiliary heads).
        dtype: floating-point dtype of weights and activations for the memory figures
            (``"float32"``, ``"float16"``, ``"bfloat16"``); default: the model's own.
        optimizer: ``"sgd"``, ``"momentum"``, ``"adam"`` or ``"adamw"`` for the training-memory
            estimate.
        model_name: the name shown in reports.
        receptive_fields: add the receptive field of each layer's output (spatial models).
        materialize: run one real forward on the CPU (real weights, random inputs) instead of a
            meta capture, for a forward that reads tensor values; the model must hold real weights.

    Returns:
        A :class:`~netanatomy.analysis.records.Summary`.
    """
    with gc_paused():  # the analysis too makes many objects that live until it returns (gc_paused)
        return _summary(model, input_size, input_data, input_kwargs, input_dtypes, mode, dtype, optimizer,
                        model_name, receptive_fields, materialize)


def _summary(model: nn.Module, input_size: Sequence[int] | Sequence[Sequence[int]] | None, input_data: Any,
             input_kwargs: dict[str, Any] | None, input_dtypes: Sequence[torch.dtype] | None, mode: str,
             dtype: str | torch.dtype | None, optimizer: str, model_name: str | None, receptive_fields: bool,
             materialize: bool) -> Summary:
    if mode not in ("eval", "train"):
        raise UserError(f"unknown mode {mode!r}; use 'eval' or 'train'")
    if optimizer not in OPTIMIZER_STATE_COPIES:
        raise UserError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_STATE_COPIES)}")
    args, kwargs = _inputs(input_size, input_data, input_kwargs, input_dtypes)
    name = model_name or module_type(model)
    check_arguments(model, args, kwargs, name)
    cast = parse_dtype(dtype)
    if has_lazy(model):
        if materialize:
            raise UserError("materialize needs a model without lazy layers: run it once on a real input first")
        model = materialized_copy(model, args, kwargs)  # the user's model stays lazy
    graph = capture(model, args=args, kwargs=kwargs, training=mode == "train", dtype=cast, real=materialize)
    modules = _named_modules(model)
    layers = _records(model, graph, modules)
    totals = _totals(model, graph, cast, modules)
    result = Summary(
        model_name=name,
        input_sizes=[t.shape for t in graph.inputs],
        input_dtypes=[dtype_name(t.dtype) for t in graph.inputs],
        mode=mode,
        dtype=str(cast or _param_dtype(model)).removeprefix("torch."),
        optimizer=optimizer,
        layers=layers,
        totals=totals,
        graph=graph,
    )
    if receptive_fields:
        _add_receptive_fields(result)
    return result


def _inputs(input_size: Sequence[int] | Sequence[Sequence[int]] | None, input_data: Any,
            input_kwargs: dict[str, Any] | None, input_dtypes: Sequence[torch.dtype] | None,
            ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Positional and keyword inputs of ``forward`` from whichever form the caller used."""
    kwargs = dict(input_kwargs or {})
    if input_data is not None:
        if input_size is not None:
            raise UserError("give input_size or input_data, not both")
        # A tuple or list is the positional inputs; a NamedTuple, like a dict, is one input.
        is_args = isinstance(input_data, (tuple, list)) and not hasattr(input_data, "_fields")
        args = tuple(input_data) if is_args else (input_data,)
    elif input_size is not None:
        sizes = _as_sizes(input_size)
        dtypes = list(input_dtypes) if input_dtypes is not None else [torch.float32] * len(sizes)
        if len(dtypes) != len(sizes):
            raise UserError(f"{len(sizes)} input sizes but {len(dtypes)} input dtypes: give one dtype per input")
        args = tuple(TensorSpec(s, d) for s, d in zip(sizes, dtypes))
    elif kwargs:
        args = ()
    else:
        raise UserError("give the input: input_size=(1, 3, 224, 224), input_data=... or input_kwargs=...")
    for leaf in tree_flatten((args, kwargs))[0]:
        if isinstance(leaf, TensorSpec) and any(d == 0 for d in leaf.shape):
            raise UserError(f"input size {'x'.join(map(str, leaf.shape))} has a zero dimension; sizes must be "
                            "positive, batch first (e.g. 1x3x224x224)")
    return args, kwargs


def _as_sizes(input_size: Sequence[int] | Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """One shape, or a list of shapes; ``()`` alone, or inside the list, is a 0-d input."""
    sizes: list[tuple[int, ...]] = []
    if all(isinstance(s, int) for s in input_size):
        sizes.append(tuple(int(s) for s in input_size))  # type: ignore[arg-type]
    else:
        sizes.extend(tuple(int(x) for x in s) for s in input_size)  # type: ignore[union-attr]
    for s in sizes:
        if any(x <= 0 for x in s):
            raise UserError(f"input size {'x'.join(map(str, s))} must be positive, batch first (e.g. 1x3x224x224)")
    return sizes


def _param_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        return p.dtype
    return torch.float32


#: nn.Module's own walks, which _plain checks a module's class still uses
_WALKS = ("named_modules", "modules", "named_parameters", "parameters", "named_buffers", "buffers", "_named_members")
_MODULE_WALKS = tuple(getattr(nn.Module, w) for w in _WALKS)


_PLAIN: dict[type, bool] = {}


def _plain(cls: type[nn.Module]) -> bool:
    """Whether ``cls`` walks its tables (``_modules``, ``_parameters``, ``_buffers``) with
    nn.Module's own methods, so that reading the tables directly gives what those return.
    TorchScript modules do not: their tables are wrappers. Known once per class."""
    plain = _PLAIN.get(cls)
    if plain is None:
        plain = _PLAIN[cls] = (not issubclass(cls, torch.jit.ScriptModule)
                               and tuple(getattr(cls, w) for w in _WALKS) == _MODULE_WALKS)
    return plain


def _named_modules(model: nn.Module) -> tuple[list[tuple[str, nn.Module]], bool]:
    """``list(model.named_modules())``, and whether every module in it is :func:`_plain`.

    nn.Module's walk is a generator per module chained by ``yield from`` (DenseNet-121: ~5,000
    generator steps for its 433 modules); this is the same pre-order walk, without them. A module
    that walks its own way is walked by PyTorch instead, and then the whole list is PyTorch's.
    """
    out: list[tuple[str, nn.Module]] = []
    memo: set[nn.Module] = set()
    stack: list[tuple[str, nn.Module]] = [("", model)]
    while stack:
        prefix, module = stack.pop()
        if module in memo:
            continue
        if not _plain(type(module)):
            return list(model.named_modules()), False
        memo.add(module)
        out.append((prefix, module))
        children = [(prefix + ("." if prefix else "") + name, sub) for name, sub in module._modules.items() if sub is not None]
        stack.extend(reversed(children))
    return out, True


def _own_parameters(module: nn.Module, plain: bool) -> list[tuple[str, nn.Parameter]]:
    """``list(module.named_parameters(recurse=False))`` read from the module's table when it is
    plain (PyTorch's goes through ``_named_members`` and a generator: ~6 µs a module)."""
    if not plain:
        return list(module.named_parameters(recurse=False))
    own = [(name, p) for name, p in module._parameters.items() if p is not None]
    if len(own) > 1:  # a tensor registered under two names counts once, as in named_parameters
        seen: set[torch.Tensor] = set()
        unique = []
        for name, p in own:
            if p not in seen:
                seen.add(p)
                unique.append((name, p))
        own = unique
    return own


def _unique_tensors(modules: list[tuple[str, nn.Module]], table: str) -> list[torch.Tensor]:
    """``list(model.parameters())`` (table ``"_parameters"``) or ``list(model.buffers())``
    (``"_buffers"``) from the list of plain modules: each tensor once, where it is first met."""
    seen: set[torch.Tensor] = set()
    out: list[torch.Tensor] = []
    for _, module in modules:
        for t in getattr(module, table).values():
            if t is not None and t not in seen:
                seen.add(t)
                out.append(t)
    return out


def _records(model: nn.Module, graph: Graph, modules: tuple[list[tuple[str, nn.Module]], bool] | None = None,
             ) -> list[LayerRecord]:
    """One record per module of ``model``; ``modules``: :func:`_named_modules` of it, if known."""
    # Figures of the ops that ran directly in each module, then summed up its ancestors.
    self_macs: Counter[str] = Counter()
    self_act: Counter[str] = Counter()
    for node in graph.nodes:
        self_macs[node.module] += node.macs
        act = 0
        for o in node.outputs:
            if o.allocated:
                act += o.nbytes
        self_act[node.module] += act
    calls: dict[str, list] = {}
    for call in graph.calls:
        calls.setdefault(call.path, []).append(call)

    named, plain = _named_modules(model) if modules is None else modules
    owner: dict[int, str] = {}  # id(parameter) -> the first module path that holds it
    records: list[LayerRecord] = []
    children: dict[str, list[str]] = {}
    for name, _ in named:
        if name:
            children.setdefault(name.rpartition(".")[0], []).append(name)
    for name, module in named:
        own = _own_parameters(module, plain)
        n_params = n_trainable = n_shared = 0
        shared_with: list[str] = []
        if own:
            counted = [p for _, p in own if id(p) not in owner]
            shared = [p for _, p in own if id(p) in owner]
            if shared:
                shared_with = sorted({owner[id(p)] for p in shared})
            for p in counted:
                owner[id(p)] = name
                n = p.numel()
                n_params += n
                if p.requires_grad:
                    n_trainable += n
            n_shared = sum(p.numel() for p in shared)
            f = formula(module, own)
            text = f.text() if counted else "shared"
        else:
            # No parameters and no rule: the empty formula (ReLUs, pools, containers: 190 of
            # DenseNet-121's 433 modules), without trying every rule.
            f = formula(module, own) if isinstance(module, RULE_TYPES) else _NO_FORMULA
            text = ""
        mc = calls.get(name, [])
        records.append(
            LayerRecord(
                name=name,
                type=module_type(module),
                depth=0 if name == "" else name.count(".") + 1,
                calls=len(mc),
                input_shapes=mc[0].input_shapes if mc else [],
                output_shapes=mc[0].output_shapes if mc else [],
                params=n_params,
                trainable_params=n_trainable,
                formula=text,
                formula_terms=f.explain(),
                formula_note=f.note,
                shared_params=n_shared,
                shared_with=shared_with,
                subtree_params=0,
                subtree_trainable_params=0,
                self_macs=self_macs.get(name, 0),
                macs=0,
                self_activation_bytes=self_act.get(name, 0),
                activation_bytes=0,
                self_saved_bytes=graph.saved_bytes.get(name, 0),
                saved_bytes=0,
                children=children.get(name, []),
            )
        )
    # Subtree sums: each record's own figures, then what it has gathered, handed to its nearest
    # recorded ancestor, deepest records first (every ancestor of a record has fewer dots). The same
    # integer sums as adding each record to every ancestor, with one addition per record.
    by_name = {r.name: r for r in records}
    for rec in records:
        rec.subtree_params = rec.params
        rec.subtree_trainable_params = rec.trainable_params
        rec.macs = rec.self_macs
        rec.activation_bytes = rec.self_activation_bytes
        rec.saved_bytes = rec.self_saved_bytes
    for rec in sorted(records, key=lambda r: r.name.count("."), reverse=True):
        if not rec.name:
            continue
        path = rec.name
        target = None
        while path and target is None:
            path = path.rpartition(".")[0]
            target = by_name.get(path)
        if target is None:
            continue
        target.subtree_params += rec.subtree_params
        target.subtree_trainable_params += rec.subtree_trainable_params
        target.macs += rec.macs
        target.activation_bytes += rec.activation_bytes
        target.saved_bytes += rec.saved_bytes
    return records


_NO_FORMULA = Formula(())


def _totals(model: nn.Module, graph: Graph, cast: torch.dtype | None,
            modules: tuple[list[tuple[str, nn.Module]], bool] | None = None) -> Totals:
    def nbytes(t: torch.Tensor) -> int:
        itemsize = (cast.itemsize if cast is not None and t.is_floating_point() else t.element_size())
        return t.numel() * itemsize

    named, plain = _named_modules(model) if modules is None else modules
    if plain:
        params = _unique_tensors(named, "_parameters")  # unique tensors: shared ones once
        buffers = _unique_tensors(named, "_buffers")
    else:
        params = list(model.parameters())
        buffers = list(model.buffers())
    n_params = n_trainable = param_bytes = trainable_bytes = 0
    for p in params:  # one pass: numel and the byte size once per tensor
        n, b = p.numel(), nbytes(p)
        n_params += n
        param_bytes += b
        if p.requires_grad:
            n_trainable += n
            trainable_bytes += b
    uncounted: Counter[str] = Counter()
    free: Counter[str] = Counter()
    macs = act = 0
    for node in graph.nodes:
        macs += node.macs
        for o in node.outputs:
            if o.allocated:
                act += o.nbytes
        if node.counted:
            continue
        (uncounted if has_arithmetic(node.overload) else free)[node.op] += 1
    return Totals(
        params=n_params,
        trainable_params=n_trainable,
        non_trainable_params=n_params - n_trainable,
        param_bytes=param_bytes,
        trainable_param_bytes=trainable_bytes,
        buffer_bytes=sum(nbytes(b) for b in buffers),
        macs=macs,
        flops=2 * macs,
        input_bytes=sum(t.nbytes for t in graph.inputs),
        forward_activation_bytes=act,
        saved_bytes=graph.total_saved_bytes,
        uncounted_ops=dict(uncounted.most_common()),
        no_arithmetic_ops=dict(free.most_common()),
    )


def _add_receptive_fields(result: Summary) -> None:
    """Fill each layer's receptive-field cell, when the model has spatial inputs."""
    if not any(len(s) >= 3 for s in result.input_sizes):
        return
    try:
        from netanatomy.receptive.engine import module_fields
    except ImportError:  # the engine is optional for the summary
        return
    fields = module_fields(result.graph)
    for rec in result.layers:
        info = fields.get(rec.name)
        if info is not None:
            rec.receptive_field = info.short()
