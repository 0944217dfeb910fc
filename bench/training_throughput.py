"""Trainer throughput vs a minimal hand-written PyTorch loop, same model, data and run.

Both train ResNet-20 on the same in-memory MNIST-5k tensors with the same batch, SGD settings
and per-step LambdaLR; the hand loop does only shuffle -> index -> forward -> loss -> backward ->
step. The trainer's figure is its training images/s (its own per-epoch timer, validation
excluded). Runs alternate (hand, trainer, hand, ...) so that a change in the machine's load
hits both; the ratio of the medians is reported (target >= 0.95).

    .venv/bin/python bench/training_throughput.py [--threads 1] [--images 1536] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from netanatomy.training.datasets import load_dataset
from netanatomy.training.trainer import ImageTrainConfig, train
from netanatomy.zoo.registry import create_model


def hand_loop(data: torch.Tensor, labels: torch.Tensor, batch: int, seed: int) -> float:
    torch.manual_seed(seed)
    model = create_model("resnet20", num_classes=10, in_channels=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    model.train()
    t0 = time.perf_counter()
    order = torch.randperm(len(labels))
    for i in range(0, len(order), batch):
        idx = order[i : i + batch]
        loss = F.cross_entropy(model(data[idx]), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return len(labels) / (time.perf_counter() - t0)


def trainer(data: tuple, batch: int, seed: int, augment: bool) -> float:
    cfg = ImageTrainConfig(model="resnet20", dataset="mnist", epochs=1, batch_size=batch, lr=0.1,
                      schedule="constant", augment=augment, seed=seed, progress=False, log=False, save=False)  # fmt: skip
    return train(cfg, data=data).history[0]["images_per_s"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="/work/shared/data")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--images", type=int, default=1536, help="training images per run")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset("mnist", args.data_dir, limit=args.images)
    x, y = data[0].tensors
    print(f"ResNet-20, MNIST-5k, {len(y)} images/run, batch {args.batch_size}, {args.threads} thread(s)")
    hand_loop(x[:256], y[:256], args.batch_size, 0)  # warm-up (allocator, oneDNN kernels)
    hand, ours, ours_aug = [], [], []
    for r in range(args.repeats):
        hand.append(hand_loop(x, y, args.batch_size, r))
        ours.append(trainer(data, args.batch_size, r, augment=False))
        ours_aug.append(trainer(data, args.batch_size, r, augment=True))
        print(f"  repeat {r}: hand {hand[-1]:.1f} img/s, trainer {ours[-1]:.1f}, trainer+augment {ours_aug[-1]:.1f}")
    h, t, a = (statistics.median(v) for v in (hand, ours, ours_aug))
    print(f"median: hand loop {h:.1f} img/s, trainer {t:.1f} img/s -> ratio {t / h:.3f} (target >= 0.95)")
    print(f"        trainer with crop+flip augmentation {a:.1f} img/s -> ratio {a / h:.3f}")


if __name__ == "__main__":
    main()
