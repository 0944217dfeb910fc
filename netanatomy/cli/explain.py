"""``netanatomy explain``: the study notes' questions answered by computation, in English or Korean."""

from __future__ import annotations

import argparse
from typing import Any

from netanatomy.cli import common


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``explain`` to the ``netanatomy`` parser (its topic options come from the topic table)."""
    from netanatomy.explain.topics import TOPICS  # torch-free: the table only

    p = sub.add_parser(
        "explain", help="the lectures' questions answered by computation on your model (English or Korean)",
        description="Without TOPIC: list the topics and their questions. With TOPIC: the answer, worked out at run "
        "time by the analyzer, the receptive-field engine, the zoo or the char-RNN code, on MODEL when the topic "
        "takes one (anything `netanatomy summary` accepts).")
    p.add_argument("topic", metavar="TOPIC", nargs="?", help="a topic (run without it to list them)")
    p.add_argument("model", metavar="MODEL", nargs="?", help="the model to explain, for the topics that take one")
    p.add_argument("--layer", "-l", metavar="NAME", help="module path of the layer to explain (params, receptive-field)")
    p.add_argument("--input", "-i", metavar="NxCxHxW", help="input size, batch first (default: the model's own)")
    p.add_argument("--arg", "-a", action="append", metavar="NAME=VALUE", help="keyword argument for the model builder (repeatable)")
    seen: set[str] = set()
    group = p.add_argument_group("topic options")
    for topic in TOPICS:
        for opt in topic.options:
            if opt.flag in seen:
                continue
            seen.add(opt.flag)
            # A flag several topics share (--steps) gets each topic's meaning in its help.
            helps = "; ".join(f"[{t.name}] {o.help}" for t in TOPICS for o in t.options if o.flag == opt.flag)
            if opt.flag == "run-dir":  # the shared flags keep common.py's spelling and dest
                common.add_run_dir(group, help=helps)
            elif opt.flag == "checkpoint":
                common.add_checkpoint(group, help=helps)
            else:
                group.add_argument(f"--{opt.flag}", dest=f"opt_{opt.dest}", type=opt.type, metavar=opt.metavar or None,
                                   default=None, help=helps)
    common.add_seed(p, help="seed of the small random examples (default 0)")
    common.add_lang(p)  # an unknown language is a one-line user error, raised by the catalogue
    p.add_argument("--format", "-f", choices=("text", "md", "json"), default="text",
                   help="text (default), md (Markdown) or json (the numbers with their names; schema_version "
                   f"{common.SCHEMA_VERSION})")
    common.add_output(p)
    p.set_defaults(handler=_explain)


def _explain(args: argparse.Namespace) -> int:
    from netanatomy.explain import catalogue, explain
    from netanatomy.explain.topics import TOPICS

    lang = args.lang or common.default_language()
    messages = catalogue(lang)  # an unknown language fails here, before any computation
    if args.topic is None:
        width = max(len(t.name) for t in TOPICS)
        lines = [f"{t.name:<{width}}  [{t.page}] {messages[f'{t.name}.question']}" for t in TOPICS]
        lines.append(f"{messages['more']} netanatomy explain TOPIC [MODEL] [--layer NAME] [--lang {'|'.join(_langs())}]")
        common.emit("\n".join(lines) + "\n", args.output)
        return 0
    options = {k.removeprefix("opt_"): v for k, v in vars(args).items() if k.startswith("opt_") and v is not None}
    options.update({k: v for k in ("run_dir", "checkpoint") if (v := getattr(args, k, None)) is not None})
    answer = explain(args.topic, args.model, layer=args.layer, input_size=args.input, model_args=args.arg,
                     seed=args.seed, **options)
    if args.format == "json":
        common.emit(common.json_text("explain", answer.to_dict(lang)), args.output)
    elif args.format == "md":
        common.emit(answer.to_markdown(lang), args.output)
    else:
        common.emit(answer.to_text(lang), args.output)
    return 0


def _langs() -> tuple[str, ...]:
    from netanatomy.explain import languages

    return languages()
