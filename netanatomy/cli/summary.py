"""``netanatomy summary``, ``models`` and ``compare``: the analyzer's commands."""

from __future__ import annotations

import argparse
from typing import Any

from netanatomy.cli import common

SPEC_HELP = """MODEL is a zoo name (netanatomy models), torchvision:NAME or timm:NAME (if installed),
path/to/file.py:factory or package.module:factory (imports and runs that code), or a spec of a
sequential 2-D stack, e.g. 'conv3-64*3' (three 3x3 convs, stride 1, 64 channels) or
'64,64,M,128,128,M' (VGG style: N = 3x3 conv + ReLU, M = 2x2 max pool). Spec items: N, M,
convK[/S][pP][dD][gG]-C, poolK[/S][pP][c], avgK[/S][pP], gap, relu, bn, dropout, flatten, fc-N;
'*N' repeats an item."""


def add_model_source(p: argparse.ArgumentParser) -> None:
    """``--input`` and ``--arg``: how MODEL is built and fed (shared with ``rf`` and ``erf``)."""
    p.add_argument("--input", "-i", metavar="SIZE[:DTYPE],...",
                   help="input size, batch first, with an optional dtype (default: the model's own, e.g. "
                        "1x3x224x224); several inputs separated by commas: 2x9:int64,2:int64; "
                        "'scalar:float32' (or ':float32') is a 0-d input. dtypes: float32, float16, bfloat16, "
                        "float64, int64, int32, int16, int8, uint8, bool")
    p.add_argument("--arg", "-a", action="append", metavar="NAME=VALUE",
                   help="keyword argument for the model builder, e.g. -a num_classes=10 (repeatable)")


def add_model_options(p: argparse.ArgumentParser) -> None:
    """MODEL's input, builder arguments, batch, mode, dtype and optimizer (``summary``, ``compare``, ``report``)."""
    add_model_source(p)
    p.add_argument("--seq-len", type=int, metavar="N",
                   help="tokens in the default input of a transformers:CLASS model (default 128)")
    p.add_argument("--materialize", action="store_true",
                   help="build the model on the CPU with real weights and run one real forward on random "
                        "inputs (for models that read tensor values or cannot be built on meta); "
                        "the memory it costs is printed first")
    p.add_argument("--batch-size", "-b", type=int, help="replace the batch dimension of the input")
    p.add_argument("--mode", choices=("eval", "train"), default="eval", help="run the forward in eval (default) or training mode")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16", "float64"), help="dtype of weights and activations for the memory figures")
    p.add_argument("--optimizer", choices=("sgd", "momentum", "adam", "adamw"), default="adam", help="optimizer for the training-memory estimate (default adam)")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``summary``, ``models`` and ``compare``."""
    p = sub.add_parser("summary", help="per-layer shapes, parameters with formulas, MACs, memory, receptive fields",
                       description="Analyse a model on fake tensors (no compute, no activation memory).\n\n" + SPEC_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL")
    add_model_options(p)
    p.add_argument("--depth", "-d", type=int, help="fold modules nested deeper than this (default: show every layer)")
    p.add_argument("--columns", help="comma-separated: output,params,formula,macs,activations,saved,rf, or 'all'")
    common.add_format(p, common.FORMATS_TABULAR)
    common.add_output(p)
    p.set_defaults(handler=_summary)

    p = sub.add_parser("models", help="list the model zoo with parameters and MACs")
    p.add_argument("--family", help="only this family (e.g. resnet, vgg)")
    common.add_format(p, common.FORMATS_TABULAR)
    common.add_output(p)
    p.set_defaults(handler=_models)

    p = sub.add_parser("compare", help="put models side by side", description=SPEC_HELP)
    p.add_argument("models", metavar="MODEL", nargs="+")
    add_model_options(p)
    common.add_format(p, common.FORMATS_TABULAR)
    common.add_output(p)
    p.set_defaults(handler=_compare)


def _analyse(model: str, args: argparse.Namespace) -> Any:
    from netanatomy.analysis.models import analyse_model

    return analyse_model(model, args.input, batch_size=args.batch_size, kwargs=args.arg, mode=args.mode,
                         dtype=args.dtype, optimizer=args.optimizer, seq_len=args.seq_len,
                         materialize=args.materialize, announce=lambda cost: announce_materialize(model, cost))


def announce_materialize(model: str, cost: tuple[int, int] | None) -> None:
    """State on stderr what --materialize will allocate, before it allocates it."""
    import sys

    from netanatomy.report import units

    if cost is None:
        line = (f"--materialize: building {model} on the CPU with real weights (its size is unknown until "
                "built: it does not build on the meta device)")
    else:
        line = (f"--materialize: building {model} on the CPU with real weights and running one real forward: "
                f"{units.nbytes(cost[0])} of parameters and buffers, {units.nbytes(cost[1])} of inputs, plus the "
                "forward's activations")
    print(f"netanatomy: {line}", file=sys.stderr)


def _summary(args: argparse.Namespace) -> int:
    from netanatomy.report.columns import parse_columns

    columns = parse_columns(args.columns)  # a bad column fails before the analysis runs
    s = _analyse(args.model, args)
    if args.format == "table":
        import io

        from netanatomy.report.table import print_summary

        if args.output:
            buf = io.StringIO()
            print_summary(s, columns, args.depth, file=buf)
            common.emit(buf.getvalue(), args.output)
        else:
            print_summary(s, columns, args.depth)
        return 0
    from netanatomy.report import export

    if args.format == "json":
        text = common.json_text("summary", s.to_dict())
    elif args.format == "csv":
        text = export.to_csv(s)
    else:
        text = export.to_markdown(s, columns, args.depth)
    common.emit(text, args.output)
    return 0


def _models(args: argparse.Namespace) -> int:
    from netanatomy.analysis.models import zoo_overview
    from netanatomy.report import compare

    entries = zoo_overview(args.family)
    if args.format == "table":
        common.emit_rich(compare.zoo_table(entries), args.output)
        return 0
    text = {"json": lambda: common.json_text("models", compare.zoo_payload(entries)),
            "csv": lambda: compare.zoo_csv(entries), "md": lambda: compare.zoo_markdown(entries)}[args.format]()
    common.emit(text, args.output)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from netanatomy.report import compare

    summaries = [_analyse(m, args) for m in args.models]
    if args.format == "json":
        common.emit(common.json_text("compare", compare.comparison_payload(summaries, args.optimizer)), args.output)
    elif args.format == "csv":
        common.emit(compare.comparison_csv(summaries, args.optimizer), args.output)
    elif args.format == "md":
        common.emit(compare.comparison_markdown(summaries, args.optimizer), args.output)
    else:
        common.emit_rich(compare.comparison_table(summaries, args.optimizer), args.output)
    return 0
