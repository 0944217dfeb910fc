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
) -> dict[str, ProbeResult]:
    """Measure the field of one unit of each of ``layers`` by back-propagating through a linearised copy.

    Args:
        model: the model (not changed; a linearised deep copy is probed).
        input_size: input shape, batch first; the batch size is replaced (one row per probed unit).
        layers: module paths whose output is probed; each must keep the input's spatial layout.
        unit: output unit to probe (default: the centre unit of each layer).
        dtype: computation dtype.
    """
    m = linearised_copy(model, dtype)
    modules = dict(m.named_modules())
    for name in layers:
        if name not in modules:
            raise UnknownNameError(f"no layer {name!r} in this model.{close_names(name, list(modules))}")
    n_axes = len(input_size) - 2
    outputs: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Any:
        def store(module: nn.Module, args: Any, output: Any) -> None:
            if name not in outputs:
                outputs[name] = output[0] if isinstance(output, (tuple, list)) else output
        return store

    def support(module: nn.Module, args: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(lambda g: (g != 0).to(g.dtype))

    handles = [modules[name].register_forward_hook(hook(name)) for name in layers]
    handles += [mod.register_forward_hook(support) for mod in m.modules()]
    # Row 0 probes the unit, row 1 + a its neighbour along axis a: one backward gives all
    # (the rows are independent: eval mode, no batch statistics).
    x = torch.ones((1 + n_axes, *input_size[1:]), dtype=dtype, requires_grad=True)
    try:
        with _Linearise():
            m(x)
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
        seed = torch.zeros_like(y)
        first: tuple[Any, ...] = (0, slice(None), *u)
        seed[first] = 1.0
        for a in range(n_axes):
            if u[a] + 1 < spatial[a]:
                neighbour: tuple[Any, ...] = (1 + a, slice(None), *(v + (1 if b == a else 0) for b, v in enumerate(u)))
                seed[neighbour] = 1.0
        (grad,) = torch.autograd.grad(y, x, seed, retain_graph=k + 1 < len(layers))
        boxes = [_box(grad[row].abs().sum(0) > 0) for row in range(1 + n_axes)]
        box0 = boxes[0]
        if box0 is None:
            raise UserError(f"the probe found no input pixel that reaches layer {name!r}")
        jumps: list[int | None] = []
        for a in range(n_axes):
            nb = boxes[1 + a]
            jumps.append(None if nb is None or u[a] + 1 >= spatial[a] else nb[a][0] - box0[a][0])
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
    fmap = result.fmap
    refs = {c.path: c.output_refs[0] for c in reversed(fmap.graph.calls) if c.output_refs}
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
    measured = probe(model, input_size, layers, dtype=dtype)
    checks = []
    for name in layers:
        f = by_name[name].field
        p = measured[name]
        from netanatomy.receptive.engine import clipped_box

        engine_box = tuple(None if b is None else (int(b[0]), int(b[1])) for b in clipped_box(fmap, refs[name], p.unit))
        checks.append(Check(name, p.unit, engine_box, p.box, f.jump, p.jump, p.clipped))
    return checks
