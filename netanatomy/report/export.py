"""Machine-readable outputs: JSON (everything), CSV (one row per layer), Markdown (for notes)."""

from __future__ import annotations

import csv
import io
import json

from netanatomy.analysis.records import Summary
from netanatomy.report import units
from netanatomy.report.columns import COLUMNS, Column, present
from netanatomy.report.totals import total_lines

#: Every per-layer figure, as exact numbers, for CSV.
CSV_FIELDS = (
    "name", "type", "depth", "calls", "output_shapes", "params", "trainable_params", "shared_params",
    "subtree_params", "formula", "self_macs", "macs", "self_activation_bytes", "activation_bytes",
    "self_saved_bytes", "saved_bytes", "receptive_field",
)


def to_json(s: Summary) -> str:
    return json.dumps(s.to_dict(), indent=2)


def to_csv(s: Summary) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for rec in s.layers:
        row = []
        for f in CSV_FIELDS:
            v = getattr(rec, f)
            if f == "output_shapes":
                v = ";".join("x".join(map(str, shape)) for shape in v)
            row.append(v)
        writer.writerow(row)
    return buf.getvalue()


def to_markdown(s: Summary, columns: tuple[Column, ...], depth: int | None = None) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    columns = present(columns, s.layers)
    lines = [f"**{s.model_name}** — input {'/'.join(units.shape([x]) for x in s.input_sizes)}, {s.mode} mode", ""]
    lines.append("| " + " | ".join(COLUMNS[c].header for c in columns) + " |")
    lines.append("|" + "|".join("---:" if COLUMNS[c].justify == "right" else "---" for c in columns) + "|")
    for rec, folded in s.visible_layers(depth):
        cells = [COLUMNS[c].cell(rec, folded) for c in columns]
        if columns[0] == Column.LAYER:
            cells[0] = "&nbsp;" * 2 * max(rec.depth - 1, 0) + cells[0].strip()
        lines.append("| " + " | ".join(esc(c) for c in cells) + " |")
    lines.append("")
    lines.extend(f"- **{label}**: {esc(value)}" for label, value in total_lines(s))
    return "\n".join(lines) + "\n"
