"""Time of the receptive-field engine on top of the capture (issue 3 target: under 0.2 s at 224).

Prints, per model, the capture time (the baseline every `netanatomy summary` pays anyway), the
engine's time on the captured graph (every tensor's field + every module's FieldInfo), and the
ratio of the two. Times are the best of --repeat runs.

    .venv/bin/python bench/receptive_engine.py [--models resnet152 googlenet] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

import torch

from netanatomy.capture.tracer import capture
from netanatomy.receptive.engine import module_fields
from netanatomy.zoo import create_model, get_model_info


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet152", "googlenet", "densenet121", "vgg16"])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'model':<14}{'ops':>6}{'capture s':>11}{'engine s':>10}{'engine/capture':>16}  target engine < 0.2 s")
    for name in args.models:
        model = create_model(name, device="meta")
        size = get_model_info(name).input_size
        graph = capture(model, [size])
        t_cap = best_of(lambda: capture(model, [size]), args.repeat)  # noqa: B023
        t_rf = best_of(lambda: module_fields(graph), args.repeat)  # noqa: B023
        ok = "ok" if t_rf < 0.2 else "OVER"
        print(f"{name:<14}{len(graph.nodes):>6}{t_cap:>11.3f}{t_rf:>10.3f}{t_rf / t_cap:>16.2f}  {ok}")


if __name__ == "__main__":
    main()
