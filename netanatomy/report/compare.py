"""Models side by side (``netanatomy compare``) and the zoo overview (``netanatomy models``), as data and text."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rich.table import Table

from netanatomy.analysis.models import ZooEntry, output_field
from netanatomy.analysis.records import Summary
from netanatomy.report import units


@dataclass(frozen=True)
class ComparisonRow:
    """One figure for every model: its label, a key for JSON, the exact values and how to print them."""

    label: str
    key: str
    values: list[Any]
    fmt: Callable[[Any], str]


def _text(v: Any) -> str:
    return "—" if v is None else str(v)


def comparison_rows(summaries: Sequence[Summary], optimizer: str) -> list[ComparisonRow]:
    """The rows of ``netanatomy compare``: one per figure, one value per model."""
    return [
        ComparisonRow("Input", "input", ["/".join(units.shape([x]) for x in s.input_sizes) for s in summaries], _text),
        ComparisonRow("Parameters", "params", [s.totals.params for s in summaries], units.count),
        ComparisonRow("Trainable", "trainable_params", [s.totals.trainable_params for s in summaries], units.count),
        ComparisonRow("MACs", "macs", [s.totals.macs for s in summaries], units.si),
        ComparisonRow("FLOPs (2 x MACs)", "flops", [s.totals.flops for s in summaries], units.si),
        ComparisonRow("Parameter memory", "param_bytes", [s.totals.param_bytes for s in summaries], units.nbytes),
        ComparisonRow("Forward activations", "forward_activation_bytes",
                      [s.totals.forward_activation_bytes for s in summaries], units.nbytes),
        ComparisonRow("Saved for backward", "saved_bytes", [s.totals.saved_bytes for s in summaries], units.nbytes),
        ComparisonRow(f"Training memory ({optimizer})", "training_memory_bytes",
                      [s.totals.training_memory(optimizer)["total"] for s in summaries], units.nbytes),
        ComparisonRow("Output RF", "output_receptive_field", [output_field(s) for s in summaries], _text),
    ]


def comparison_payload(summaries: Sequence[Summary], optimizer: str) -> dict[str, Any]:
    """``compare --format json``: one object per model, exact numbers, in the order given."""
    rows = comparison_rows(summaries, optimizer)
    return {"optimizer": optimizer,
            "models": [{"model": s.model_name, **{r.key: r.values[i] for r in rows}} for i, s in enumerate(summaries)]}


def comparison_csv(summaries: Sequence[Summary], optimizer: str) -> str:
    """One row per model, one column per figure, exact numbers (the JSON's keys as the header)."""
    payload = comparison_payload(summaries, optimizer)["models"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, list(payload[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(payload)
    return buf.getvalue()


def comparison_markdown(summaries: Sequence[Summary], optimizer: str) -> str:
    lines = ["| | " + " | ".join(s.model_name for s in summaries) + " |", "|---|" + "---:|" * len(summaries)]
    lines += [f"| {r.label} | " + " | ".join(r.fmt(v) for v in r.values) + " |" for r in comparison_rows(summaries, optimizer)]
    return "\n".join(lines) + "\n"


def comparison_table(summaries: Sequence[Summary], optimizer: str) -> Table:
    table = Table(title="netanatomy compare", title_justify="left")
    table.add_column("")
    for s in summaries:
        table.add_column(s.model_name, justify="right")
    for r in comparison_rows(summaries, optimizer):
        table.add_row(r.label, *(r.fmt(v) for v in r.values))
    return table


# ----------------------------------------------------------------------------- the zoo overview
def zoo_payload(entries: Sequence[ZooEntry]) -> dict[str, Any]:
    """``models --format json``."""
    return {"models": [asdict(e) for e in entries]}


def zoo_csv(entries: Sequence[ZooEntry]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, list(ZooEntry.__dataclass_fields__), lineterminator="\n")
    w.writeheader()
    w.writerows(asdict(e) for e in entries)
    return buf.getvalue()


def zoo_markdown(entries: Sequence[ZooEntry]) -> str:
    keys = list(ZooEntry.__dataclass_fields__)
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(getattr(e, k)) for k in keys) + " |" for e in entries]
    return "\n".join(lines) + "\n"


def zoo_table(entries: Sequence[ZooEntry]) -> Table:
    table = Table(title="netanatomy model zoo (MACs at the default input)", title_justify="left")
    for col, justify in (("Model", "left"), ("Family", "left"), ("Params", "right"), ("MACs", "right"),
                         ("Input", "left"), ("Paper", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for e in entries:
        # The paper's authors and year; the title is in --format json/md.
        authors = re.match(r"(.*?\d{4})", e.paper)
        table.add_row(e.name, e.family, units.count(e.params), units.si(e.macs), e.input,
                      authors[1] if authors else e.paper)
    return table
