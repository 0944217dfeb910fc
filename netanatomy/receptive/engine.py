"""Receptive fields on the captured computation graph (functional ops, adds and concatenations included).

The engine walks the aten ops of one forward pass in order (they are already topologically
sorted) and gives every tensor its field per input spatial axis (:mod:`netanatomy.receptive.ops`
has the rule of each op). Where paths meet, the field is the union of the paths' fields, and the
paths are checked for *alignment* (Araujo et al., Distill 2019, "Computing Receptive Fields of
Convolutional Neural Networks", §"Alignment"): same effective stride and same centre, otherwise
the field is reported unaligned and the two paths are named.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from netanatomy.capture.graph import GRAPH_INPUT, Graph, OpNode, TensorRef
from netanatomy.errors import UnknownNameError, UserError, close_names
from netanatomy.receptive.fields import AxisField, FieldInfo, fmt
from netanatomy.receptive.ops import (
    Context,
    Field,
    OpError,
    Rule,
    Step,
    TensorField,
    Unknown,
    constant,
    is_creation,
    rule_for,
)


@dataclass(frozen=True)
class Misalignment:
    """Two paths that meet at ``node`` but disagree on jump or centre along ``axis``."""

    node: int
    module: str
    op: str
    axis: int
    paths: tuple[str, str]
    jumps: tuple[Fraction, Fraction]
    centres: tuple[Fraction | None, Fraction | None]

    def __str__(self) -> str:
        where = self.module or "the model's forward"
        return (f"{self.op} in {where} (axis {self.axis}): path {self.paths[0]} has jump {fmt(self.jumps[0])}, centre "
                f"{fmt(self.centres[0])}; path {self.paths[1]} has jump {fmt(self.jumps[1])}, centre {fmt(self.centres[1])}")


@dataclass
class FieldMap:
    """The field of every tensor of a captured graph."""

    graph: Graph
    input_index: int
    n_axes: int
    fields: dict[tuple[int, int], Field]
    steps: dict[int, Step]
    misalignments: list[Misalignment]
    unknown_ops: dict[str, str]  # op name -> first reason

    def lookup(self, ref: TensorRef) -> Field:
        if ref.producer >= 0:
            return self.fields[(ref.producer, ref.output)]
        if ref.producer == GRAPH_INPUT and ref.output == self.input_index:
            return _input_field(len(ref.shape), self.n_axes)
        return constant(len(ref.shape), self.n_axes)

    def info(self, ref: TensorRef) -> FieldInfo:
        """The public record of one tensor's field."""
        in_size = tuple(self.graph.inputs[self.input_index].shape[2:])
        f = self.lookup(ref)
        if isinstance(f, Unknown):
            n = self.n_axes
            return FieldInfo((None,) * n, (Fraction(1),) * n, (Fraction(0),) * n, (None,) * n, in_size, known=False, note=f.reason)
        if f.is_constant:
            return FieldInfo((), (), (), (), in_size)
        axes = tuple(_NO_AXIS if a is None else a for a in f.axes)
        # The length of the first tensor dimension that walks along each axis (None: none does).
        walk: list[int | None] = [None] * self.n_axes
        for d, a in enumerate(f.dims):
            if a is not None and walk[a] is None:
                walk[a] = ref.shape[d]
        size: list[Fraction | None] = []
        jump: list[Fraction] = []
        start: list[Fraction] = []
        exact = aligned = True
        for af in axes:
            ints = af.integral
            if ints is not None:  # nearly every field: its ints as they are, no Fraction to convert
                size.append(ints[0])  # type: ignore[arg-type]
                jump.append(ints[1])  # type: ignore[arg-type]
                start.append(ints[2])  # type: ignore[arg-type]
            else:
                size.append(None if af.size is None else _num(af.size))
                jump.append(_num(af.jump))
                start.append(_num(af.start))
            if not af.exact:
                exact = False
            if not af.aligned:
                aligned = False
        # FieldInfo(size=..., ...) without the frozen dataclass's __init__ (ten object.__setattr__
        # calls, half the cost of this method): the same attributes, set at once.
        info = object.__new__(FieldInfo)
        info.__dict__.update(
            size=tuple(size),
            jump=tuple(jump),
            start=tuple(start),
            units=tuple(walk),
            input_size=in_size,
            exact=exact,
            aligned=aligned,
            known=True,
            note="" if exact else "fractional stride or uneven windows on the path: the size is the linear model's",
            axes_fields=axes,
        )
        return info


#: The field ``info`` shows on an axis the tensor does not depend on (size, jump and start 0).
_NO_AXIS = AxisField(Fraction(0), Fraction(0))


def _num(x: Fraction) -> Fraction:
    """Integral values as plain ints (typed as Fraction: ints compare and compute alike)."""
    return int(x) if x.denominator == 1 else x  # type: ignore[return-value]


@functools.cache
def _input_field(rank: int, n_axes: int) -> TensorField:
    return TensorField((None, None, *range(n_axes)), tuple(AxisField(Fraction(1)) for _ in range(n_axes)))


def _path_name(graph: Graph, ref: TensorRef) -> str:
    if ref.producer < 0:
        return "input"
    node = graph.nodes[ref.producer]
    return f"{node.module or 'forward'} ({node.op})"


def propagate(graph: Graph, input_index: int = 0) -> FieldMap:
    """The field of every tensor of ``graph`` with respect to input ``input_index``.

    Raises:
        UserError: the input has no spatial axes (a sequence of token indices, a flat vector).
    """
    if input_index >= len(graph.inputs):
        raise UserError(f"the model has {len(graph.inputs)} input(s); there is no input {input_index}")
    inp = graph.inputs[input_index]
    if len(inp.shape) < 3 or not inp.dtype.is_floating_point:
        shape = "x".join(map(str, inp.shape))
        raise UserError(f"the model's input {shape} ({str(inp.dtype).replace('torch.', '')}) has no spatial axes "
                        "(N x C x L, N x C x H x W or N x C x D x H x W): receptive fields apply to convolutional models only")
    n_axes = len(inp.shape) - 2
    fmap = FieldMap(graph, input_index, n_axes, {}, {}, [], {})
    rules: dict[tuple[str, int], Rule | None] = {}
    for node in graph.nodes:
        outs = _node_fields(fmap, node, rules)
        for k, f in enumerate(outs):
            fmap.fields[(node.index, k)] = f
    return fmap


def _node_fields(fmap: FieldMap, node: OpNode, rules: dict[tuple[str, int], Rule | None]) -> list[Field]:
    refs = node.tensor_inputs()
    fields = fmap.fields
    # lookup() inlined for the inputs made by ops, nearly all of them (~3,000 per DenseNet-121).
    ins = [fields[(r.producer, r.output)] if r.producer >= 0 else fmap.lookup(r) for r in refs]
    for f in ins:
        if isinstance(f, Unknown):
            return [f for _ in node.outputs]
    if is_creation(node) or all(f.is_constant for f in ins):  # type: ignore[union-attr]  # no Unknown is left
        return [constant(len(o.shape), fmap.n_axes) for o in node.outputs]
    # The rule of each kind of op looked up once per graph, by the overload's id: OpOverload's
    # own __hash__ is Python code (~0.5 µs). The graph's nodes keep the overloads alive.
    key = (node.op, id(node.overload))
    if key in rules:
        rule = rules[key]
    else:
        rule = rules[key] = rule_for(node)
    if rule is None:
        where = f" in {node.module!r}" if node.module else ""
        reason = f"no receptive-field rule for op {node.op!r}{where}"
        fmap.unknown_ops.setdefault(node.op, reason)
        return [Unknown(reason) for _ in node.outputs]
    ctx = Context(node, fmap.lookup, fmap.n_axes, refs, ins)
    try:
        outs = rule(ctx)
    except OpError as exc:
        reason = f"{exc}{' in ' + repr(node.module) if node.module else ''}"
        fmap.unknown_ops.setdefault(node.op, reason)
        return [Unknown(reason) for _ in node.outputs]
    fmap.steps[node.index] = ctx.step
    if ctx.step.kind == "merge":
        _check_alignment(fmap, node, ctx.step, ctx.agreed)
    if len(outs) < len(node.outputs):
        return outs + [constant(len(o.shape), fmap.n_axes) for o in node.outputs[len(outs):]]
    return outs


def _check_alignment(fmap: FieldMap, node: OpNode, step: Step, agreed: frozenset[int] = frozenset()) -> None:
    """Record the first pair of paths that disagree on jump or centre (Araujo et al. 2019).

    ``agreed``: axes on which the merge already found all paths aligned (nothing to record).
    """
    for axis, refs in step.params.items():
        if axis in agreed:
            continue
        fields: list[tuple[TensorRef, AxisField]] = []
        keys: set[tuple[int, int] | None] = set()
        for ref in refs:
            f = fmap.fields[(ref.producer, ref.output)] if ref.producer >= 0 else fmap.lookup(ref)
            if isinstance(f, TensorField) and f.axes[axis] is not None:
                af: AxisField = f.axes[axis]  # type: ignore[assignment]
                fields.append((ref, af))
                ints = af.integral
                keys.add((ints[1], 2 * ints[2] + ints[0]) if ints is not None and af.aligned else None)
        if len(keys) == 1 and None not in keys:
            # Every path integral and aligned with one jump and centre (DenseNet's concatenations
            # of up to 32 paths): no pair below can disagree.
            continue
        for (ra, fa), (rb, fb) in itertools.pairwise(fields):
            if fa.is_global or fb.is_global or not (fa.aligned and fb.aligned):
                continue
            ia, ib = fa.integral, fb.integral
            if ia is not None and ib is not None:  # the same test on ints: 2·u_0 = 2·start + size - 1
                if ia[1] == ib[1] and 2 * ia[2] + ia[0] == 2 * ib[2] + ib[0]:
                    continue
            elif fa.jump == fb.jump and fa.centre == fb.centre:
                continue
            fmap.misalignments.append(Misalignment(
                node.index, node.module, node.op, axis, (_path_name(fmap.graph, ra), _path_name(fmap.graph, rb)),
                (fa.jump, fb.jump), (fa.centre, fb.centre)))
            return


def module_fields(graph: Graph, input_index: int = 0) -> dict[str, FieldInfo]:
    """The receptive field of each module call's (first) output, by module path.

    Used by ``netanatomy summary``. Returns ``{}`` for a model without spatial input.
    """
    if not graph.inputs or len(graph.inputs[input_index].shape) < 3 or not graph.inputs[input_index].dtype.is_floating_point:
        return {}
    fmap = propagate(graph, input_index)
    out: dict[str, FieldInfo] = {}
    # A container's output is its last child's (DenseNet-121: 66 of 433 calls): one record each.
    seen: dict[tuple[int, int, tuple[int, ...]], FieldInfo] = {}
    for call in graph.calls:
        if call.output_refs and call.path not in out:
            ref = call.output_refs[0]
            key = (ref.producer, ref.output, ref.shape)
            info = seen.get(key)
            if info is None:
                info = seen[key] = fmap.info(ref)
            out[call.path] = info
    return out


@dataclass(frozen=True)
class LayerField:
    """One module call and the field of its output."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    field: FieldInfo
    node: int  # the graph node that produced the output (-1: the graph input itself)
    depth: int = 0
    end_node: int = 0  # one past the call's last op: calls that finish later come later


@dataclass(frozen=True)
class WorkingStep:
    """One op on the path that sets a layer's field: the recurrence it applied."""

    node: int
    module: str
    op: str
    kind: str
    params: dict[int, tuple[Any, ...]]
    before: tuple[AxisField | None, ...]
    after: tuple[AxisField | None, ...]
    note: str = ""
    other_paths: tuple[str, ...] = ()


@dataclass
class ReceptiveFieldResult:
    """What :func:`receptive_field` returns: the chosen layer's field, every layer's, and the working."""

    layer: str
    field: FieldInfo
    layers: list[LayerField]
    working: list[WorkingStep]
    misalignments: list[Misalignment]
    unknown_ops: dict[str, str]
    input_size: tuple[int, ...]
    fmap: FieldMap = dataclasses.field(repr=False)

    @property
    def size(self) -> tuple[Fraction | None, ...]:
        return self.field.size

    @property
    def jump(self) -> tuple[Fraction, ...]:
        return self.field.jump

    @property
    def padding(self) -> tuple[Fraction, ...]:
        return self.field.padding

    def unit_box(self, unit: Sequence[int]) -> tuple[tuple[Fraction, Fraction] | None, ...]:
        """The (unclipped) input box, first and last pixel per axis, that output unit ``unit`` sees."""
        units = self.field.units
        if len(unit) != len(units):
            raise UserError(f"--unit needs {len(units)} indices (one per spatial axis), got {len(unit)}")
        for i, (u, n) in enumerate(zip(unit, units)):
            if n is not None and not 0 <= u < n:
                raise UserError(f"unit index {u} out of range on axis {i}: layer {self.layer!r} has {n} units there (0..{n - 1})")
        return self.field.box(tuple(unit))

    def clipped_box(self, unit: Sequence[int]) -> tuple[tuple[Fraction, Fraction] | None, ...]:
        """The input box that ``unit`` really sees at this input size (see :func:`clipped_box`)."""
        self.unit_box(unit)
        call = next(c for c in self.fmap.graph.calls if c.path == self.layer)
        return clipped_box(self.fmap, call.output_refs[0], tuple(unit))

    def __str__(self) -> str:
        return describe(self.layer, self.field)


def clipped_box(fmap: FieldMap, ref: TensorRef, unit: tuple[int, ...],
                cache: dict[tuple[int, int], tuple[tuple[Fraction, Fraction] | None, ...]] | None = None,
                ) -> tuple[tuple[Fraction, Fraction] | None, ...]:
    """The box of ``unit`` clipped to what the input really lets it see.

    Intersecting the theoretical box with the input is not enough: a layer may never look at the
    last pixels (SqueezeNet's 7x7 stride-2 conv1 skips pixel 31 of a 32-pixel input). So the box
    is also intersected with the *reach* of every tensor on the path that sets the field, i.e. the
    input pixels that any of that tensor's units sees: [start, start + (m-1)·j + r - 1] for m units.

    ``cache``: a dict shared between calls on the same ``fmap`` (e.g. every layer of a model),
    so that the paths' common parts are walked once.
    """
    info = fmap.info(ref)
    reach = path_reach(fmap, ref, {} if cache is None else cache)
    out: list[tuple[Fraction, Fraction] | None] = []
    for box, n, lim in zip(info.box(unit), info.input_size, reach):
        if box is None:
            out.append(None)
            continue
        lo, hi = max(box[0], Fraction(0)), min(box[1], Fraction(n - 1))
        if lim is not None:
            lo, hi = max(lo, lim[0]), min(hi, lim[1])
        out.append((lo, hi))
    return tuple(out)


def path_reach(fmap: FieldMap, ref: TensorRef,
               cache: dict[tuple[int, int], tuple[tuple[Fraction, Fraction] | None, ...]],
               ) -> tuple[tuple[Fraction, Fraction] | None, ...]:
    """Per input axis, the intersection of the reaches of the tensors on the path that sets the
    field of ``ref`` (None: unconstrained); see :func:`clipped_box`."""
    chain: list[TensorRef] = []
    cur: TensorRef | None = ref
    while cur is not None and cur.producer >= 0 and (cur.producer, cur.output) not in cache:
        chain.append(cur)
        step = fmap.steps.get(cur.producer)
        cur = step.source if step is not None else None
    known: tuple[tuple[Fraction, Fraction] | None, ...] = (
        cache[(cur.producer, cur.output)] if cur is not None and cur.producer >= 0 else (None,) * fmap.n_axes)
    for r in reversed(chain):  # from the input side forward, each tensor narrowing the reach
        lims: list[tuple[Fraction, Fraction] | None] = list(known)
        f = fmap.lookup(r)
        if isinstance(f, TensorField):
            for d, a in enumerate(f.dims):
                af = f.axes[a] if a is not None else None
                if a is None or af is None or af.size is None or not af.exact:
                    continue
                hi = af.start + (r.shape[d] - 1) * af.jump + af.size - 1
                old = lims[a]
                lims[a] = (af.start, hi) if old is None else (max(old[0], af.start), min(old[1], hi))
        known = tuple(lims)
        cache[(r.producer, r.output)] = known
    return known


def describe(layer: str, f: FieldInfo) -> str:
    """One line: the field of ``layer``, its jump and padding, and its clipping."""
    if layer.replace(".", "").isdigit():  # nn.Sequential indices read better as "layer 2"
        layer = f"layer {layer}"
    if not f.known:
        return f"{layer}: receptive field unknown ({f.note})"
    if f.is_global:
        return f"{layer}: global receptive field (every output unit sees the whole input)"
    size = "x".join(fmt(s) for s in f.size)
    same = len(set(f.size)) == 1 and len(set(f.jump)) == 1 and len(set(f.padding)) == 1
    if same:
        size = fmt(f.size[0])
    jump = fmt(f.jump[0]) if same else "x".join(fmt(j) for j in f.jump)
    pad = fmt(f.padding[0]) if same else "x".join(fmt(p) for p in f.padding)
    text = f"{layer}: receptive field {size}, jump (effective stride) {jump}, effective padding {pad}"
    if not f.exact:
        text += " (approximate: fractional stride or uneven windows on the path)"
    if not f.aligned:
        text += " (UNALIGNED paths: the field is not the same for every unit)"
    clip = f.clipping()
    if any(c > 0 for c in clip):
        n = "x".join(map(str, f.input_size))
        text += f"; clipped by the {n} input: {'x'.join(fmt(c) for c in clip)} pixels of the field lie outside it"
    return text


def _node_of(ref: TensorRef) -> int:
    return ref.producer if ref.producer >= 0 else -1


def working(fmap: FieldMap, ref: TensorRef) -> list[WorkingStep]:
    """The ops that set the field of ``ref``, from the input forward, following the largest path."""
    steps: list[WorkingStep] = []
    cur: TensorRef | None = ref
    while cur is not None and cur.producer >= 0:
        node = fmap.graph.nodes[cur.producer]
        step = fmap.steps.get(node.index)
        if step is None or step.source is None:
            break
        after, before = fmap.lookup(cur), fmap.lookup(step.source)
        if isinstance(after, TensorField) and isinstance(before, TensorField) and (after.axes != before.axes or step.kind == "merge"):
            others: tuple[str, ...] = ()
            if step.kind == "merge":
                refs = list(dict.fromkeys(r for v in step.params.values() for r in v))
                others = tuple(f"{_path_name(fmap.graph, r)} r={_size_text(fmap.lookup(r))}" for r in refs if r != step.source)
            steps.append(WorkingStep(node.index, node.module, node.op, step.kind, dict(step.params) if step.kind != "merge" else {},
                                     before.axes, after.axes, step.note, others))
        cur = step.source
    return list(reversed(steps))


def _size_text(f: Field) -> str:
    if not isinstance(f, TensorField) or f.is_constant:
        return "-"
    sizes = [fmt(a.size) for a in f.axes if a is not None]
    return sizes[0] if len(set(sizes)) == 1 else "x".join(sizes)


def layer_fields(graph: Graph, fmap: FieldMap) -> list[LayerField]:
    layers: list[LayerField] = []
    seen: set[str] = set()
    for call in graph.calls:
        if not call.path or call.path in seen or not call.output_refs:
            continue
        seen.add(call.path)
        ref = call.output_refs[0]
        layers.append(LayerField(call.path, call.type, ref.shape, fmap.info(ref), _node_of(ref), call.depth, call.end_node))
    return layers


def find_layer(layers: list[LayerField], name: str) -> LayerField:
    for lf in layers:
        if lf.name == name:
            return lf
    names = [lf.name for lf in layers]
    near = close_names(name, names) or f" Its layers include {', '.join(names[:6])}{' ...' if len(names) > 6 else ''}."
    raise UnknownNameError(f"no layer {name!r} in this model.{near} (`netanatomy rf MODEL` lists them)")


def default_layer(layers: list[LayerField]) -> LayerField:
    """The last layer with a local field: the output of the model's spatial trunk."""
    # In finishing order, an enclosing module after its last child (GoogLeNet's inception5b, not
    # its last branch).
    ordered = sorted(layers, key=lambda lf: (lf.end_node, -lf.depth), reverse=True)
    for exact_only in (True, False):
        for lf in ordered:
            f = lf.field
            if f.known and f.size and not any(s is None for s in f.size) and any(u is not None for u in f.units) \
                    and (f.exact or not exact_only):
                return lf
    raise UserError("no layer of this model has a local receptive field (no convolution or pooling before the "
                    "first global operation); nothing to report")


def receptive_field(
    model: nn.Module,
    input_size: Sequence[int],
    layer: str | None = None,
    *,
    input_dtype: torch.dtype = torch.float32,
) -> ReceptiveFieldResult:
    """Receptive field of ``layer`` (default: the last layer with a local field) of ``model``.

    Args:
        model: any ``nn.Module``; it is traced on fake tensors and not changed.
        input_size: the input shape, batch first, e.g. ``(1, 3, 224, 224)``; the spatial size
            matters only for adaptive pooling and for the clipping check.
        layer: a module path as in ``model.named_modules()``, e.g. ``"layer4"`` or ``"features.29"``.
        input_dtype: dtype of the input (floating point: receptive fields need spatial inputs).

    Returns:
        A :class:`ReceptiveFieldResult`: ``.size``, ``.jump``, ``.padding`` per spatial axis
        (``None`` size = global), ``.field`` (a :class:`FieldInfo`), every layer's field in
        ``.layers``, and ``.working``, the recurrence applied at each step of the path that sets it.
    """
    from netanatomy.capture.tracer import capture

    graph = capture(model, [tuple(input_size)], [input_dtype], training=False)
    return result_from_graph(graph, layer)


def result_from_graph(graph: Graph, layer: str | None = None) -> ReceptiveFieldResult:
    """:func:`receptive_field` on an already captured graph."""
    fmap = propagate(graph, 0)
    layers = layer_fields(graph, fmap)
    chosen = find_layer(layers, layer) if layer is not None else default_layer(layers)
    call = next(c for c in graph.calls if c.path == chosen.name)
    ref = call.output_refs[0]
    return ReceptiveFieldResult(
        layer=chosen.name,
        field=chosen.field,
        layers=layers,
        working=working(fmap, ref),
        misalignments=list(fmap.misalignments),
        unknown_ops=dict(fmap.unknown_ops),
        input_size=tuple(graph.inputs[0].shape),
        fmap=fmap,
    )
