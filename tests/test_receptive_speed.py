"""The receptive-field engine's shortcuts change nothing.

Oracle: the union of paths written out from its definition (Araujo et al. 2019, "alignment":
same jump and same centre, else unaligned; the exact box union when the jumps agree), with no
shortcut, swapped into the engine; every tensor's field on the whole zoo must come out equal.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

import netanatomy.receptive.ops as ops
from netanatomy.capture.tracer import capture
from netanatomy.receptive.engine import propagate
from netanatomy.receptive.fields import AxisField
from netanatomy.zoo import create_model, get_model_info, list_models


def _reference_union(fields: list[AxisField]) -> tuple[AxisField, int]:
    def extent(f: AxisField) -> Fraction:
        return Fraction(10**18) if f.size is None else f.size

    best = max(range(len(fields)), key=lambda i: extent(fields[i]))
    if any(f.size is None for f in fields):
        return AxisField(None, exact=all(f.exact for f in fields), aligned=all(f.aligned for f in fields)), best
    jumps = {f.jump for f in fields}
    centres = {f.start + (f.size - 1) / 2 for f in fields if f.size is not None}
    aligned = all(f.aligned for f in fields) and len(jumps) == 1 and len(centres) == 1
    if len(jumps) == 1:
        start = min(f.start for f in fields)
        end = max(f.start + f.size for f in fields if f.size is not None)
        return AxisField(end - start, fields[0].jump, start, all(f.exact for f in fields), aligned), best
    return replace(fields[best], aligned=False, exact=False), best


@pytest.mark.parametrize("name", [n for n in list_models() if get_model_info(n).spatial])
def test_engine_fields_equal_the_reference_union_on_the_zoo(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = capture(create_model(name, device="meta"), [get_model_info(name).input_size])
    fast = propagate(graph)
    monkeypatch.setattr(ops, "union", _reference_union)
    reference = propagate(graph)
    assert fast.fields == reference.fields
    assert fast.misalignments == reference.misalignments and fast.unknown_ops == reference.unknown_ops
    assert {k: (s.kind, s.source, s.params) for k, s in fast.steps.items()} == {
        k: (s.kind, s.source, s.params) for k, s in reference.steps.items()}
