"""``netanatomy rf`` (receptive fields, layer by layer, with the working) and ``netanatomy erf``."""

from __future__ import annotations

import argparse
from typing import Any

_MODEL_HELP = ("a zoo name (netanatomy models), a spec such as 'conv3-64*3' or '64,64,M,128', "
               "torchvision:NAME, or path/to/file.py:factory (see `netanatomy summary --help`)")


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    p.add_argument("--input", "-i", metavar="NxCxHxW", help="input size, batch first (default: the model's own)")
    p.add_argument("--arg", "-a", action="append", metavar="NAME=VALUE", help="keyword argument for the model builder (repeatable)")
    p.add_argument("--layer", "-l", metavar="NAME", help="module path of the layer to explain (default: the last layer with a local field)")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this area's sub-commands to the ``netanatomy`` parser."""
    p = sub.add_parser(
        "rf", help="receptive fields layer by layer, with the recurrence that sets them",
        description="Receptive field r, jump j (effective stride) and effective padding P of every layer, on the "
        "true computation graph (residual adds and concatenations included), with the recurrence "
        "r = r_prev + (k-1)·j_prev, j = j_prev·s, P = P_prev + p·j_prev along the path that sets the chosen layer's field.")
    _model_options(p)
    p.add_argument("--unit", "-u", metavar="I,J", help="print the input box that this output unit of --layer sees")
    p.add_argument("--depth", "-d", type=int, default=2, help="show modules nested at most this deep (default 2)")
    p.add_argument("--all", action="store_true", help="show every layer, also those that leave the field unchanged")
    p.add_argument("--brief", "-q", action="store_true", help="print only the one-line answer for --layer")
    p.add_argument("--verify", action="store_true", help="check the engine against the gradient probe (a linearised copy of the model, one backward pass)")
    p.set_defaults(handler=_rf)

    p = sub.add_parser(
        "erf", help="effective receptive field heatmap (Luo et al. 2016)",
        description="Mean |d unit / d input| of the centre unit of --layer over random inputs, with the model's own "
        "weights (random init, or --checkpoint), drawn with the theoretical field outlined.")
    _model_options(p)
    p.add_argument("--output", "-o", metavar="PNG", default="erf.png", help="heatmap file (default erf.png)")
    p.add_argument("--checkpoint", "-c", metavar="FILE", help="state_dict (or a checkpoint with a 'model'/'state_dict' entry) to load")
    p.add_argument("--samples", "-n", type=int, default=16, help="random inputs to average over (default 16)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the weights' init and of the inputs")
    p.set_defaults(handler=_erf)


def _resolve(args: argparse.Namespace, device: str) -> tuple[Any, tuple[int, ...], str]:
    """Model, input size and display name from the command line (the one place that resolves MODEL)."""
    from netanatomy.analysis.loading import parse_input_size, parse_kwargs, resolve_model
    from netanatomy.errors import UserError

    sizes = parse_input_size(args.input) if args.input else None
    resolved = resolve_model(args.model, sizes, parse_kwargs(args.arg), device=device)
    size = tuple(resolved.input_sizes[0])
    if not resolved.spatial or len(size) < 3 or not resolved.input_dtypes[0].is_floating_point:
        raise UserError(f"{resolved.name} has no spatial input (its input is {'x'.join(map(str, size))}, "
                        f"{str(resolved.input_dtypes[0]).replace('torch.', '')}): receptive fields apply to convolutional "
                        "models; try a CNN such as resnet18 or a spec such as conv3-64*3")
    return resolved.model, size, resolved.name


def _parse_unit(text: str) -> tuple[int, ...]:
    from netanatomy.errors import UserError

    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"malformed --unit {text!r}: write it as I,J (one index per spatial axis, e.g. 3,3)") from None


def _rf(args: argparse.Namespace) -> int:
    from netanatomy.receptive.engine import receptive_field
    from netanatomy.receptive.report import render_checks, render_layers, render_unit, render_working

    model, size, name = _resolve(args, "meta" if not args.verify else "cpu")
    result = receptive_field(model, size, args.layer)
    if args.brief:
        from netanatomy.receptive.engine import describe

        print(describe(result.layer, result.field))
        if args.unit:
            print(render_unit(result, _parse_unit(args.unit)))
        return 0
    print(render_layers(result, name, args.depth, args.all))
    print()
    print(render_working(result))
    if args.unit:
        print()
        print(render_unit(result, _parse_unit(args.unit)))
    if args.verify:
        from netanatomy.receptive.probe import verify
        from netanatomy.receptive.report import shown_layers

        names = [lf.name for lf in shown_layers(result, args.depth, args.all)
                 if lf.field.known and lf.field.exact and lf.field.size and len(lf.output_shape) == len(size)
                 and all(u is not None for u in lf.field.units)]
        checks = verify(model, size, names)
        print()
        print(render_checks(checks))
        return 0 if all(c.ok for c in checks) else 1
    return 0


def _erf(args: argparse.Namespace) -> int:
    import torch

    from netanatomy.errors import UserError
    from netanatomy.receptive.erf import effective_receptive_field, load_weights, plot_erf

    if args.samples <= 0:
        raise UserError(f"--samples must be positive, got {args.samples}")
    torch.manual_seed(args.seed)
    model, size, name = _resolve(args, "cpu")
    if args.checkpoint:
        load_weights(model, args.checkpoint)
    result = effective_receptive_field(model, size, args.layer, samples=args.samples, seed=args.seed)
    weights = f"weights from {args.checkpoint}" if args.checkpoint else f"random init (seed {args.seed})"
    plot_erf(result, args.output, f"{name} {result.layer}", weights)
    print(result.summary())
    print(f"wrote {args.output}")
    return 0
