"""The Inception module of Lecture 9, naive vs with 1x1 "bottleneck" reductions.

Szegedy et al. 2015 (GoogLeNet), Fig. 2: on a 28x28x256 input, the naive module runs 1x1 (128),
3x3 (192) and 5x5 (96) convolutions and a 3x3 max pool side by side and concatenates them
(28x28x672); the version with dimension reductions puts 1x1 convolutions (64 filters) before
the 3x3 and 5x5 and after the pool, and outputs 28x28x480. The lecture counts 854M
multiply-adds for the first and, on the slide, 358M for the second. Both figures are checked
against the analyzer here, branch by branch.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from netanatomy import atomic
from netanatomy.errors import require_extra
from netanatomy.training.experiments.costs import LayerCost, layer_costs

INPUT_SIZE: tuple[int, int, int, int] = (1, 256, 28, 28)

# The branches as data: ("conv", kernel, filters) or ("pool", kernel). Names follow
# torchvision's Inception (branch1x1 ... branch_pool), which follows the paper's Fig. 2.
Spec = dict[str, list[tuple[str, int] | tuple[str, int, int]]]
NAIVE: Spec = {
    "branch1x1": [("conv", 1, 128)],
    "branch3x3": [("conv", 3, 192)],
    "branch5x5": [("conv", 5, 96)],
    "branch_pool": [("pool", 3)],
}
REDUCED: Spec = {
    "branch1x1": [("conv", 1, 128)],
    "branch3x3": [("conv", 1, 64), ("conv", 3, 192)],
    "branch5x5": [("conv", 1, 64), ("conv", 5, 96)],
    "branch_pool": [("pool", 3), ("conv", 1, 64)],
}


class Inception(nn.Module):
    """Parallel branches concatenated on channels; each conv is followed by a ReLU."""

    def __init__(self, in_channels: int, spec: Spec) -> None:
        super().__init__()
        self.branch_names = list(spec)
        for name, layers in spec.items():
            mods: list[nn.Module] = []
            channels = in_channels
            for layer in layers:
                k = layer[1]
                if layer[0] == "pool":
                    # stride 1, "same" padding: the pool keeps 28x28 (and all 256 channels)
                    mods.append(nn.MaxPool2d(k, stride=1, padding=k // 2))
                else:
                    out = layer[2]  # type: ignore[misc]
                    mods += [nn.Conv2d(channels, out, k, padding=k // 2), nn.ReLU(inplace=True)]
                    channels = out
            self.add_module(name, nn.Sequential(*mods))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 256 x 28 x 28 -> N x (sum of the branches' channels) x 28 x 28
        return torch.cat([getattr(self, n)(x) for n in self.branch_names], dim=1)


def branch_costs(spec: Spec) -> dict[str, tuple[int, int]]:
    """``{branch: (params, macs)}`` of the module built from ``spec``, from the analyzer."""
    costs = layer_costs(Inception(INPUT_SIZE[1], spec), INPUT_SIZE)
    return {b: _sum([c for c in costs if c.name.startswith(b + ".")]) for b in spec}


def _sum(costs: list[LayerCost]) -> tuple[int, int]:
    return sum(c.params for c in costs), sum(c.macs for c in costs)


def run_bottleneck(out_dir: str | Path) -> str:
    """Write ``bottleneck.png`` and ``bottleneck.md`` to ``out_dir``; return the report."""
    out = Path(out_dir)
    naive, reduced = branch_costs(NAIVE), branch_costs(REDUCED)
    out_naive = Inception(256, NAIVE)(torch.zeros(INPUT_SIZE)).shape[1]
    out_reduced = Inception(256, REDUCED)(torch.zeros(INPUT_SIZE)).shape[1]
    tot_n = [sum(v[i] for v in naive.values()) for i in (0, 1)]
    tot_r = [sum(v[i] for v in reduced.values()) for i in (0, 1)]
    rows = [
        f"| {b} | {_layers(NAIVE[b])} | {naive[b][0]:,} | {naive[b][1] / 1e6:.1f}M "
        f"| {_layers(REDUCED[b])} | {reduced[b][0]:,} | {reduced[b][1] / 1e6:.1f}M |"
        for b in NAIVE
    ]
    # The 3x3 conv of the reduced branch3x3 (its layer 2, after the 1x1 and its ReLU).
    conv3x3 = next(c for c in layer_costs(Inception(256, REDUCED), INPUT_SIZE) if c.name == "branch3x3.2")
    report = "\n".join(
        [
            "# Inception module: naive vs 1x1 bottlenecks (input 28x28x256)",
            "",
            "Multiply-adds (MACs) and parameters per branch, from the analyzer. Biases are",
            "parameters but not multiply-adds; ReLU and max pooling cost no multiply-adds.",
            "",
            "| branch | naive layers | params | MACs | with 1x1 reductions | params | MACs |",
            "|---|---|---:|---:|---|---:|---:|",
            *rows,
            f"| **total** | output 28x28x{out_naive} | {tot_n[0]:,} | {tot_n[1] / 1e6:.1f}M "
            f"| output 28x28x{out_reduced} | {tot_r[0]:,} | {tot_r[1] / 1e6:.1f}M |",
            "",
            f"The 1x1 reductions cut the module's cost {tot_n[1] / tot_r[1]:.2f}x ({tot_n[1]:,} → "
            f"{tot_r[1]:,} multiply-adds) and its parameters {tot_n[0] / tot_r[0]:.2f}x, and shrink the "
            f"output depth from {out_naive} to {out_reduced} (the pool branch no longer passes all 256 "
            "channels through, so the next module's input is smaller too).",
            "",
            f"The lecture slide gives 854M for the naive module (matches: {tot_n[1] / 1e6:.1f}M) and "
            f"**358M** for the bottleneck version; the sum of its own listed terms is "
            f"{tot_r[1] / 1e6:.1f}M. 358M is that sum plus the 3x3 conv's "
            f"28·28·192·3·3·64 = {conv3x3.macs:,} a second time "
            f"({(tot_r[1] + conv3x3.macs) / 1e6:.1f}M): the slide double-counts the 3x3 branch.",
            "",
        ]
    )
    _plot(naive, reduced, out / "bottleneck.png")
    atomic.write_text(out / "bottleneck.md", report)
    return report


def _layers(layers: list[tuple[str, int] | tuple[str, int, int]]) -> str:
    return " → ".join(f"{k}x{k} pool" if t == "pool" else f"{k}x{k} conv {rest[0]}" for t, k, *rest in layers)


def _plot(naive: dict[str, tuple[int, int]], reduced: dict[str, tuple[int, int]], path: Path) -> None:
    require_extra("train", module="matplotlib")
    from matplotlib.figure import Figure

    names = list(naive)
    fig = Figure(figsize=(9, 4), layout="constrained")
    ax = fig.subplots()
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [naive[n][1] / 1e6 for n in names], 0.4, label="naive")
    ax.bar([x + 0.2 for x in xs], [reduced[n][1] / 1e6 for n in names], 0.4, label="with 1x1 reductions")
    ax.set_xticks(list(xs), names)
    ax.set(ylabel="multiply-adds (millions)", title="Inception module on 28x28x256: MACs per branch")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    atomic.savefig(fig, path, dpi=110)
