"""The columns of the per-layer table, as data: name, header, and how to read a record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from netanatomy.analysis.records import LayerRecord
from netanatomy.report import units


class Column(str, Enum):
    LAYER = "layer"
    OUTPUT = "output"
    PARAMS = "params"
    FORMULA = "formula"
    MACS = "macs"
    ACTIVATIONS = "activations"
    SAVED = "saved"
    RF = "rf"


@dataclass(frozen=True)
class ColumnSpec:
    header: str
    justify: str
    # (record, folded) -> cell text; `folded` rows stand for their whole subtree
    cell: Callable[[LayerRecord, bool], str]
    # (record, folded) -> exact value for CSV/JSON, or None for text columns
    value: Callable[[LayerRecord, bool], int | str]


def _layer(r: LayerRecord, folded: bool) -> str:
    return f"{'  ' * max(r.depth - 1, 0)}{r.name.rpartition('.')[2]} ({r.type})"


def _params(r: LayerRecord, folded: bool) -> int:
    return r.subtree_params if folded else r.params


def _params_cell(r: LayerRecord, folded: bool) -> str:
    n = _params(r, folded)
    text = units.count(n) if n or r.shared_params == 0 else "0"
    if r.shared_params and not folded:
        text += f" (+{units.count(r.shared_params)} shared)"
    if not folded or r.is_leaf:
        frozen = r.params - r.trainable_params
        if frozen:
            text += f" ({units.count(frozen)} frozen)"
    return text


def _formula(r: LayerRecord, folded: bool) -> str:
    if folded and not r.is_leaf:
        return "Σ children" if r.subtree_params else ""
    if r.shared_with:
        return f"shared with {', '.join(r.shared_with)}"
    return r.formula


def _macs(r: LayerRecord, folded: bool) -> int:
    return r.macs if folded else r.self_macs


def _act(r: LayerRecord, folded: bool) -> int:
    return r.activation_bytes if folded else r.self_activation_bytes


def _saved(r: LayerRecord, folded: bool) -> int:
    return r.saved_bytes if folded else r.self_saved_bytes


def _blank_zero(fmt: Callable[[int], str], get: Callable[[LayerRecord, bool], int]) -> Callable[[LayerRecord, bool], str]:
    return lambda r, f: fmt(get(r, f)) if get(r, f) else ("—" if r.calls == 0 else "")


COLUMNS: dict[Column, ColumnSpec] = {
    Column.LAYER: ColumnSpec("Layer (type)", "left", _layer, lambda r, f: r.name),
    Column.OUTPUT: ColumnSpec("Output shape", "left", lambda r, f: units.shape(r.output_shapes) if r.calls else "not called", lambda r, f: units.shape(r.output_shapes)),
    Column.PARAMS: ColumnSpec("Params", "right", _params_cell, _params),
    Column.FORMULA: ColumnSpec("Formula", "left", _formula, _formula),
    Column.MACS: ColumnSpec("MACs", "right", _blank_zero(units.si, _macs), _macs),
    Column.ACTIVATIONS: ColumnSpec("Activations", "right", _blank_zero(units.nbytes, _act), _act),
    Column.SAVED: ColumnSpec("Saved for bwd", "right", _blank_zero(units.nbytes, _saved), _saved),
    Column.RF: ColumnSpec("RF", "right", lambda r, f: r.receptive_field, lambda r, f: r.receptive_field),
}

DEFAULT_COLUMNS: tuple[Column, ...] = (Column.LAYER, Column.OUTPUT, Column.PARAMS, Column.FORMULA, Column.MACS, Column.RF)


def parse_columns(text: str | None) -> tuple[Column, ...]:
    """``"output,params,macs"`` -> columns (the layer column always comes first); ``"all"``."""
    from netanatomy.errors import UserError

    if not text:
        return DEFAULT_COLUMNS
    if text == "all":
        return tuple(Column)
    chosen = [Column.LAYER]
    for name in text.split(","):
        try:
            col = Column(name.strip())
        except ValueError:
            raise UserError(f"unknown column {name.strip()!r}; choose from {', '.join(c.value for c in Column)} or 'all'") from None
        if col not in chosen:
            chosen.append(col)
    return tuple(chosen)


def present(columns: tuple[Column, ...], records: list[LayerRecord]) -> tuple[Column, ...]:
    """Drop the receptive-field column when no layer has one (sequence models)."""
    if Column.RF in columns and not any(r.receptive_field for r in records):
        return tuple(c for c in columns if c != Column.RF)
    return columns
