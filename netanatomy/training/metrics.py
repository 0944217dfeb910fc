"""The metrics log of both trainers: one record per line, CSV or JSON Lines by the file's suffix.

Records are appended as they come (a long run never rewrites its log), each line flushed whole.
A resumed run first drops the records written after its checkpoint (a run killed between a
checkpoint and the next one logged steps it will now redo) and rewrites the file atomically, so
the log of a resumed run is exactly that of an uninterrupted one, never with a duplicate step.

CSV needs one set of columns: the first record fixes the header, and a later record with other
keys is an error (the image trainer's per-epoch records all have the same keys). JSON Lines takes
any records (the char trainer mixes ``train`` and ``val`` records).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from netanatomy import atomic

#: Suffix of the metrics file per format.
SUFFIX = {"csv": ".csv", "jsonl": ".jsonl"}


def metrics_path(run_dir: str | os.PathLike[str], fmt: str = "jsonl") -> Path:
    """``RUN_DIR/metrics.csv`` or ``RUN_DIR/metrics.jsonl``."""
    return Path(run_dir) / f"metrics{SUFFIX[fmt]}"


def _parse_csv_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _format_csv_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a metrics file (``[]`` when there is none). A torn last line (the process
    killed while writing it) is skipped."""
    p = Path(path)
    if not p.is_file():
        return []
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return []
        header = rows[0]
        return [{k: _parse_csv_value(v) for k, v in zip(header, row)} for row in rows[1:] if len(row) == len(header)]
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # only the last line can be torn: appends are whole lines
    return records


class MetricsLogger:
    """Appends records to ``path`` (``.csv`` or ``.jsonl``).

    Args:
        path: the metrics file.
        position_key: the record field that orders the run (``step``, ``epoch``).
        resume_at: None starts a fresh log (an old file is replaced); a position keeps the
            file's records up to it and drops the later ones (see the module's docstring).
        history: the records to start from instead of the file's (a checkpoint that carries
            its run's history, as the image trainer's do).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        position_key: str = "step",
        resume_at: float | None = None,
        history: list[dict[str, Any]] | None = None,
    ) -> None:
        self.path = Path(path)
        if self.path.suffix not in SUFFIX.values():
            raise ValueError(f"metrics file must end in .csv or .jsonl, got {self.path.name!r}")
        self.position_key = position_key
        self.csv = self.path.suffix == ".csv"
        self.header: list[str] | None = None
        if history is not None:
            kept = list(history)
        elif resume_at is not None:
            kept = [r for r in read_metrics(self.path) if r[position_key] <= resume_at]
        else:
            kept = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(self.path, "".join(self._lines(kept)))
        if self.csv and kept:
            self.header = list(kept[0])

    def _lines(self, records: list[dict[str, Any]]) -> list[str]:
        if not self.csv:
            return [json.dumps(r) + "\n" for r in records]
        if not records:
            return []
        header = list(records[0])
        return [self._csv_line(header)] + [self._csv_line([_format_csv_value(r[k]) for k in header]) for r in records]

    @staticmethod
    def _csv_line(cells: list[str]) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        return buf.getvalue()

    def log(self, record: dict[str, Any]) -> None:
        """Append ``record`` as one line (the CSV header first, with the first record)."""
        if self.csv:
            keys = list(record)
            lines = ""
            if self.header is None:
                self.header = keys
                lines = self._csv_line(keys)
            elif keys != self.header:
                raise ValueError(f"CSV metrics need the same columns in every record: {keys} != {self.header}")
            line = lines + self._csv_line([_format_csv_value(record[k]) for k in keys])
        else:
            line = json.dumps(record) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
