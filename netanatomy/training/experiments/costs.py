"""Parameters and MACs per layer, from the analyzer, for the experiments' reports."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class LayerCost:
    """One leaf module: its path (e.g. ``branch3x3.0``), own parameters and multiply-adds."""

    name: str
    params: int
    macs: int


def layer_costs(model: nn.Module, input_size: tuple[int, ...]) -> list[LayerCost]:
    """Per-leaf-module parameters and MACs of ``model`` on an input of ``input_size``,
    as ``netanatomy.summary`` counts them."""
    from netanatomy.analysis.summary import summary

    leaves = {name for name, m in model.named_modules() if name and not any(m.children())}
    s = summary(model, input_size=input_size)
    # Leaves only: a container's record would count its children a second time.
    return [LayerCost(r.name, int(r.params), int(r.macs)) for r in s.layers if r.name in leaves]
