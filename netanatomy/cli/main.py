"""Entry point of the ``netanatomy`` command.

The CLI is the top floor of the package: one module per command group under ``netanatomy/cli/``
(listed in ``GROUPS``), each with a ``register(subparsers)`` function that adds its parsers and
sets ``handler`` to a private function of the same module, ``_cmd(args) -> int``. At top level
those modules import only the standard library, ``netanatomy.cli.common`` and each other, so that
``--help`` does not import torch (``tests/test_cli_conventions.py`` checks every command); a
handler imports the library code it needs when it runs. The libraries below never import this
package (``tests/test_layering.py``). Shared flags come from ``netanatomy.cli.common``.

Exit codes: 0 success; 2 a user mistake (one line naming the problem and the way out); 1 an
internal error (one line; ``--debug`` shows the traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from netanatomy.errors import UserError, extra_for, missing_extra_message

# One module per command group; each adds its sub-commands with register(subparsers).
GROUPS: tuple[str, ...] = (
    "netanatomy.cli.summary",  # summary, models, compare
    "netanatomy.cli.rf",  # rf, erf
    "netanatomy.cli.charrnn",  # charrnn train|sample|hello|markov
    "netanatomy.cli.ngram",  # ngram train|eval|sample
    "netanatomy.cli.data",  # data shakespeare
    "netanatomy.cli.train",  # train, predict
    "netanatomy.cli.experiment",  # experiment NAME
    "netanatomy.cli.report",  # report (HTML pages)
    "netanatomy.cli.explain",  # explain TOPIC (the study notes' questions, en/ko)
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netanatomy",
        description="Exact anatomy of CNNs and RNNs: shapes, parameters with formulas, MACs, "
        "memory, receptive fields; the CS231n Lecture 9/10 zoo; char-RNNs and CNN training.",
    )
    from netanatomy import __version__

    parser.add_argument("--version", action="version", version=f"netanatomy {__version__}")
    parser.add_argument("--debug", action="store_true", help="on an internal error, print the full traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for group in GROUPS:
        importlib.import_module(group).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user mistakes print one line and return 2, our bugs return 1."""
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
    except Exception as exc:
        missing = (exc.name or "") if isinstance(exc, ModuleNotFoundError) else ""
        extra = extra_for(missing) if missing else None
        if extra is not None:  # an optional dependency imported without require_extra(): one line too
            print(f"netanatomy: error: {missing_extra_message(extra, missing)}", file=sys.stderr)
            return 2
        # Anything that is not a UserError is our bug: say so, and keep the traceback one flag away.
        if getattr(args, "debug", False):
            traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"netanatomy: internal error: {type(exc).__name__}: {first}"
              + ("" if getattr(args, "debug", False) else " (rerun with --debug for the traceback; please report it)"),
              file=sys.stderr)
        return 1


def run() -> None:
    """Console-script entry point."""
    code = main()
    # A rank of a `torchrun ... netanatomy train` job leaves without the interpreter's teardown,
    # which can abort in gloo after a DDP run (see training.distributed.exit_process). Looked up
    # in sys.modules so that other commands do not import torch.distributed for it.
    distributed = sys.modules.get("netanatomy.training.distributed")
    if distributed is not None and distributed.joined():
        distributed.exit_process(code)
    sys.exit(code)
