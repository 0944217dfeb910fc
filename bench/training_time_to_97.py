"""Time to 97% validation accuracy on MNIST-5k (4,500 train / 500 val) with ResNet-20.

    .venv/bin/python bench/training_time_to_97.py [--threads 1] [--epochs 10]

SGD 0.1, momentum 0.9, weight decay 1e-4, batch 128, 1 warm-up epoch then cosine over
``--epochs``, random crop (padding 3); the clock includes each epoch's validation pass.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from netanatomy.training.trainer import ImageTrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="/work/shared/data")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--target", type=float, default=0.97)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    reached: list[tuple[int, float, float]] = []
    t0 = time.perf_counter()

    def check(epoch: int, m: dict[str, float]) -> None:
        if m["val_acc"] >= args.target and not reached:
            reached.append((epoch + 1, time.perf_counter() - t0, m["val_acc"]))

    cfg = ImageTrainConfig(model="resnet20", dataset="mnist", data_dir=args.data_dir, epochs=args.epochs,
                      warmup_epochs=1, out_dir="/tmp/bench_time_to_97", progress=False)  # fmt: skip
    load0 = os.getloadavg()[0]
    result = train(cfg, on_epoch_end=check)
    total = time.perf_counter() - t0
    best = max(h["val_acc"] for h in result.history)
    print(f"load average at start {load0:.1f}, at end {os.getloadavg()[0]:.1f}; {args.threads} thread(s)")
    if reached:
        ep, sec, acc = reached[0]
        print(f"reached {100 * args.target:.0f}% validation accuracy after epoch {ep}: {sec:.0f}s ({acc:.2%})")
    else:
        print(f"did not reach {100 * args.target:.0f}% in {args.epochs} epochs (best {best:.2%})")
    print(f"full run {args.epochs} epochs: {total:.0f}s, best validation accuracy {best:.2%}")


if __name__ == "__main__":
    main()
