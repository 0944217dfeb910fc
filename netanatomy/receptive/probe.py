"""The gradient probe: the receptive field measured numerically, independently of the engine.

A unit's receptive field is the set of input pixels its value depends on, i.e. where its gradient
with respect to the input is non-zero. Gradients can cancel or vanish (a ReLU that is off, a max
pool that picked another pixel, weights of both signs), so the probe back-propagates through a
*linearised copy* of the model (Araujo et al. 2019 use the same idea to check their tables):
activations become the identity, max pooling becomes average pooling of the same geometry (every
pixel of the window gets gradient), batch norm and dropout become the identity, weights become
positive and biases zero, and the input is all ones. Every path then carries a strictly positive
gradient, and the non-zero region of the input gradient is exactly the theoretical field (its
bounding box; dilation leaves holes inside it).

The gradient at the rim of a deep field is a product of many small weights (for ResNet-152,
far below float32's smallest number), so at every module output the gradient is replaced by its
support (1 where non-zero, else 0). With positive weights nothing cancels, so this keeps exactly
the set of pixels that the field contains, and float32 suffices.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from netanatomy.errors import UnknownNameError, UserError, close_names

if TYPE_CHECKING:
    from netanatomy.receptive.engine import LayerField

# Elementwise maps whose derivative can vanish or change sign: replaced by the identity.
_IDENTITY: set[Any] = {
    F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_, F.relu6,
    F.hardtanh, F.hardtanh_, F.leaky_relu, F.leaky_relu_, F.elu, F.elu_, F.selu, F.celu, F.gelu,
    F.silu, F.mish, F.hardswish, F.hardsigmoid, F.sigmoid, torch.sigmoid, torch.Tensor.sigmoid,
    F.tanh, torch.tanh, torch.Tensor.tanh, F.softplus, F.dropout, F.dropout1d, F.dropout2d,
    F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout, F.batch_norm, F.local_response_norm,
    torch.clamp, torch.Tensor.clamp, torch.Tensor.clamp_, torch.clamp_min, torch.Tensor.clamp_min,
}
_MAX_POOL: dict[Any, int] = {F.max_pool1d: 1, F.max_pool2d: 2, F.max_pool3d: 3,
                             F.max_pool1d_with_indices: 1, F.max_pool2d_with_indices: 2, F.max_pool3d_with_indices: 3,
                             torch.max_pool1d: 1, torch.max_pool2d: 2, torch.max_pool3d: 3}
_ADAPTIVE_MAX: dict[Any, Any] = {F.adaptive_max_pool1d: F.adaptive_avg_pool1d, F.adaptive_max_pool2d: F.adaptive_avg_pool2d,
                                 F.adaptive_max_pool3d: F.adaptive_avg_pool3d}
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_POOL_ARGS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    if v is None:
        return ()
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(x) for x in v)
    return v * n if len(v) == 1 else v


def _max_pool_as_mean(func: Any, n: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A max pool replaced by the mean over the same windows (same kernel, stride, padding,
    dilation and output size), written as a depthwise convolution so that dilation works too."""
    bound = dict(zip(_POOL_ARGS, args))
    bound.update(kwargs)
    x = bound["input"]
    with torch.no_grad():
        reference = func(*args, **kwargs)
    if isinstance(reference, tuple):
        reference = reference[0]
    k = _tuple(bound["kernel_size"], n)
    s = _tuple(bound.get("stride"), n) or k
    p = _tuple(bound.get("padding", 0), n)
    d = _tuple(bound.get("dilation", 1), n)
    out = reference.shape[-n:]
    # ceil_mode adds windows that run past the right edge: pad enough, then keep `out` units.
    pad: list[int] = []
    for i in reversed(range(n)):
        need = (out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1
        pad += [p[i], max(p[i], need - x.shape[-n + i] - p[i])]
    channels = x.shape[-n - 1]
    weight = torch.full((channels, 1, *k), 1.0 / math.prod(k), dtype=x.dtype, device=x.device)
    y = _CONV[n](F.pad(x, pad), weight, stride=s, dilation=d, groups=channels)
    crop: tuple[Any, ...] = (..., *(slice(0, o) for o in out))
    y = y[crop]
    return (y, torch.zeros_like(y, dtype=torch.long)) if bound.get("return_indices") or "with_indices" in getattr(func, "__name__", "") else y


class _Linearise(TorchFunctionMode):
    """Replaces the non-linear functional calls of a forward pass (see the module docstring)."""

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _IDENTITY:
            return args[0] if args else kwargs["input"]
        if func in _MAX_POOL:
            return _max_pool_as_mean(func, _MAX_POOL[func], args, kwargs)
        if func in _ADAPTIVE_MAX:
            y = _ADAPTIVE_MAX[func](args[0], args[1] if len(args) > 1 else kwargs["output_size"])
            return (y, torch.zeros_like(y, dtype=torch.long)) if (len(args) > 2 and args[2]) or kwargs.get("return_indices") else y
        return func(*args, **kwargs)


def linearised_copy(model: nn.Module, dtype: torch.dtype = torch.float32) -> nn.Module:
    """A copy of ``model`` with positive weights (1/fan-in), zero biases, in eval mode; the
    model itself is not touched. Meta-device models are materialised on the CPU."""
    m = copy.deepcopy(model)
    if any(t.is_meta for t in (*m.parameters(), *m.buffers())):
        m = m.to_empty(device="cpu")
        for b in m.buffers():
            b.data.zero_()
    m = m.to(dtype).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.requires_grad_(False)
            if p.dim() >= 2:
                p.fill_(1.0 / max(1, p[0].numel()))
            else:
                p.fill_(0.0 if name.endswith("bias") else 1.0)
    return m


class _Stop(Exception):
    """Raised by the last probed layer's hook: the forward need not go further."""


@dataclass(frozen=True)
class ProbeResult:
    """What the gradient says about one unit: its input box and the shift to its neighbours."""

    layer: str
    unit: tuple[int, ...]
    box: tuple[tuple[int, int], ...]  # first and last input pixel with non-zero gradient, per axis
    jump: tuple[int | None, ...]  # shift of the box to the next unit, per axis (None: no neighbour)
    input_size: tuple[int, ...]

    @property
    def size(self) -> tuple[int, ...]:
        return tuple(hi - lo + 1 for lo, hi in self.box)

    @property
    def clipped(self) -> tuple[bool, ...]:
        """Per axis, whether the box touches the input's border (the field may extend past it)."""
        return tuple(lo == 0 or hi == n - 1 for (lo, hi), n in zip(self.box, self.input_size))

    @property
    def padding(self) -> tuple[int | None, ...]:
        """Effective padding P = -(first pixel of unit i) + i·jump, per axis."""
        return tuple(None if j is None else -(lo - u * j) for (lo, _), u, j in zip(self.box, self.unit, self.jump))


def _box(mask: torch.Tensor) -> tuple[tuple[int, int], ...] | None:
    """Bounding box of the non-zero entries of a (spatial...) mask."""
    if not bool(mask.any()):
        return None
    out = []
    for axis in range(mask.dim()):
        other = tuple(a for a in range(mask.dim()) if a != axis)
        idx = torch.nonzero(mask.any(dim=other) if other else mask).flatten()
        out.append((int(idx.min()), int(idx.max())))
    return tuple(out)


def probe(
    model: nn.Module,
    input_size: Sequence[int],
    layers: Sequence[str],
    unit: Sequence[int] | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    neighbours: bool = True,
    linearised: nn.Module | None = None,
) -> dict[str, ProbeResult]:
    """Measure the field of one unit of each of ``layers`` by back-propagating through a linearised copy.

    Args:
        model: the model (not changed; a linearised deep copy is probed).
        input_size: input shape, batch first; the batch size is replaced (one row per probed unit).
        layers: module paths whose output is probed; each must keep the input's spatial layout.
        unit: output unit to probe (default: the centre unit of each layer).
        dtype: computation dtype.
        neighbours: also probe the next unit (for the jumps); without, one row and ``jump`` None.
        linearised: ``linearised_copy(model, dtype)`` made once by a caller that probes often.
    """
    m = linearised if linearised is not None else linearised_copy(model, dtype)
    modules = dict(m.named_modules())
    for name in layers:
        if name not in modules:
            raise UnknownNameError(f"no layer {name!r} in this model.{close_names(name, list(modules))}")
    n_axes = len(input_size) - 2
    outputs: dict[str, torch.Tensor] = {}
    wanted = set(layers)

    def hook(name: str) -> Any:
        def store(module: nn.Module, args: Any, output: Any) -> None:
            if name not in outputs:
                outputs[name] = output[0] if isinstance(output, (tuple, list)) else output
                if wanted <= outputs.keys():
                    raise _Stop  # every probed layer has run: the rest of the forward is not needed
        return store

    supported: dict[int, torch.Tensor] = {}  # kept alive, so that an id is not reused

    def support(module: nn.Module, args: Any, output: Any) -> None:
        # Once per tensor: a container's output is its last child's, already hooked.
        if isinstance(output, torch.Tensor) and output.requires_grad and id(output) not in supported:
            supported[id(output)] = output
            output.register_hook(lambda g: (g != 0).to(g.dtype))

    handles = [mod.register_forward_hook(support) for mod in m.modules()]
    handles += [modules[name].register_forward_hook(hook(name)) for name in layers]
    # Row 0 probes the unit, row 1 its diagonal neighbour (one unit further along every axis
    # that has one): its box is row 0's shifted by the jump of each axis, so one backward gives
    # the box and every jump (the rows are independent: eval mode, no batch statistics).
    x = torch.ones((2 if neighbours else 1, *input_size[1:]), dtype=dtype, requires_grad=True)
    try:
        with _Linearise():
            m(x)
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    results: dict[str, ProbeResult] = {}
    for k, name in enumerate(layers):
        y = outputs.get(name)
        if y is None:
            raise UserError(f"layer {name!r} did not run in the forward pass")
        if y.dim() != len(input_size):
            raise UserError(f"layer {name!r} outputs shape {tuple(y.shape)}, not a spatial map like the input; "
                            "probe a convolutional layer")
        spatial = y.shape[2:]
        u = tuple(unit) if unit is not None else tuple(n // 2 for n in spatial)
        same = next((r for r in results.values() if outputs[r.layer] is y and r.unit == u), None)
        if same is not None:  # a container whose output is its last child's: one backward serves both
            results[name] = dataclasses.replace(same, layer=name)
            continue
        seed = torch.zeros_like(y)
        first: tuple[Any, ...] = (0, slice(None), *u)
        seed[first] = 1.0
        step = [1 if neighbours and u[a] + 1 < spatial[a] else 0 for a in range(n_axes)]
        if any(step):
            neighbour: tuple[Any, ...] = (1, slice(None), *(v + d for v, d in zip(u, step)))
            seed[neighbour] = 1.0
        (grad,) = torch.autograd.grad(y, x, seed, retain_graph=k + 1 < len(layers))
        box0 = _box(grad[0].abs().sum(0) > 0)
        if box0 is None:
            raise UserError(f"the probe found no input pixel that reaches layer {name!r}")
        nb = _box(grad[1].abs().sum(0) > 0) if any(step) else None
        jumps = [None if nb is None or not step[a] else nb[a][0] - box0[a][0] for a in range(n_axes)]
        results[name] = ProbeResult(name, u, box0, tuple(jumps), tuple(input_size[2:]))
    return results


@dataclass(frozen=True)
class Check:
    """The engine and the probe side by side for one layer's centre unit."""

    layer: str
    unit: tuple[int, ...]
    engine_box: tuple[tuple[int, int] | None, ...]  # clipped to the input; None on global axes
    probe_box: tuple[tuple[int, int], ...]
    engine_jump: tuple[Any, ...]
    probe_jump: tuple[int | None, ...]
    clipped: tuple[bool, ...]
    input_size: tuple[int, ...] = ()  # where the probe ran (a smaller input where the field fits)
    requested_size: tuple[int, ...] = ()  # the input size verify was asked about

    @property
    def ok(self) -> bool:
        for eb, pb, ej, pj, c in zip(self.engine_box, self.probe_box, self.engine_jump, self.probe_jump, self.clipped):
            if eb is not None and eb != pb:
                return False
            if eb is not None and not c and pj is not None and ej != pj:
                return False
        return True


def why_unverifiable(layer: LayerField, input_rank: int) -> str | None:
    """Why the probe cannot check ``layer``'s field, or None when it can.

    The probe compares the engine's box with a measured one, which is only meaningful where the
    engine's field is known and exact, the output is a spatial map like the input (``input_rank``
    dimensions), and the field is local along every axis (a global field has no box to compare).
    """
    f = layer.field
    if not f.known:
        return f"field unknown ({f.note})" if f.note else "field unknown"
    if not f.exact:
        return f"field approximate ({f.note})" if f.note else "field approximate"
    if not f.size or len(layer.output_shape) != input_rank:
        return "output is not a spatial map"
    if any(u is None for u in f.units):
        return "field global (the whole input)"
    return None


def _some(names: Sequence[str], shown: int = 4) -> str:
    """``a, b, c, d and 3 more``: a few layer names for a one-line message."""
    head = ", ".join(names[:shown])
    return head + (f" and {len(names) - shown} more" if len(names) > shown else "")


def verify(
    model: nn.Module,
    input_size: Sequence[int],
    layers: Sequence[str] | None = None,
    *,
    dtype: torch.dtype = torch.float32,
) -> list[Check]:
    """Compare the engine with the gradient probe on the centre unit of each layer.

    A backward pass costs in proportion to the input's area, so each layer is probed at the
    smallest input (of a few sizes tried, up to ``input_size``) at which the engine says its
    centre unit's field and its neighbour's lie inside the input: there the probe measures size,
    jump and padding in full, at a fraction of the cost. The engine is run again at that size and
    the probe compared with it (the probe never reads the engine's numbers: they only choose where
    to look). A layer whose field does not fit at a smaller size, or a model that does not accept
    one, is probed at ``input_size`` itself, clipped.

    Args:
        model: the model (not changed).
        input_size: input shape, batch first.
        layers: module paths to check (default: every layer whose output is a spatial map with
            a local, exact field).
        dtype: the probe's dtype.

    Raises:
        UserError: when there is nothing to check (no layer with an exact, local field on a
            spatial output, or an empty ``layers``), naming why.
    """
    from netanatomy.receptive.engine import receptive_field

    result = receptive_field(model, input_size)
    by_name = {lf.name: lf for lf in result.layers}
    checkable = [lf.name for lf in result.layers if why_unverifiable(lf, len(input_size)) is None]
    if layers is None:
        layers = checkable
    else:
        for name in layers:
            if name not in by_name:
                raise UnknownNameError(f"no layer {name!r} in this model.{close_names(name, list(by_name))}")
    if not layers:
        # "0/0 layers agree" would read as a pass: say why nothing could be checked instead.
        if checkable:
            raise UserError(f"nothing to check: no layers were given; the layers that can be checked are "
                            f"{_some(checkable)}")
        reasons: dict[str, list[str]] = {}
        for lf in result.layers:
            reasons.setdefault(why_unverifiable(lf, len(input_size)) or "", []).append(lf.name)
        listed = "; ".join(f"{why}: {_some(names)}" for why, names in reasons.items())
        raise UserError("nothing to check: the probe compares exact, local receptive fields of spatial outputs, "
                        f"and no layer of this model has one ({listed or 'the model has no layers'})")
    groups = _probe_sizes(model, tuple(input_size), result, list(layers))
    linearised = linearised_copy(model, dtype)
    checks: dict[str, Check] = {}
    for (size, neighbours), (at_size, names) in groups.items():
        measured = probe(model, size, names, dtype=dtype, neighbours=neighbours, linearised=linearised)
        for name in names:
            checks[name] = _check(at_size, name, measured[name], size, tuple(input_size))
    return [checks[name] for name in layers]


#: Probe sizes tried per spatial axis, smallest first (the input's own size is always the last).
_TRIAL_SIZES = (16, 32, 48, 64, 96, 128, 160, 192)


def _probe_sizes(model: nn.Module, input_size: tuple[int, ...], result: Any,
                 layers: list[str]) -> dict[tuple[tuple[int, ...], bool], tuple[Any, list[str]]]:
    """(input size, whether neighbours are probed) -> (the engine's result there, the layers
    probed there). A layer whose centre unit's field is clipped on every axis needs no neighbour
    (its jump is not observable), so it goes to a one-row probe."""
    from netanatomy.receptive.engine import receptive_field

    engines: dict[tuple[int, ...], Any] = {input_size: result}

    def engine_at(size: tuple[int, ...]) -> Any:
        if size not in engines:
            try:
                engines[size] = receptive_field(model, size)
            except UserError:  # the model does not accept this size
                engines[size] = None
        return engines[size]

    groups: dict[tuple[tuple[int, ...], bool], tuple[Any, list[str]]] = {}
    for name in layers:
        f = next(lf.field for lf in result.layers if lf.name == name)
        chosen = input_size
        if f.known and f.size and all(sz is not None for sz in f.size):
            # Trial sizes per axis from the one that holds two neighbouring fields; the engine at
            # that size says whether they really fit (padding may shift them off-centre).
            need = [int(sz) + 2 * int(j) for sz, j in zip(f.size, f.jump)]
            for k in range(len(_TRIAL_SIZES)):
                size = tuple(next((t for t in _TRIAL_SIZES[k:] if t >= n), full) for n, full in zip(need, input_size[2:]))
                candidate = (*input_size[:2], *(min(t, full) for t, full in zip(size, input_size[2:])))
                if candidate == input_size:
                    break
                if _fits(engine_at(candidate), name):
                    chosen = candidate
                    break
        neighbours = not _clipped_everywhere(engines[chosen], name)
        groups.setdefault((chosen, neighbours), (engines[chosen], []))[1].append(name)
    return groups


def _clipped_everywhere(at_size: Any, name: str) -> bool:
    lf = next((x for x in at_size.layers if x.name == name), None)
    if lf is None or not (lf.field.known and lf.field.size) or any(u is None for u in lf.field.units):
        return False
    box = lf.field.box(tuple(u // 2 for u in lf.field.units))
    return all(b is not None and (b[0] < 0 or b[1] > n - 1) for b, n in zip(box, lf.field.input_size))


def _fits(at_size: Any, name: str) -> bool:
    """Whether ``name``'s centre unit and its diagonal neighbour see only pixels inside the input."""
    if at_size is None:
        return False
    lf = next((x for x in at_size.layers if x.name == name), None)
    if lf is None or not (lf.field.known and lf.field.exact and lf.field.size) or any(u is None or u < 2 for u in lf.field.units):
        return False
    unit = tuple(u // 2 for u in lf.field.units)
    for box in (lf.field.box(unit), lf.field.box(tuple(u + 1 for u in unit))):
        if any(b is None or b[0] < 0 or b[1] > n - 1 for b, n in zip(box, lf.field.input_size)):
            return False
    return True


def _check(at_size: Any, name: str, p: ProbeResult, size: tuple[int, ...], requested: tuple[int, ...]) -> Check:
    from netanatomy.receptive.engine import clipped_box

    fmap = at_size.fmap
    refs = {c.path: c.output_refs[0] for c in reversed(fmap.graph.calls) if c.output_refs}
    f = next(lf.field for lf in at_size.layers if lf.name == name)
    engine_box = tuple(None if b is None else (int(b[0]), int(b[1])) for b in clipped_box(fmap, refs[name], p.unit))
    return Check(name, p.unit, engine_box, p.box, f.jump, p.jump, p.clipped, tuple(size), requested)
