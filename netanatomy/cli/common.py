"""The flags every command shares, defined once, so that a flag means the same thing everywhere.

The README's conventions table is written from this module, and ``tests/test_cli_conventions.py``
walks every sub-command's parser to check that each flag below is spelled and defaulted as here.
Only the standard library is imported (``netanatomy --help`` must not import torch).

| flag | meaning |
|---|---|
| ``-o/--output FILE`` | the one file a command writes (table, JSON, PNG, HTML, .npz), written atomically |
| ``--run-dir DIR`` | a training run's directory (checkpoints, metrics, plots) |
| ``--resume PATH`` | continue the run stored at PATH (its directory or a checkpoint in it) exactly |
| ``-q/--quiet`` | no progress bar; print only the result |
| ``--seed N`` | random seed, default 0 |
| ``--device NAME`` | ``auto`` (CUDA when present, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` |
| ``--threads N`` | CPU threads for torch (default: torch's own choice) |
| ``-f/--format F`` | ``table`` for people (``text`` where the result is prose), ``json`` for programs (with ``schema_version``), ``csv``/``md`` where tabular |
| ``--checkpoint CKPT`` | a checkpoint to read (long form only) |
| ``--lang en|ko`` | language of explanations and reports (default from ``LC_ALL``/``LANG``) |
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

#: Version of every command's JSON output; raised when a field changes meaning or disappears.
SCHEMA_VERSION = 1

DEFAULT_SEED = 0
FORMATS_TABULAR = ("table", "json", "csv", "md")
FORMATS_RESULT = ("table", "json")
#: Commands whose result is prose (``explain``): ``text`` takes the place of ``table``.
FORMATS_PROSE = ("text", "md", "json")


def add_output(p: argparse._ActionsContainer, metavar: str = "FILE", help: str | None = None,
               default: str | None = None) -> None:
    """``-o/--output``: the file the command writes (atomically)."""
    p.add_argument("-o", "--output", metavar=metavar, default=default,
                   help=help or "write to FILE (atomically) instead of standard output")


def add_run_dir(p: argparse._ActionsContainer, help: str | None = None, required: bool = False) -> None:
    """``--run-dir``: a training run's directory."""
    p.add_argument("--run-dir", metavar="DIR", required=required,
                   help=help or "run directory: checkpoints, metrics, plots")


def add_resume(p: argparse._ActionsContainer) -> None:
    """``--resume PATH``: continue a run exactly."""
    p.add_argument("--resume", metavar="PATH",
                   help="continue the run stored at PATH (its run directory or a checkpoint in it) exactly where it stopped")


def add_quiet(p: argparse._ActionsContainer) -> None:
    """``-q/--quiet``: no progress bar, only the result."""
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar; print only the result")


def add_seed(p: argparse._ActionsContainer, help: str | None = None) -> None:
    """``--seed``, default 0 everywhere."""
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=help or f"random seed (default {DEFAULT_SEED})")


def add_device(p: argparse._ActionsContainer) -> None:
    """``--device``: auto, cpu, cuda, cuda:N."""
    p.add_argument("--device", default="auto", help="auto (CUDA when present, else the CPU), cpu, cuda or cuda:N (default auto)")


def add_threads(p: argparse._ActionsContainer) -> None:
    """``--threads``: CPU threads for torch."""
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch (default: torch's own); 1 is often fastest on a busy shared machine")


def add_format(p: argparse._ActionsContainer, choices: tuple[str, ...] = FORMATS_RESULT) -> None:
    """``-f/--format``: table (or text, for prose) for people, json (with schema_version) for programs; the first choice is the default."""
    p.add_argument("-f", "--format", choices=choices, default=choices[0],
                   help=f"{'|'.join(choices)} (default {choices[0]}); json carries schema_version {SCHEMA_VERSION}")


def add_checkpoint(p: argparse._ActionsContainer, help: str | None = None, required: bool = False) -> None:
    """``--checkpoint``: a checkpoint to read (long form only: -c is no flag anywhere)."""
    p.add_argument("--checkpoint", metavar="CKPT", required=required, help=help or "checkpoint to read")


def default_language() -> str:
    """``ko`` when LC_ALL / LC_MESSAGES / LANG starts with ``ko``, else ``en``."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "ko" if value.lower().startswith("ko") else "en"
    return "en"


def add_lang(p: argparse._ActionsContainer) -> None:
    """``--lang en|ko``, defaulting from the environment."""
    # No fixed choices: the message catalogues decide which languages exist (a new catalogue is a
    # new language, no code changes); the command refuses an unknown one in one line.
    p.add_argument("--lang", default=None, metavar="LANG",
                   help="language: en or ko (default from LC_ALL/LANG: ko when it starts with 'ko', else en)")


def json_text(kind: str, payload: dict[str, Any]) -> str:
    """A command's JSON output: ``{"schema_version": 1, "kind": kind, ...payload}``, indented."""
    return json.dumps({"schema_version": SCHEMA_VERSION, "kind": kind, **payload}, indent=2, ensure_ascii=False) + "\n"


def emit(text: str, output: str | None = None) -> None:
    """Print ``text``, or write it atomically to ``output``."""
    if output:
        from netanatomy.atomic import write_text

        write_text(output, text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def emit_rich(renderable: Any, output: str | None = None) -> None:
    """Print a rich table (or anything rich renders) as the analyzer's tables are printed, or write it to ``output``."""
    import io

    from netanatomy.report.table import console

    if output:
        buf = io.StringIO()
        console(buf).print(renderable)
        emit(buf.getvalue(), output)
    else:
        console().print(renderable)


def resume_checkpoint(path: str, checkpoint_name: str) -> str:
    """``--resume PATH``: PATH itself when it is a file, else the run's ``checkpoint_name`` inside the directory PATH."""
    return os.path.join(path, checkpoint_name) if os.path.isdir(path) else path


def progress_to_stderr(quiet_stdout: bool) -> Any:
    """A context in which ``print`` goes to standard error when ``quiet_stdout`` (e.g. under ``--format json``).

    Training loops print one line per epoch; with ``--format json`` standard output must hold the JSON alone.
    """
    import contextlib

    return contextlib.redirect_stdout(sys.stderr) if quiet_stdout else contextlib.nullcontext()
