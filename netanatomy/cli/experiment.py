"""``netanatomy experiment NAME``: the lecture's experiments, each writing a Markdown report and a PNG."""

from __future__ import annotations

import argparse
from typing import Any

from netanatomy.cli import common
from netanatomy.cli.lab import add_recurrent_arguments, experiment_recurrent
from netanatomy.cli.train import add_data_options, add_optim_options, train_config


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``experiment``."""
    from netanatomy.training.experiments import EXPERIMENTS  # a table of names: no torch

    p = sub.add_parser(
        "experiment",
        help=f"the lecture's experiments: {', '.join(EXPERIMENTS)}",
        description="; ".join(f"{name}: {what}" for name, what in EXPERIMENTS.items())
        + ". Each writes a PNG and a Markdown report to --run-dir.",
    )
    p.add_argument("name", metavar="NAME", help=f"one of {', '.join(EXPERIMENTS)}")
    common.add_run_dir(p, help="directory of the report, the plot and the runs (default runs/experiment-NAME)")
    p.add_argument("--depths", default="20,56", help="degradation: two CIFAR-ResNet depths (default 20,56)")
    p.add_argument("--model", default="resnet20", help="gap: the GAP network whose head is swapped (default resnet20)")
    add_data_options(p)
    add_optim_options(p, epochs=8, warmup=1.0)
    add_recurrent_arguments(p)
    common.add_device(p)
    common.add_quiet(p)
    common.add_format(p)
    p.set_defaults(handler=_experiment)


def _experiment(args: argparse.Namespace) -> int:
    from pathlib import Path

    from netanatomy.devices import set_threads
    from netanatomy.errors import UserError, require_extra
    from netanatomy.training.experiments import check_experiment

    require_extra("train", module="matplotlib")  # every experiment writes its figures

    name = check_experiment(args.name)
    if name == "recurrent":
        return experiment_recurrent(args)
    set_threads(args.threads)
    run_dir = args.run_dir or f"runs/experiment-{name}"
    with common.progress_to_stderr(args.format == "json"):
        if name == "bottleneck":
            from netanatomy.training.experiments.bottleneck import run_bottleneck

            report = run_bottleneck(run_dir)
        elif name == "degradation":
            from netanatomy.training.experiments.degradation import run_degradation

            try:
                depths = tuple(int(d) for d in args.depths.split(","))
            except ValueError:
                raise UserError(f"--depths must be comma-separated integers, got {args.depths!r}") from None
            report = run_degradation(train_config(args, "resnet20", run_dir), depths=depths)
        else:
            from netanatomy.training.experiments.gap import run_gap

            report = run_gap(train_config(args, args.model, run_dir))
    if args.format == "json":
        files = sorted(str(f.relative_to(run_dir)) for f in Path(run_dir).glob("*") if f.is_file())
        print(common.json_text("experiment", {"experiment": name, "run_dir": run_dir, "files": files,
                                              "report_markdown": report}), end="")
    else:
        print(report)
    return 0
