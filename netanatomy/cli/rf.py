"""``netanatomy rf`` (receptive fields, layer by layer, with the working) and ``netanatomy erf``."""

from __future__ import annotations

import argparse
from typing import Any

from netanatomy.cli import common
from netanatomy.cli.summary import add_model_source

_MODEL_HELP = ("a zoo name (netanatomy models), a spec such as 'conv3-64*3' or '64,64,M,128', "
               "torchvision:NAME, or path/to/file.py:factory (see `netanatomy summary --help`)")


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    add_model_source(p)
    p.add_argument("--layer", "-l", metavar="NAME", help="module path of the layer to explain (default: the last layer with a local field)")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``rf`` and ``erf``."""
    p = sub.add_parser(
        "rf", help="receptive fields layer by layer, with the recurrence that sets them",
        description="Receptive field r, jump j (effective stride) and effective padding P of every layer, on the "
        "true computation graph (residual adds and concatenations included), with the recurrence "
        "r = r_prev + (k-1)·j_prev, j = j_prev·s, P = P_prev + p·j_prev along the path that sets the chosen layer's field.")
    _model_options(p)
    p.add_argument("--unit", "-u", metavar="I,J", help="print the input box that this output unit of --layer sees")
    p.add_argument("--depth", "-d", type=int, default=2, help="show modules nested at most this deep (default 2)")
    p.add_argument("--all", action="store_true", help="show every layer, also those that leave the field unchanged")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the one-line answer for --layer (and --unit)")
    p.add_argument("--verify", action="store_true", help="check the engine against the gradient probe (a linearised copy of the model; each layer probed at the smallest input that holds its field)")
    common.add_format(p)
    common.add_output(p)
    p.set_defaults(handler=_rf)

    p = sub.add_parser(
        "erf", help="effective receptive field heatmap (Luo et al. 2016)",
        description="Mean |d unit / d input| of the centre unit of --layer over random inputs, with the model's own "
        "weights (random init, or --checkpoint), drawn with the theoretical field outlined.")
    _model_options(p)
    common.add_output(p, metavar="PNG", default="erf.png", help="heatmap file (default erf.png)")
    common.add_checkpoint(p, help="state_dict (or a checkpoint with a 'model'/'state_dict' entry) to load")
    p.add_argument("--samples", "-n", type=int, default=16, help="random inputs to average over (default 16)")
    common.add_seed(p, help=f"random seed of the weights' init and of the inputs (default {common.DEFAULT_SEED})")
    common.add_format(p)
    p.set_defaults(handler=_erf)


def _parse_unit(text: str) -> tuple[int, ...]:
    from netanatomy.errors import UserError

    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"malformed --unit {text!r}: write it as I,J (one index per spatial axis, e.g. 3,3)") from None


def _rf(args: argparse.Namespace) -> int:
    from netanatomy.analysis.models import resolve_spatial_model
    from netanatomy.errors import UserError
    from netanatomy.receptive import report
    from netanatomy.receptive.engine import describe, receptive_field

    unit = _parse_unit(args.unit) if args.unit else None
    model, size, name = resolve_spatial_model(args.model, args.input, args.arg, "cpu" if args.verify else "meta")
    result = receptive_field(model, size, args.layer)
    checks = None
    if args.verify:
        from netanatomy.receptive.probe import verify

        checks = verify(model, size, report.verifiable_layers(result, args.depth, args.all))
        if not checks:
            # "0/0 layers agree" would read as a pass for a check that never ran.
            raise UserError(f"nothing to check: none of the layers shown for {name} has an exact, local field the "
                            "probe can compare (global, unknown or approximate fields only); try --all or a larger --depth")
    if args.format == "json":
        payload = report.result_payload(result, name, args.depth, args.all)
        if unit is not None:
            payload["unit"] = report.unit_payload(result, unit)
        if checks is not None:
            payload["checks"] = report.checks_payload(checks)
        common.emit(common.json_text("rf", payload), args.output)
    else:
        parts = [describe(result.layer, result.field)] if args.quiet else [
            report.render_layers(result, name, args.depth, args.all), "", report.render_working(result)]
        if unit is not None:
            parts += ([] if args.quiet else [""]) + [report.render_unit(result, unit)]
        if checks is not None:
            parts += ["", report.render_checks(checks)]
        common.emit("\n".join(parts), args.output)
    # A disagreement between the engine and the probe is our bug, not the user's: exit 1.
    return 0 if checks is None or all(c.ok for c in checks) else 1


def _erf(args: argparse.Namespace) -> int:
    import torch

    from netanatomy.analysis.models import resolve_spatial_model
    from netanatomy.errors import UserError
    from netanatomy.receptive.erf import effective_receptive_field, load_weights, plot_erf
    from netanatomy.receptive.report import field_payload

    if args.samples <= 0:
        raise UserError(f"--samples must be positive, got {args.samples}")
    torch.manual_seed(args.seed)
    model, size, name = resolve_spatial_model(args.model, args.input, args.arg, "cpu")
    if args.checkpoint:
        load_weights(model, args.checkpoint)
    result = effective_receptive_field(model, size, args.layer, samples=args.samples, seed=args.seed)
    weights = f"weights from {args.checkpoint}" if args.checkpoint else f"random init (seed {args.seed})"
    plot_erf(result, args.output, f"{name} {result.layer}", weights)
    if args.format == "json":
        common.emit(common.json_text("erf", {
            "model": name, "input_size": list(size), "layer": result.layer, "unit": list(result.unit),
            "samples": result.samples, "seed": args.seed, "weights": args.checkpoint, "centre": list(result.centre),
            "radius_50": result.radius_50, "radius_95": result.radius_95, "ratio_50": result.ratio_50,
            "ratio_95": result.ratio_95, "theoretical_field": field_payload(result.theoretical), "image": args.output}))
    else:
        print(result.summary())
        print(f"wrote {args.output}")
    return 0
