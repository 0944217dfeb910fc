"""Time of `netanatomy rf MODEL --verify` per model: the gradient probe against the engine.

For each model: the layers `netanatomy rf` shows by default (depth 2, rows where the field
changes), probed as `verify` does (each layer at the smallest input that holds its field, one
forward per input size, one backward per distinct layer output); also the engine's own time
(capture included) as the baseline of the same run.

    .venv/bin/python bench/receptive_verify.py [--models resnet18 vgg16 ...] [--all]
"""

from __future__ import annotations

import argparse
import time

import torch

from netanatomy.receptive.engine import receptive_field
from netanatomy.receptive.probe import verify
from netanatomy.receptive.report import shown_layers
from netanatomy.zoo import create_model, get_model_info, list_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["alexnet", "vgg16", "googlenet", "resnet18", "resnet50", "squeezenet1_1", "resnet56"])
    parser.add_argument("--all", action="store_true", help="every spatial zoo model")
    args = parser.parse_args()
    names = [n for n in list_models() if get_model_info(n).spatial] if args.all else args.models
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'model':<16}{'input':>14}{'layers':>8}{'engine s':>10}{'verify s':>10}{'ratio':>8}  agree")
    for name in names:
        torch.manual_seed(0)
        model = create_model(name)
        size = get_model_info(name).input_size
        t0 = time.perf_counter()
        result = receptive_field(model, size)
        t_engine = time.perf_counter() - t0
        layers = [lf.name for lf in shown_layers(result, 2, False)
                  if lf.field.known and lf.field.exact and lf.field.size and len(lf.output_shape) == len(size)
                  and all(u is not None for u in lf.field.units)]
        t0 = time.perf_counter()
        checks = verify(model, size, layers)
        t_verify = time.perf_counter() - t0
        agree = sum(c.ok for c in checks)
        print(f"{name:<16}{'x'.join(map(str, size)):>14}{len(layers):>8}{t_engine:>10.2f}{t_verify:>10.2f}"
              f"{t_verify / t_engine:>8.1f}  {agree}/{len(checks)}")


if __name__ == "__main__":
    main()
