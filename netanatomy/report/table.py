"""The terminal table (rich): one row per layer, then the totals."""

from __future__ import annotations

import shutil
import sys
from typing import IO

from rich.console import Console
from rich.table import Table

from netanatomy.analysis.records import Summary
from netanatomy.report import units
from netanatomy.report.columns import COLUMNS, DEFAULT_COLUMNS, Column, present
from netanatomy.report.totals import total_lines


def console(file: IO[str] | None = None) -> Console:
    """A console that fits the terminal, or 160 columns when writing to a pipe or file."""
    out = file or sys.stdout
    width = None if out.isatty() else max(shutil.get_terminal_size((160, 24)).columns, 160)
    return Console(file=out, width=width, highlight=False, soft_wrap=False)


def summary_table(s: Summary, columns: tuple[Column, ...] = DEFAULT_COLUMNS, depth: int | None = None) -> Table:
    table = Table(title=f"{s.model_name} — input {'/'.join(units.shape([x]) for x in s.input_sizes)}, {s.mode} mode",
                  title_justify="left", show_lines=False, pad_edge=False)
    columns = present(columns, s.layers)
    for col in columns:
        spec = COLUMNS[col]
        table.add_column(spec.header, justify=spec.justify,  # type: ignore[arg-type]
                         overflow="fold", no_wrap=col in (Column.OUTPUT, Column.PARAMS, Column.MACS))
    for rec, folded in s.visible_layers(depth):
        style = "dim" if (not folded and not rec.is_leaf) else None
        table.add_row(*(COLUMNS[c].cell(rec, folded) for c in columns), style=style)
    return table


def totals_table(s: Summary) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in total_lines(s):
        table.add_row(label, value)
    return table


def print_summary(s: Summary, columns: tuple[Column, ...] = DEFAULT_COLUMNS, depth: int | None = None,
                  file: IO[str] | None = None) -> None:
    con = console(file)
    con.print(summary_table(s, columns, depth))
    con.print(totals_table(s))
