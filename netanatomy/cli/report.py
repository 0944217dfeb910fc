"""``netanatomy report``: one self-contained HTML page per model, comparison or training run."""

from __future__ import annotations

import argparse
from typing import Any

from netanatomy.cli.common import add_lang, add_output, default_language
from netanatomy.cli.summary import add_model_options

DESCRIPTION = """Write one HTML file that needs nothing else (no network when opened): for MODEL, its
headline figures, the layer table with bars, the computation graph (laid out by Graphviz's `dot`,
which must be installed), receptive fields on a photograph and a training-memory calculator; for
several models, a comparison first; for RUN_DIR (a finished `train`, `experiment` or `charrnn train`
run), its curves, confusion matrix, misclassified images, figures or samples.

MODEL is what `netanatomy summary` takes (a zoo name, torchvision:NAME, file.py:factory, a spec)."""


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page per model, comparison or training run",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("targets", metavar="MODEL|RUN_DIR", nargs="+", help="one or more models, or one run directory")
    add_output(p, metavar="FILE.html", help="the HTML file to write (atomically); required")
    add_model_options(p)
    p.add_argument("--erf", action="store_true", help="add the effective receptive field heatmap (runs the model on the CPU with its initial weights)")
    p.add_argument("--photo", choices=("china", "flower"), default="china", help="scikit-learn's sample photograph for the receptive-field box (default china)")
    add_lang(p)
    p.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    import os

    from netanatomy.errors import UserError

    if not args.output:
        raise UserError("netanatomy report needs -o FILE.html (the page to write)")
    lang = args.lang or default_language()
    from netanatomy.explain.messages import catalogue

    catalogue(lang)  # an unknown language: one line naming those there are
    if len(args.targets) == 1 and os.path.isdir(args.targets[0]):
        from netanatomy.html.runs import run_report

        text = run_report(args.targets[0], lang=lang)
    else:
        text = _model_report(args, lang)
    from netanatomy.html import write_page

    write_page(args.output, text)
    print(f"wrote {args.output}")
    return 0


def _model_report(args: argparse.Namespace, lang: str) -> str:
    from netanatomy.analysis.loading import resolve_model
    from netanatomy.analysis.models import prepare_model
    from netanatomy.cli.summary import announce_materialize
    from netanatomy.html import model_report
    from netanatomy.html.payload import model_payload

    payloads = []
    for text in args.targets:
        def announce(cost: tuple[int, int] | None, name: str = text) -> None:
            announce_materialize(name, cost)

        p = prepare_model(text, args.input, batch_size=args.batch_size, kwargs=args.arg, seq_len=args.seq_len,
                          materialize=args.materialize, announce=announce)
        resolved = p.resolved
        erf_model = None
        if args.erf and resolved.spatial:  # the ERF needs real weights: built on the CPU, at the model's own input
            erf_model = resolved.model if args.materialize else resolve_model(
                text, resolved.input_sizes, p.resolved_kwargs, device="cpu").model
        payloads.append(model_payload(resolved.model, p.input_sizes, input_dtypes=p.input_dtypes, mode=args.mode,
                                      dtype=args.dtype, optimizer=args.optimizer, name=resolved.name,
                                      spatial=resolved.spatial, erf_model=erf_model, photo=f"{args.photo}.jpg",
                                      materialize=args.materialize))
    return model_report(payloads, lang)
