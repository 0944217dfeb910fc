"""How each aten op moves a receptive field, one rule per kind of op (data over code).

Every tensor carries a :class:`TensorField`: for each of its dimensions, which input spatial axis
it walks along (batch and channel dimensions walk along none), and for each input axis the
:class:`~netanatomy.receptive.fields.AxisField` of its units. An op we have no rule for makes its
output *unknown* (with the op's name), never a silently wrong number.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import torch

from netanatomy.capture.graph import OpNode, TensorRef
from netanatomy.receptive.fields import AxisField, union


@dataclass(frozen=True)
class TensorField:
    """Which input axis each tensor dimension walks along, and the field along every input axis."""

    dims: tuple[int | None, ...]
    axes: tuple[AxisField | None, ...]  # indexed by input axis; None: does not depend on that axis

    @functools.cached_property
    def is_constant(self) -> bool:
        """True when no unit depends on the input (computed once per field: every op asks it of
        each of its inputs, DenseNet's concatenations of up to 32 inputs included)."""
        return all(a is None for a in self.axes)


@dataclass(frozen=True)
class Unknown:
    """A tensor whose field we cannot give, and the op that made it so."""

    reason: str


Field = TensorField | Unknown


@dataclass
class Step:
    """What one op did to the field, for the working shown by ``netanatomy rf --layer``."""

    kind: str  # "window", "transposed", "shift", "merge", "global", "resample", "same"
    source: TensorRef | None  # the input that sets the field (the largest path at a merge)
    params: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # axis -> (k_eff, s, p) etc.
    note: str = ""


class OpError(Exception):
    """This op's effect on the field is not known; the message says why."""


#: Ops that act on every spatial position independently (activations, arithmetic, batch norm
#: in its inference form: a per-channel affine map, as in every receptive-field reference).
_ELEMENTWISE: frozenset[str] = frozenset(
    {
        "add", "sub", "rsub", "mul", "div", "where", "eq", "ne", "lt", "le", "gt", "ge", "_to_copy",
        "alias", "detach", "contiguous", "clone", "lift_fresh_copy", "lift_fresh", "native_dropout",
        "dropout", "hardswish", "native_batch_norm", "_native_batch_norm_legit_no_training",
        "_native_batch_norm_legit", "batch_norm", "channel_shuffle", "native_channel_shuffle",
        "prelu", "_prelu_kernel", "type_as", "to", "feature_dropout", "alpha_dropout",
        "relu6", "glu_jvp", "masked_fill", "fill", "_conj", "resolve_conj", "resolve_neg",
        "_log_softmax_backward_data",
    }
)
#: Ops whose output does not depend on the values of their tensor inputs.
_CREATION: frozenset[str] = frozenset(
    {
        "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "full",
        "full_like", "new_empty", "new_zeros", "new_ones", "new_full", "new_empty_strided",
        "scalar_tensor", "arange", "rand", "randn", "rand_like", "randn_like", "randint",
        "randint_like", "bernoulli_", "bernoulli", "zero_", "fill_", "normal_", "uniform_",
        "sym_size", "sym_stride", "sym_numel", "_local_scalar_dense", "size", "stride",
    }
)
_REDUCTIONS: frozenset[str] = frozenset(
    {"mean", "sum", "amax", "amin", "max", "min", "var", "std", "var_mean", "std_mean", "prod",
     "logsumexp", "norm", "linalg_vector_norm", "argmax", "argmin", "all", "any", "nansum", "nanmean",
     "count_nonzero", "median", "mode"}
)
_ALONG_DIM: frozenset[str] = frozenset({"_softmax", "softmax", "_log_softmax", "log_softmax", "cumsum", "cumprod", "sort", "topk"})
_VIEWS: frozenset[str] = frozenset({"view", "_unsafe_view", "reshape", "view_copy", "_reshape_alias", "flatten", "unflatten"})


class Context:
    """What a rule needs: the fields of the op's inputs and the shapes of its outputs."""

    def __init__(self, node: OpNode, lookup: Callable[[TensorRef], Field], n_axes: int,
                 refs: list[TensorRef] | None = None, ins: list[Field] | None = None) -> None:
        self.node = node
        self.lookup = lookup
        self.n_axes = n_axes
        self.step = Step("same", None)
        #: ``node.tensor_inputs()`` and, when the caller has them already, their fields (else None)
        self.refs = node.tensor_inputs() if refs is None else refs
        self.ins = ins
        #: Axes on which a merge found every path aligned, with one jump and centre: the
        #: engine's alignment check has nothing to look for there.
        self.agreed: frozenset[int] = frozenset()

    def field(self, ref: Any) -> TensorField:
        f = self.lookup(ref)
        assert isinstance(f, TensorField)  # unknown inputs are handled before the rule runs
        return f

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.node.outputs[0].shape if self.node.outputs else ()


@functools.cache
def constant(rank: int, n_axes: int) -> TensorField:
    """The field of a tensor that does not depend on the input: one shared record per rank (a
    parameter or buffer is looked up by every op that reads it, ~2,400 times in DenseNet-121)."""
    return TensorField((None,) * rank, (None,) * n_axes)


def _ndim(x: TensorRef) -> int:
    return len(x.shape)


def _norm_dim(d: int, rank: int) -> int:
    return d + rank if d < 0 else d


@functools.cache
def _spatial(dims: tuple[int | None, ...]) -> tuple[tuple[int, int], ...]:
    """``(dimension, axis)`` of the dimensions that walk along an input axis (few distinct ``dims``)."""
    return tuple((k, a) for k, a in enumerate(dims) if a is not None)


def _merge(ctx: Context, refs: list[TensorRef], out_shape: tuple[int, ...], skip_dim: int | None = None,
           fields: list[Field] | None = None) -> TensorField:
    """Broadcasting merge of several inputs (elementwise ops, adds, concatenations).

    ``fields``: the fields of ``refs`` when the caller has them (else they are looked up).
    """
    rank = len(out_shape)
    live: list[tuple[TensorRef, TensorField]] = []  # the inputs that depend on the image
    for ref, f in zip(refs, fields if fields is not None else map(ctx.field, refs)):
        if not f.is_constant:  # type: ignore[union-attr]  # unknown inputs never reach a rule
            live.append((ref, f))  # type: ignore[arg-type]
    if skip_dim is None and len(live) == 1:
        # One input that depends on the image, of the output's own shape (an activation, a batch
        # norm whose other inputs are constants): the general path below returns its field as it
        # is; this says the same without building it again.
        ref, f = live[0]
        if tuple(ref.shape) == tuple(out_shape) and all(f.axes[a] is not None for a in f.dims if a is not None):
            ctx.step = Step("same", ref, {a: (ref,) for a, af in enumerate(f.axes) if af is not None})
            return f
    dims: list[int | None] = [None] * rank
    broadcast = False  # whether a path's field was changed by broadcasting (jump 0)
    rows: list[tuple[AxisField | None, ...] | list[AxisField | None]] = []  # each path's fields
    for ref, f in live:
        axes: tuple[AxisField | None, ...] | list[AxisField | None] = f.axes  # copied before a change only
        offset = rank - len(ref.shape)
        for k, a in _spatial(f.dims):
            od = k + offset
            af = axes[a]
            if od < 0 or af is None:
                raise OpError(f"{ctx.node.op}: broadcast drops a spatial dimension")
            if ref.shape[k] == 1 and out_shape[od] != 1 and not af.is_global:
                broadcast = True
                axes = list(axes)
                axes[a] = replace(af, jump=Fraction(0), aligned=False)  # every unit reads the same one
                continue
            if dims[od] is not None and dims[od] != a:
                raise OpError(f"{ctx.node.op} mixes two different spatial axes in one dimension")
            if od != skip_dim:
                dims[od] = a
        rows.append(axes)
    # Per input axis, the fields of the paths and the paths, in input order; the axes in the order
    # their first path names them. One column at a time, not one dict entry per path and axis:
    # DenseNet-121 merges ~600 paths per forward.
    paths_all = [ref for ref, _ in live]
    per_axis: dict[int, tuple[list[AxisField], list[TensorRef]]] = {}
    order: list[tuple[int, int]] = []
    for a in range(ctx.n_axes):
        col = [axes[a] for axes in rows]
        if None not in col:
            per_axis[a] = (col, paths_all)  # type: ignore[assignment]
            order.append((0, a))
        else:
            kept = [(af, ref) for af, ref in zip(col, paths_all) if af is not None]
            if kept:
                per_axis[a] = ([af for af, _ in kept], [ref for _, ref in kept])
                order.append((next(i for i, af in enumerate(col) if af is not None), a))
    if order != sorted(order):
        per_axis = {a: per_axis[a] for _, a in sorted(order)}
    out_axes: list[AxisField | None] = [None] * ctx.n_axes
    source: TensorRef | None = None
    for a, (afs, paths) in per_axis.items():
        merged, best = union(afs)
        out_axes[a] = merged
        if source is None:
            source = paths[best]
    # More than one distinct path? Compared with the first one rather than collected in a set:
    # hashing a TensorRef (its shape and dtype too) costs more than the comparisons.
    first = next(iter(per_axis.values()))[1][0] if per_axis else None
    several = any(r is not first and r != first for _, paths in per_axis.values() for r in paths)
    ctx.step = Step("merge" if several else "same", source, {a: tuple(paths) for a, (_, paths) in per_axis.items()})
    # A local union marked aligned had every path aligned, with one jump and centre (a global one
    # says nothing of the others; a broadcast path's own field is not the one merged).
    ctx.agreed = frozenset() if broadcast else frozenset(
        a for a, f in enumerate(out_axes) if f is not None and f.aligned and f.size is not None)
    return TensorField(tuple(dims), tuple(out_axes))


def _elementwise(ctx: Context) -> list[Field]:
    refs, fields = ctx.refs, ctx.ins
    if ctx.node.op == "copy_":  # copy_(dst, src): the result holds src only
        refs, fields = refs[1:], None if fields is None else fields[1:]
    main = _merge(ctx, refs, ctx.out_shape, fields=fields)
    # Extra outputs (a batch norm's saved statistics, dropout's mask) have their own ranks.
    outs: list[Field] = [main]
    if len(ctx.node.outputs) > 1:
        shape = ctx.out_shape
        for info in ctx.node.outputs[1:]:
            outs.append(main if info.shape == shape else _statistics(ctx.node.op))
    return outs


@functools.cache
def _statistics(op: str) -> Unknown:
    """The field of a statistics output of ``op``, one record per op (each batch norm has two)."""
    return Unknown(f"statistics output of {op}")


def _int_list(x: Any, n: int, default: int) -> list[int]:
    if x is None or (isinstance(x, (list, tuple)) and len(x) == 0):
        return [default] * n
    if isinstance(x, int):
        return [x] * n
    vals = [int(v) for v in x]
    return vals * n if len(vals) == 1 else vals


def _windowed(ctx: Context, x: TensorRef, f: TensorField, kernel: list[int], stride: list[int], padding: list[int], dilation: list[int]) -> TensorField:
    """Sliding windows (convolution, pooling) on the last len(kernel) dimensions of ``x``."""
    n = len(kernel)
    first = _ndim(x) - n
    axes = list(f.axes)
    params: dict[int, tuple[Any, ...]] = {}
    for i in range(n):
        a = f.dims[first + i]
        af = axes[a] if a is not None else None
        if a is None or af is None:
            continue
        axes[a] = af.window(kernel[i], stride[i], padding[i], dilation[i])
        params[a] = (kernel[i], stride[i], padding[i], dilation[i])
    ctx.step = Step("window", x, params)
    return TensorField(f.dims, tuple(axes))


def _mix_dims(f: TensorField, dims: list[int]) -> TensorField:
    """Every output depends on every position along ``dims``: their axes become global."""
    if all(f.dims[d] is None for d in dims):  # nothing to change (a convolution's channel dim)
        return f
    axes = list(f.axes)
    for d in dims:
        a = f.dims[d]
        if a is not None and axes[a] is not None:
            axes[a] = axes[a].made_global()  # type: ignore[union-attr]
    return TensorField(f.dims, tuple(axes))


def _convolution(ctx: Context) -> list[Field]:
    x, w = ctx.node.args[0], ctx.node.args[1]
    stride, padding, dilation, transposed = ctx.node.args[3:7]
    n = len(stride)
    kernel = list(w.shape[2:])
    f = _mix_dims(ctx.field(x), [1])  # a convolution mixes channels
    if not transposed:
        return [_windowed(ctx, x, f, kernel, list(stride), list(padding), list(dilation))]
    # Transposed convolution (Dumoulin & Visin 2016, §4): output o reads inputs i with
    # o = i·s - p + k·d, i.e. i in [(o + p - (K-1)·d)/s, (o + p)/s]. With s = 1 this is a
    # convolution padded by (K-1)·d - p; with s > 1 the stride is fractional (1/s) and the
    # number of inputs an output reads changes from unit to unit: the field is the linear model.
    axes = list(f.axes)
    params: dict[int, tuple[Any, ...]] = {}
    for i in range(n):
        a = f.dims[_ndim(x) - n + i]
        if a is None or axes[a] is None or axes[a].is_global:  # type: ignore[union-attr]
            continue
        af = axes[a]
        assert af is not None and af.size is not None
        k, s, p, d = kernel[i], stride[i], padding[i], dilation[i]
        # Outputs o of one residue class o mod s use the same taps t (those with o + p - t·d
        # divisible by s): they read (max t - min t)·d/s + 1 inputs. The field size is the
        # largest over the classes (exact, and reached by some unit); unit 0's taps give the start.
        taps = [[t for t in range(k) if (rho + p - t * d) % s == 0] for rho in range(s)]
        span = max((max(ts) - min(ts)) * d // s for ts in taps if ts) if any(taps) else 0
        first = max(taps[0]) if taps[0] else k - 1
        new = AxisField(af.size + span * af.jump, af.jump / s, af.start + Fraction(p - first * d, s) * af.jump, af.exact and s == 1, af.aligned)
        axes[a] = new
        params[a] = (k, s, p, d)
    ctx.step = Step("transposed", x, params)
    return [TensorField(f.dims, tuple(axes))]


def _pool(ctx: Context) -> list[Field]:
    op = ctx.node.op
    n = int(op.split("pool")[1][0])
    args = list(ctx.node.args) + [None] * 6
    x = args[0]
    kernel = _int_list(args[1], n, 1)
    stride = _int_list(args[2], n, 0)
    stride = [k if s == 0 else s for k, s in zip(kernel, stride)]
    padding = _int_list(args[3], n, 0)
    # max_pool(x, kernel, stride, padding, dilation, ceil_mode); avg_pool has no dilation.
    # ceil_mode changes only how many windows there are, not where each one lies.
    dilation = _int_list(args[4], n, 1) if op.startswith("max") and not isinstance(args[4], bool) else [1] * n
    out = _windowed(ctx, x, ctx.field(x), kernel, stride, padding, dilation)
    return [out for _ in ctx.node.outputs]


def _adaptive_pool(ctx: Context) -> list[Field]:
    x = ctx.node.args[0]
    sizes = list(ctx.node.args[1])
    f = ctx.field(x)
    n = len(sizes)
    axes = list(f.axes)
    dims = list(f.dims)
    params: dict[int, tuple[Any, ...]] = {}
    notes = []
    for i in range(n):
        d = _ndim(x) - n + i
        a = f.dims[d]
        if a is None or axes[a] is None:
            continue
        af = axes[a]
        assert af is not None
        n_in, n_out = x.shape[d], ctx.node.outputs[0].shape[d]
        if n_out == 1:
            axes[a] = af.made_global()  # global pooling: the one output sees the whole input
            dims[d] = None
            notes.append("global pooling")
        elif n_in % n_out == 0:  # PyTorch's windows [floor(i·n/m), ceil((i+1)·n/m)) are then even
            k = n_in // n_out
            axes[a] = af.window(k, k, 0)
            params[a] = (k, k, 0, 1)
        else:
            # Uneven windows [floor(i·n/m), ceil((i+1)·n/m)): keep the largest and say so.
            k = max(-(-(i_ + 1) * n_in // n_out) - (i_ * n_in // n_out) for i_ in range(n_out))
            axes[a] = af.window(k, Fraction(n_in, n_out), 0).inexact()
            params[a] = (k, Fraction(n_in, n_out), 0, 1)
            notes.append(f"adaptive pooling {n_in}->{n_out} has uneven windows")
    ctx.step = Step("window" if params else "global", x, params, "; ".join(notes))
    out = TensorField(tuple(dims), tuple(axes))
    return [out for _ in ctx.node.outputs]


def _reduction(ctx: Context) -> list[Field]:
    x = ctx.node.args[0]
    f = ctx.field(x)
    rank = _ndim(x)
    rest = list(ctx.node.args[2:] if ctx.node.op == "norm" else ctx.node.args[1:])
    dim_arg: Any = ctx.node.kwargs.get("dim")
    keepdim = bool(ctx.node.kwargs.get("keepdim", False))
    for k, v in enumerate(rest):
        if dim_arg is None and ((isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, (list, tuple)) and all(isinstance(e, int) for e in v))):
            dim_arg = v
            keepdim = bool(rest[k + 1]) if k + 1 < len(rest) and isinstance(rest[k + 1], bool) else keepdim
            break
    if dim_arg is None or (isinstance(dim_arg, (list, tuple)) and len(dim_arg) == 0):
        reduced = list(range(rank))
    else:
        reduced = [_norm_dim(d, rank) for d in ([dim_arg] if isinstance(dim_arg, int) else dim_arg)]
    mixed = _mix_dims(f, reduced)
    dims = [None if d in reduced else a for d, a in enumerate(mixed.dims)]
    if not keepdim:
        dims = [a for d, a in enumerate(dims) if d not in reduced]
    ctx.step = Step("global", x, note=f"{ctx.node.op} over dims {reduced}")
    outs: list[Field] = []
    for info in ctx.node.outputs:
        outs.append(TensorField(tuple(dims), mixed.axes) if len(info.shape) == len(dims) else constant(len(info.shape), ctx.n_axes))
    return outs


def _along_dim(ctx: Context) -> list[Field]:
    x = ctx.node.args[0]
    d = _norm_dim(int(ctx.node.args[1]), _ndim(x))
    out = _mix_dims(ctx.field(x), [d])
    ctx.step = Step("global", x, note=f"{ctx.node.op} along dim {d}")
    return [TensorField(out.dims, out.axes) if len(i.shape) == _ndim(x) else Unknown(ctx.node.op) for i in ctx.node.outputs]


def _matmul(ctx: Context) -> list[Field]:
    op = ctx.node.op
    a_ref, b_ref = (ctx.node.args[1], ctx.node.args[2]) if op in ("addmm", "baddbmm", "addbmm") else (ctx.node.args[0], ctx.node.args[1])
    fa, fb = ctx.field(a_ref), ctx.field(b_ref)
    # The contracted dimension (last of a, second-last of b) is summed over.
    fa = _mix_dims(fa, [_ndim(a_ref) - 1])
    fb = _mix_dims(fb, [_ndim(b_ref) - 2])
    axes: list[AxisField | None] = []
    for x, y in zip(fa.axes, fb.axes):
        present = [v for v in (x, y) if v is not None]
        axes.append(union(present)[0] if present else None)
    dims = (*fa.dims[:-1], fb.dims[-1])
    if op in ("addmm", "baddbmm"):  # the bias (args[0]) is added elementwise
        fc = ctx.field(ctx.node.args[0])
        if not fc.is_constant:
            raise OpError(f"{op} with an input-dependent bias")
    ctx.step = Step("global", a_ref, note=f"{op}: a fully connected layer")
    return [TensorField(tuple(dims), tuple(axes))]


def _view(ctx: Context) -> list[Field]:
    """A reshape keeps a spatial dimension only when it stays a dimension of its own."""
    x = ctx.node.args[0]
    f = ctx.field(x)
    src, dst = list(x.shape), list(ctx.out_shape)
    dims: list[int | None] = [None] * len(dst)
    axes = list(f.axes)
    i = j = 0
    merged = False
    while i < len(src) or j < len(dst):
        if i < len(src) and j < len(dst) and src[i] == 1 and dst[j] == 1:
            dims[j] = f.dims[i]  # a size-1 dimension kept in place (a 1-pixel-wide map stays one)
            i += 1
            j += 1
            continue
        if i < len(src) and src[i] == 1:
            i += 1
            continue
        if j < len(dst) and dst[j] == 1:
            j += 1
            continue
        if i >= len(src) or j >= len(dst):
            break
        gi, gj = [i], [j]
        pi, pj = src[i], dst[j]
        while pi != pj:
            if pi < pj:
                i += 1
                gi.append(i)
                pi *= src[i]
            else:
                j += 1
                gj.append(j)
                pj *= dst[j]
        if len(gi) == 1 and len(gj) == 1:
            dims[gj[0]] = f.dims[gi[0]]
        else:
            for d in gi:  # flattened or split: later ops can mix anything inside the group
                a = f.dims[d]
                if a is not None and axes[a] is not None:
                    axes[a] = axes[a].made_global()  # type: ignore[union-attr]
                    merged = True
        i += 1
        j += 1
    ctx.step = Step("global" if merged else "same", x, note="flatten" if merged else "")
    return [TensorField(tuple(dims), tuple(axes))]


def _permute(ctx: Context) -> list[Field]:
    x = ctx.node.args[0]
    f = ctx.field(x)
    rank = _ndim(x)
    op = ctx.node.op
    if op == "permute":
        order = [_norm_dim(d, rank) for d in ctx.node.args[1]]
    elif op in ("transpose", "swapaxes", "swapdims"):
        d0, d1 = (_norm_dim(int(d), rank) for d in ctx.node.args[1:3])
        order = list(range(rank))
        order[d0], order[d1] = order[d1], order[d0]
    else:  # t, numpy_T
        order = list(reversed(range(rank)))
    ctx.step = Step("same", x)
    return [TensorField(tuple(f.dims[d] for d in order), f.axes)]


def _unsqueeze(ctx: Context) -> list[Field]:
    x = ctx.node.args[0]
    f = ctx.field(x)
    d = _norm_dim(int(ctx.node.args[1]), _ndim(x) + 1)
    dims = list(f.dims)
    dims.insert(d, None)
    ctx.step = Step("same", x)
    return [TensorField(tuple(dims), f.axes)]


def _squeeze(ctx: Context) -> list[Field]:
    x = ctx.node.args[0]
    f = ctx.field(x)
    rank = _ndim(x)
    arg = ctx.node.args[1] if len(ctx.node.args) > 1 else None
    which = list(range(rank)) if arg is None else [_norm_dim(d, rank) for d in ([arg] if isinstance(arg, int) else arg)]
    dims = [a for d, a in enumerate(f.dims) if not (d in which and x.shape[d] == 1)]
    ctx.step = Step("same", x)
    return [TensorField(tuple(dims), f.axes)]


def _select(ctx: Context) -> list[Field]:
    x, d, index = ctx.node.args[0], ctx.node.args[1], int(ctx.node.args[2])
    d = _norm_dim(int(d), _ndim(x))
    f = ctx.field(x)
    axes = list(f.axes)
    a = f.dims[d]
    if a is not None and axes[a] is not None:
        index = index + x.shape[d] if index < 0 else index
        axes[a] = axes[a].shift(index, 0)  # type: ignore[union-attr]  # one row for every unit
    ctx.step = Step("shift", x)
    return [TensorField(tuple(v for k, v in enumerate(f.dims) if k != d), tuple(axes))]


def _slice(ctx: Context) -> list[Field]:
    args = list(ctx.node.args) + [None] * 5
    x = args[0]
    rank = _ndim(x)
    d = _norm_dim(int(args[1] if args[1] is not None else 0), rank)
    size = x.shape[d]
    start = 0 if args[2] is None else int(args[2])
    step = 1 if args[4] is None else int(args[4])
    start = max(0, min(size, start + size if start < 0 else start))
    f = ctx.field(x)
    axes = list(f.axes)
    a = f.dims[d]
    params: dict[int, tuple[Any, ...]] = {}
    if a is not None and axes[a] is not None:
        axes[a] = axes[a].shift(start, step)  # type: ignore[union-attr]
        params[a] = (start, step)
    ctx.step = Step("shift", x, params, note="crop")
    return [TensorField(f.dims, tuple(axes))]


def _pad(ctx: Context) -> list[Field]:
    x, pad = ctx.node.args[0], list(ctx.node.args[1])
    f = ctx.field(x)
    axes = list(f.axes)
    rank = _ndim(x)
    params: dict[int, tuple[Any, ...]] = {}
    # pad = (left of the last dim, right of the last dim, left of the one before, ...)
    for k in range(len(pad) // 2):
        d = rank - 1 - k
        a = f.dims[d]
        if a is not None and axes[a] is not None:
            axes[a] = axes[a].shift(-pad[2 * k])  # type: ignore[union-attr]
            params[a] = (pad[2 * k], pad[2 * k + 1])
    ctx.step = Step("pad", x, params, note=ctx.node.op)
    return [TensorField(f.dims, tuple(axes))]


def _cat(ctx: Context) -> list[Field]:
    refs = [r for r in ctx.node.args[0] if isinstance(r, TensorRef)]
    rank = len(ctx.out_shape)
    d = _norm_dim(int(ctx.node.args[1]) if len(ctx.node.args) > 1 else int(ctx.node.kwargs.get("dim", 0)), rank)
    # The engine's fields of the op's inputs when they are exactly the list's (a cat has no other).
    known = ctx.ins if ctx.ins is not None and len(ctx.refs) == len(refs) else None
    kept: list[TensorRef] = []
    fields: list[Field] = []
    for r, f in zip(refs, known if known is not None else map(ctx.field, refs)):
        assert isinstance(f, TensorField)  # unknown inputs never reach a rule
        if len(r.shape) == rank:
            if f.dims[d] is not None:
                raise OpError("concatenation along a spatial axis")
            kept.append(r)
            fields.append(f)
    return [_merge(ctx, kept, ctx.out_shape, fields=fields)]


def _stack(ctx: Context) -> list[Field]:
    refs = [r for r in ctx.node.args[0] if isinstance(r, TensorRef)]
    rank = len(ctx.out_shape)
    d = _norm_dim(int(ctx.node.args[1]) if len(ctx.node.args) > 1 else 0, rank)
    base = _merge(ctx, refs, tuple(s for k, s in enumerate(ctx.out_shape) if k != d))
    dims = list(base.dims)
    dims.insert(d, None)
    return [TensorField(tuple(dims), base.axes)]


def _split(ctx: Context) -> list[Field]:
    x = ctx.node.args[0]
    f = ctx.field(x)
    rank = _ndim(x)
    op = ctx.node.op
    # unbind(x, dim=0); split(x, size, dim=0): the dim is optional in both
    dim_pos = 1 if op == "unbind" else 2
    d = _norm_dim(int(ctx.node.args[dim_pos] if len(ctx.node.args) > dim_pos else ctx.node.kwargs.get("dim", 0)), rank)
    if f.dims[d] is None:
        return [TensorField(f.dims if op != "unbind" else tuple(v for k, v in enumerate(f.dims) if k != d), f.axes) for _ in ctx.node.outputs]
    raise OpError(f"{op} along a spatial axis")


def _expand(ctx: Context) -> list[Field]:
    x = ctx.node.args[0]
    return [_merge(ctx, [x], ctx.out_shape)]


def _upsample(ctx: Context) -> list[Field]:
    """Nearest and (bi/tri)linear resampling: the output grid is 1/scale as dense as the input's."""
    op = ctx.node.op
    x = ctx.node.args[0]
    f = ctx.field(x)
    n = len(ctx.out_shape) - 2
    axes = list(f.axes)
    params: dict[int, tuple[Any, ...]] = {}
    taps = 1 if "nearest" in op else (4 if "bicubic" in op else 2)
    align = "nearest" not in op and len(ctx.node.args) > 2 and ctx.node.args[2] is True
    for i in range(n):
        d = 2 + i
        a = f.dims[d]
        if a is None or axes[a] is None or axes[a].is_global:  # type: ignore[union-attr]
            continue
        af = axes[a]
        assert af is not None and af.size is not None
        n_in, n_out = x.shape[d], ctx.out_shape[d]
        # PyTorch's source coordinate of output unit u: u·scale (nearest, floored), or
        # (u + 1/2)·scale - 1/2 (linear, half-pixel), or u·(n_in-1)/(n_out-1) (align_corners).
        scale = Fraction(n_in - 1, max(n_out - 1, 1)) if align else Fraction(n_in, n_out)
        if n_in == n_out:
            continue
        offset = Fraction(0) if ("nearest" in op or align) else scale / 2 - Fraction(1, 2)
        if taps == 4:
            offset -= 1
        new = AxisField(af.size + (taps - 1) * af.jump, af.jump * scale, af.start + offset * af.jump, False, af.aligned)
        if "nearest" in op and scale.denominator == 1:
            new = replace(af.shift(0, scale))  # integer subsampling: unit u is input unit u·s
        axes[a] = new
        params[a] = (taps, scale)
    ctx.step = Step("resample", x, params, note=op)
    return [TensorField(f.dims, tuple(axes))]


def _norm_layer(ctx: Context) -> list[Field]:
    """Layer/group norm: statistics over the normalised dims, so those axes become global."""
    x = ctx.node.args[0]
    f = ctx.field(x)
    rank = _ndim(x)
    n = len(ctx.node.args[1]) if ctx.node.op == "native_layer_norm" else rank - 1
    out = _mix_dims(f, list(range(rank - n, rank)))
    ctx.step = Step("global", x, note=ctx.node.op)
    return [out if len(i.shape) == rank else Unknown(f"statistics output of {ctx.node.op}") for i in ctx.node.outputs]


def _embedding(ctx: Context) -> list[Field]:
    idx = ctx.node.args[1]
    f = ctx.field(idx)
    return [TensorField((*f.dims, None), f.axes)]


#: The rule of an op: its outputs' fields from its inputs' (it may set ``ctx.step``).
Rule = Callable[[Context], list[Field]]

RULES: dict[str, Rule] = {
    "convolution": _convolution,
    "_convolution": _convolution,
    "constant_pad_nd": _pad,
    "cat": _cat,
    "concat": _cat,
    "stack": _stack,
    "slice": _slice,
    "select": _select,
    "unsqueeze": _unsqueeze,
    "squeeze": _squeeze,
    "permute": _permute,
    "transpose": _permute,
    "swapaxes": _permute,
    "t": _permute,
    "expand": _expand,
    "split": _split,
    "split_with_sizes": _split,
    "unbind": _split,
    "chunk": _split,
    "mm": _matmul,
    "addmm": _matmul,
    "bmm": _matmul,
    "baddbmm": _matmul,
    "native_layer_norm": _norm_layer,
    "native_group_norm": _norm_layer,
    "embedding": _embedding,
}
for _name in _VIEWS:
    RULES[_name] = _view
for _name in _REDUCTIONS:
    RULES[_name] = _reduction
for _name in _ALONG_DIM:
    RULES[_name] = _along_dim
for _n in (1, 2, 3):
    for _name in (f"max_pool{_n}d", f"max_pool{_n}d_with_indices", f"avg_pool{_n}d"):
        RULES[_name] = _pool
    for _name in (f"adaptive_avg_pool{_n}d", f"_adaptive_avg_pool{_n}d", f"adaptive_max_pool{_n}d"):
        RULES[_name] = _adaptive_pool
    for _name in (f"reflection_pad{_n}d", f"replication_pad{_n}d"):
        RULES[_name] = _pad
for _name in ("upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "upsample_linear1d",
              "upsample_bilinear2d", "upsample_trilinear3d", "upsample_bicubic2d"):
    RULES[_name] = _upsample


def rule_for(node: OpNode) -> Rule | None:
    """The rule of an op, or None when it is not known."""
    name = node.op
    if name in RULES:
        return RULES[name]
    base = name[:-1] if name.endswith("_") and not name.startswith("_") else name
    if base in RULES and base not in ("squeeze", "unsqueeze", "t", "transpose"):
        return RULES[base]
    if name in ("squeeze_", "unsqueeze_", "t_", "transpose_"):
        return RULES[name[:-1]]
    if base in _ELEMENTWISE or name in _ELEMENTWISE or name == "copy_" or torch.Tag.pointwise in node.overload.tags:
        return _elementwise
    return None


def is_creation(node: OpNode) -> bool:
    return node.op in _CREATION
