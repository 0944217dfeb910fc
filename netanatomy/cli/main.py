"""Entry point of the ``netanatomy`` command.

Each area of the package (analysis, receptive fields, character models, CNN training) adds its
own sub-commands from its ``cli.py`` through a ``register(subparsers)`` function. Those modules
import only ``argparse`` at top level, so that ``netanatomy summary`` does not pay for matplotlib
or the trainer; the handlers import what they need.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from netanatomy.errors import UserError

_AREAS: tuple[str, ...] = (
    "netanatomy.analysis.cli",
    "netanatomy.receptive.cli",
    "netanatomy.charlm.cli",
    "netanatomy.training.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netanatomy",
        description="Exact anatomy of CNNs and RNNs: shapes, parameters with formulas, MACs, "
        "memory, receptive fields; the CS231n Lecture 9/10 zoo; char-RNNs and CNN training.",
    )
    from netanatomy import __version__

    parser.add_argument("--version", action="version", version=f"netanatomy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for area in _AREAS:
        importlib.import_module(area).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user mistakes print one line and return 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"netanatomy: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("netanatomy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `netanatomy summary vgg16 | head` closes the pipe early; that is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
