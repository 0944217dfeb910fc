"""``netanatomy report``: one self-contained HTML page per model, comparison or training run."""

from __future__ import annotations

import argparse
from typing import Any

from netanatomy.cli.common import add_lang, add_output, default_language

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
    p.add_argument("--input", "-i", metavar="NxCxHxW", help="input size, batch first (default: the model's own)")
    p.add_argument("--batch-size", "-b", type=int, help="replace the batch dimension of the input")
    p.add_argument("--arg", "-a", action="append", metavar="NAME=VALUE", help="keyword argument for the model builder (repeatable)")
    p.add_argument("--mode", choices=("eval", "train"), default="eval", help="run the forward in eval (default) or training mode")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16", "float64"), help="dtype of weights and activations for the memory figures")
    p.add_argument("--optimizer", choices=("sgd", "momentum", "adam", "adamw"), default="adam", help="optimizer for the training-memory estimate (default adam)")
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
    from netanatomy.analysis.loading import parse_input_size, parse_kwargs, resolve_model
    from netanatomy.errors import UserError
    from netanatomy.html import model_report
    from netanatomy.html.payload import model_payload

    if args.batch_size is not None and args.batch_size <= 0:
        raise UserError(f"--batch-size must be positive, got {args.batch_size}")
    payloads = []
    for text in args.targets:
        sizes = parse_input_size(args.input) if args.input else None
        kwargs = parse_kwargs(args.arg)
        resolved = resolve_model(text, sizes, kwargs)
        sizes = resolved.input_sizes
        if args.batch_size is not None:
            sizes = [(args.batch_size, *s[1:]) for s in sizes]
        dtypes = list(resolved.input_dtypes)
        dtypes = dtypes[: len(sizes)] + dtypes[-1:] * (len(sizes) - len(dtypes))
        erf_model = resolve_model(text, resolved.input_sizes, kwargs, device="cpu").model if args.erf and resolved.spatial else None
        payloads.append(model_payload(resolved.model, sizes, input_dtypes=dtypes, mode=args.mode, dtype=args.dtype,
                                      optimizer=args.optimizer, name=resolved.name, spatial=resolved.spatial,
                                      erf_model=erf_model, photo=f"{args.photo}.jpg"))
    return model_report(payloads, lang)
