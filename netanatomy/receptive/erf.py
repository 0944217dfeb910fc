"""The effective receptive field (Luo, Li, Urtasun & Zemel, NeurIPS 2016).

Luo et al. §2: set the gradient of one output unit (the centre one) to 1 and every other to 0,
back-propagate to the input, and average the magnitude of the input gradient over random inputs.
The map is much smaller than the theoretical field and roughly Gaussian (§2.1-2.3: for stacked
convolutions the map tends to a Gaussian whose width grows as sqrt(depth), not linearly). Here
the model keeps its own weights (random init or a checkpoint) and its own non-linearities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netanatomy.atomic import torch_load
from netanatomy.errors import UnknownNameError, UserError, close_names, require_extra
from netanatomy.receptive.fields import FieldInfo, fmt


@dataclass
class ERFResult:
    """The averaged gradient map of one unit and what it says about the field's real extent."""

    layer: str
    unit: tuple[int, ...]
    grad_map: Any  # numpy array (H, W): mean |d unit / d input| summed over input channels
    centre: tuple[float, float]  # theoretical centre of the unit, in input pixels (row, column)
    radius_50: float  # radius around the centre that holds 50% of the gradient mass
    radius_95: float
    theoretical: FieldInfo
    samples: int

    @property
    def theoretical_size(self) -> float | None:
        sizes = [float(s) for s in self.theoretical.size if s is not None]
        return max(sizes) if sizes else None

    @property
    def ratio_95(self) -> float | None:
        """Diameter holding 95% of the mass over the theoretical field's size."""
        r = self.theoretical_size
        return None if r is None else 2 * self.radius_95 / r

    @property
    def ratio_50(self) -> float | None:
        r = self.theoretical_size
        return None if r is None else 2 * self.radius_50 / r

    def summary(self) -> str:
        r = self.theoretical_size
        trf = "global" if r is None else fmt(self.theoretical.size[0]) if len(set(self.theoretical.size)) == 1 else "x".join(fmt(s) for s in self.theoretical.size)
        text = (f"effective receptive field of {self.layer}, unit ({','.join(map(str, self.unit))}), over {self.samples} random inputs: "
                f"50% of the gradient mass within radius {self.radius_50:.1f} px, 95% within {self.radius_95:.1f} px; "
                f"theoretical field {trf}")
        if r is not None:
            text += f"; ERF/TRF diameter ratio {self.ratio_50:.2f} (50%), {self.ratio_95:.2f} (95%)"
        clip = self.theoretical.clipping()
        if any(c > 0 for c in clip):
            text += f" (the theoretical field is clipped by the {'x'.join(map(str, self.theoretical.input_size))} input)"
        return text


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load a state_dict, or a checkpoint holding one under 'model', 'model_state' or 'state_dict'."""
    obj = torch_load(path)
    if isinstance(obj, dict):
        for key in ("model", "model_state", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise UserError(f"{str(path)!r} holds no state_dict")
    try:
        model.load_state_dict(obj)
    except RuntimeError as exc:
        raise UserError(f"checkpoint {str(path)!r} does not fit this model: {str(exc).splitlines()[0]}") from None


def _mass_radius(grad_map: Any, centre: tuple[float, float], fraction: float) -> float:
    import numpy as np

    h, w = grad_map.shape
    yy, xx = np.mgrid[0:h, 0:w]
    dist = np.hypot(yy - centre[0], xx - centre[1]).ravel()
    mass = grad_map.ravel()
    order = np.argsort(dist, kind="stable")
    cum = np.cumsum(mass[order])
    if cum[-1] <= 0:
        return float("nan")
    k = int(np.searchsorted(cum, fraction * cum[-1]))
    return float(dist[order][min(k, len(order) - 1)])


def effective_receptive_field(
    model: nn.Module,
    input_size: Sequence[int],
    layer: str | None = None,
    *,
    samples: int = 16,
    seed: int = 0,
) -> ERFResult:
    """Mean input-gradient magnitude of the centre unit of ``layer`` over random N(0, 1) inputs.

    Args:
        model: the model with the weights to study; it is run in eval mode and left as it was.
        input_size: input shape, batch first; must be N x C x H x W.
        layer: module path (default: the last layer with a local field, as in ``netanatomy rf``).
        samples: number of random inputs to average over.
        seed: seed of the random inputs.
    """
    from netanatomy.receptive.engine import receptive_field

    if len(input_size) != 4:
        raise UserError(f"the ERF heatmap needs an N x C x H x W input, got {'x'.join(map(str, input_size))}")
    theory = receptive_field(model, input_size, layer)
    name = theory.layer
    module = dict(model.named_modules()).get(name)
    if module is None:
        raise UnknownNameError(f"no layer {name!r}.{close_names(name, [n for n, _ in model.named_modules()])}")
    captured: list[torch.Tensor] = []

    def grab(m: nn.Module, args: Any, output: Any) -> None:
        if not captured:
            captured.append(output[0] if isinstance(output, (tuple, list)) else output)

    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((samples, *input_size[1:]), generator=gen).to(device=device, dtype=dtype).requires_grad_(True)
    modes = [(m, m.training) for m in model.modules()]
    handle = module.register_forward_hook(grab)
    try:
        model.eval()
        model(x)
        y = captured[0]
        if y.dim() != 4:
            raise UserError(f"layer {name!r} outputs shape {tuple(y.shape)}, not a feature map; choose a convolutional layer")
        unit = (y.shape[2] // 2, y.shape[3] // 2)
        # Luo et al. §2: gradient 1 at the centre unit (all its channels), 0 elsewhere.
        seed_grad = torch.zeros_like(y)
        seed_grad[:, :, unit[0], unit[1]] = 1.0
        (g,) = torch.autograd.grad(y, x, seed_grad)
    finally:
        handle.remove()
        for m, was in modes:
            m.training = was
    grad_map = g.detach().abs().sum(1).mean(0).double().cpu().numpy()
    f = theory.field
    centre = tuple(float(c + u * j) if c is not None else (n - 1) / 2
                   for c, u, j, n in zip(f.centre, unit, f.jump, input_size[2:]))
    c2 = (centre[0], centre[1])
    return ERFResult(name, unit, grad_map, c2, _mass_radius(grad_map, c2, 0.5), _mass_radius(grad_map, c2, 0.95), f, samples)


def plot_erf(result: ERFResult, path: str | Path, title: str, weights: str) -> None:
    """Heatmap of the ERF with the theoretical field outlined and the 50%/95% circles."""
    matplotlib = require_extra("train", module="matplotlib")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Rectangle

    from netanatomy.atomic import savefig

    gm = result.grad_map
    h, w = gm.shape
    fig, ax = plt.subplots(figsize=(6.4, 6.0), dpi=120)
    im = ax.imshow(gm / gm.max() if gm.max() > 0 else gm, cmap="inferno", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="mean |∂unit/∂pixel| (max = 1)")
    f = result.theoretical
    box = f.box(result.unit)
    if all(b is not None for b in box):
        (r0, r1), (c0, c1) = box  # type: ignore[misc]
        clipped = r0 < 0 or c0 < 0 or r1 > h - 1 or c1 > w - 1
        label = f"theoretical field {fmt(f.size[0]) if f.size[0] == f.size[1] else 'x'.join(fmt(s) for s in f.size)}" + (" (clipped)" if clipped else "")
        # Drawn inside the image where the field runs past it, so that its edge stays visible.
        y0, y1 = max(float(r0) - 0.5, 0.5), min(float(r1) + 0.5, h - 1.5)
        x0, x1 = max(float(c0) - 0.5, 0.5), min(float(c1) + 0.5, w - 1.5)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="#4fc3f7", linewidth=2,
                               linestyle="--" if clipped else "-", label=label))
    cy, cx = result.centre
    for radius, style, name in ((result.radius_50, ":", "50%"), (result.radius_95, "-", "95%")):
        if not math.isnan(radius):
            ax.add_patch(Circle((cx, cy), radius, fill=False, edgecolor="white", linewidth=1.5, linestyle=style,
                                label=f"{name} of gradient mass: r = {radius:.1f} px"))
    ax.plot([cx], [cy], marker="+", color="white", markersize=10)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_xlabel("input column (pixels)")
    ax.set_ylabel("input row (pixels)")
    ax.set_title(f"Effective receptive field: {title}, centre unit\n{weights}, mean over {result.samples} random inputs", fontsize=10)
    ax.legend(loc="lower left", fontsize=7.5, framealpha=0.7)
    fig.tight_layout()
    try:
        savefig(fig, path)
    finally:
        plt.close(fig)
