"""``netanatomy summary``, ``models`` and ``compare``."""

from __future__ import annotations

import argparse
from typing import Any

SPEC_HELP = """MODEL is a zoo name (netanatomy models), torchvision:NAME or timm:NAME (if installed),
path/to/file.py:factory or package.module:factory (imports and runs that code), or a spec of a
sequential 2-D stack, e.g. 'conv3-64*3' (three 3x3 convs, stride 1, 64 channels) or
'64,64,M,128,128,M' (VGG style: N = 3x3 conv + ReLU, M = 2x2 max pool). Spec items: N, M,
convK[/S][pP][dD][gG]-C, poolK[/S][pP][c], avgK[/S][pP], gap, relu, bn, dropout, flatten, fc-N;
'*N' repeats an item."""


def _add_model_options(p: argparse.ArgumentParser) -> None:
    # --- issue 12: input forms, transformers, --materialize (ported with this function) ---
    p.add_argument("--input", "-i", metavar="SIZE[:DTYPE],...",
                   help="input size, batch first, with an optional dtype (default: the model's own, e.g. "
                        "1x3x224x224); several inputs separated by commas: 2x9:int64,2:int64; "
                        "'scalar:float32' (or ':float32') is a 0-d input. dtypes: float32, float16, bfloat16, "
                        "float64, int64, int32, int16, int8, uint8, bool")
    p.add_argument("--seq-len", type=int, metavar="N",
                   help="tokens in the default input of a transformers:CLASS model (default 128)")
    p.add_argument("--materialize", action="store_true",
                   help="build the model on the CPU with real weights and run one real forward on random "
                        "inputs (for models that read tensor values or cannot be built on meta); "
                        "the memory it costs is printed first")
    # --- end issue 12 ---
    p.add_argument("--batch-size", "-b", type=int, help="replace the batch dimension of the input")
    p.add_argument("--arg", "-a", action="append", metavar="NAME=VALUE", help="keyword argument for the model builder, e.g. -a num_classes=10 (repeatable)")
    p.add_argument("--mode", choices=("eval", "train"), default="eval", help="run the forward in eval (default) or training mode")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16", "float64"), help="dtype of weights and activations for the memory figures")
    p.add_argument("--optimizer", choices=("sgd", "momentum", "adam", "adamw"), default="adam", help="optimizer for the training-memory estimate (default adam)")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("summary", help="per-layer shapes, parameters with formulas, MACs, memory, receptive fields",
                       description="Analyse a model on fake tensors (no compute, no activation memory).\n\n" + SPEC_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL")
    _add_model_options(p)
    p.add_argument("--depth", "-d", type=int, help="fold modules nested deeper than this (default: show every layer)")
    p.add_argument("--columns", "-c", help="comma-separated: output,params,formula,macs,activations,saved,rf, or 'all'")
    p.add_argument("--format", "-f", choices=("table", "json", "csv", "md"), default="table")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(handler=_summary)

    p = sub.add_parser("models", help="list the model zoo with parameters and MACs")
    p.add_argument("--family", help="only this family (e.g. resnet, vgg)")
    p.add_argument("--format", "-f", choices=("table", "json", "csv", "md"), default="table")
    p.set_defaults(handler=_models)

    p = sub.add_parser("compare", help="put models side by side", description=SPEC_HELP)
    p.add_argument("models", metavar="MODEL", nargs="+")
    _add_model_options(p)
    p.add_argument("--format", "-f", choices=("table", "json", "md"), default="table")
    p.set_defaults(handler=_compare)


def _analyse(model_text: str, args: argparse.Namespace) -> Any:
    from netanatomy.analysis.loading import parse_inputs, parse_kwargs, resolve_model
    from netanatomy.analysis.summary import summary
    from netanatomy.errors import UserError

    given = parse_inputs(args.input) if args.input else None
    if args.seq_len is not None and args.seq_len <= 0:
        raise UserError(f"--seq-len must be positive, got {args.seq_len}")
    if args.seq_len is not None and not model_text.startswith("transformers:"):
        raise UserError("--seq-len sets the token ids of a transformers:CLASS model; for this model give --input")
    kwargs = parse_kwargs(args.arg)
    sizes_given = [shape for shape, _ in given] if given else None
    if args.materialize:
        _announce_materialize(model_text, sizes_given, kwargs, args)
    resolved = resolve_model(model_text, sizes_given, kwargs, device="cpu" if args.materialize else "meta",
                             seq_len=args.seq_len)
    sizes = resolved.input_sizes
    if args.batch_size is not None:
        if args.batch_size <= 0:
            raise UserError(f"--batch-size must be positive, got {args.batch_size}")
        sizes = [(args.batch_size, *s[1:]) if s else s for s in sizes]
    # An explicit :DTYPE wins; otherwise the model's own input dtype (its last one repeated).
    defaults = resolved.input_dtypes
    dtypes = [(given[i][1] if given and given[i][1] is not None else None) or defaults[min(i, len(defaults) - 1)]
              for i in range(len(sizes))]
    return summary(resolved.model, sizes, input_dtypes=dtypes,
                   mode=args.mode, dtype=args.dtype, optimizer=args.optimizer, model_name=resolved.name,
                   receptive_fields=resolved.spatial, materialize=args.materialize)


def _announce_materialize(model_text: str, sizes: Any, kwargs: dict[str, Any], args: argparse.Namespace) -> None:
    """State on stderr what --materialize will allocate, before it allocates it."""
    import sys

    from netanatomy.analysis.loading import resolve_model
    from netanatomy.errors import UserError
    from netanatomy.report import units

    try:
        meta = resolve_model(model_text, sizes, kwargs, device="meta", seq_len=args.seq_len)
    except UserError:
        print(f"netanatomy: --materialize: building {model_text} on the CPU with real weights (its size is "
              "unknown until built: it does not build on the meta device)", file=sys.stderr)
        return
    weights = sum(t.numel() * t.element_size() for t in [*meta.model.parameters(), *meta.model.buffers()])
    inputs = 0
    for shape, dt in zip(meta.input_sizes, meta.input_dtypes):
        n = 1
        for d in shape:
            n *= d
        inputs += n * dt.itemsize
    print(f"netanatomy: --materialize: building {model_text} on the CPU with real weights and running one real "
          f"forward: {units.nbytes(weights)} of parameters and buffers, {units.nbytes(inputs)} of inputs, plus "
          "the forward's activations", file=sys.stderr)


def _emit(text: str, output: str | None) -> None:
    if output:
        from netanatomy.atomic import write_text

        write_text(output, text)
    else:
        print(text, end="" if text.endswith("\n") else "\n")


def _summary(args: argparse.Namespace) -> int:
    from netanatomy.report.columns import parse_columns

    columns = parse_columns(args.columns)
    s = _analyse(args.model, args)
    if args.format == "table":
        from netanatomy.report.table import print_summary

        if args.output:
            import io

            buf = io.StringIO()
            print_summary(s, columns, args.depth, file=buf)
            _emit(buf.getvalue(), args.output)
        else:
            print_summary(s, columns, args.depth)
        return 0
    from netanatomy.report import export

    text = {"json": lambda: export.to_json(s), "csv": lambda: export.to_csv(s),
            "md": lambda: export.to_markdown(s, columns, args.depth)}[args.format]()
    _emit(text, args.output)
    return 0


def _models(args: argparse.Namespace) -> int:
    import json
    import re

    from netanatomy.analysis.summary import summary
    from netanatomy.report import units
    from netanatomy.zoo.registry import create_model, get_model_info, list_models

    names = list_models(args.family)
    if not names:
        from netanatomy.errors import UserError, close_names

        families = sorted({get_model_info(n).family for n in list_models()})
        raise UserError(f"no family {args.family!r}.{close_names(args.family, families)} Families: {', '.join(families)}")
    rows: list[dict[str, Any]] = []
    for name in names:
        info = get_model_info(name)
        s = summary(create_model(name, device="meta"), info.input_size, input_dtypes=[info.input_dtype],
                    receptive_fields=False, model_name=name)
        rows.append({"name": name, "family": info.family, "params": s.total_params, "macs": s.total_macs,
                     "input": "x".join(map(str, info.input_size)), "paper": info.paper, "description": info.description})
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if args.format in ("csv", "md"):
        keys = list(rows[0])
        if args.format == "csv":
            import csv
            import sys

            w = csv.DictWriter(sys.stdout, keys, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        else:
            print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
            for r in rows:
                print("| " + " | ".join(str(r[k]) for k in keys) + " |")
        return 0
    from rich.table import Table

    from netanatomy.report.table import console

    table = Table(title="netanatomy model zoo (MACs at the default input)", title_justify="left")
    for col, justify in (("Model", "left"), ("Family", "left"), ("Params", "right"), ("MACs", "right"), ("Input", "left"), ("Paper", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        # The paper's authors and year; the title is in --format json/md.
        authors = re.match(r"(.*?\d{4})", r["paper"])
        table.add_row(r["name"], r["family"], units.count(r["params"]), units.si(r["macs"]), r["input"],
                      authors[1] if authors else r["paper"])
    console().print(table)
    return 0


def _compare(args: argparse.Namespace) -> int:
    import json

    from netanatomy.report import units

    summaries = [_analyse(m, args) for m in args.models]
    rows: list[tuple[str, list[int | str], Any]] = [
        ("Input", ["/".join(units.shape([x]) for x in s.input_sizes) for s in summaries], str),
        ("Parameters", [s.totals.params for s in summaries], units.count),
        ("Trainable", [s.totals.trainable_params for s in summaries], units.count),
        ("MACs", [s.totals.macs for s in summaries], units.si),
        ("FLOPs (2 x MACs)", [s.totals.flops for s in summaries], units.si),
        ("Parameter memory", [s.totals.param_bytes for s in summaries], units.nbytes),
        ("Forward activations", [s.totals.forward_activation_bytes for s in summaries], units.nbytes),
        ("Saved for backward", [s.totals.saved_bytes for s in summaries], units.nbytes),
        (f"Training memory ({args.optimizer})", [s.totals.training_memory(args.optimizer)["total"] for s in summaries], units.nbytes),
        ("Output RF", [_output_rf(s) for s in summaries], str),
    ]
    if args.format == "json":
        print(json.dumps({s.model_name: {label: vals[i] for label, vals, _ in rows} for i, s in enumerate(summaries)}, indent=2))
        return 0
    if args.format == "md":
        print("| | " + " | ".join(s.model_name for s in summaries) + " |\n|---|" + "---:|" * len(summaries))
        for label, vals, fmt in rows:
            print(f"| {label} | " + " | ".join(fmt(v) for v in vals) + " |")
        return 0
    from rich.table import Table

    from netanatomy.report.table import console

    table = Table(title="netanatomy compare", title_justify="left")
    table.add_column("")
    for s in summaries:
        table.add_column(s.model_name, justify="right")
    for label, vals, fmt in rows:
        table.add_row(label, *(fmt(v) for v in vals))
    console().print(table)
    return 0


def _output_rf(s: Any) -> str:
    """The receptive field of the last layer that has one (the model's trunk output)."""
    for rec in reversed(s.layers):
        if rec.receptive_field and rec.receptive_field != "global":
            return str(rec.receptive_field)
    return "—"
