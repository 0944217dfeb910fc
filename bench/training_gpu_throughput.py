"""GPU training throughput of the CIFAR ResNets: fp32 vs bf16 autocast + channels_last.

For a task lent a GPU machine (prepared to run in about a minute):

    .venv/bin/python bench/training_gpu_throughput.py [--models resnet20,resnet56] [--compile]

CIFAR-10-shaped random data (3x32x32, 10 classes, 10,000 images) kept on the GPU, batch 128,
the trainer's own loop; the figure is the training images/s of the last of ``--epochs`` epochs
(the first pays for cuDNN autotuning and, with --compile, compilation).
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.data import TensorDataset

from netanatomy.training.datasets import DatasetInfo
from netanatomy.training.trainer import ImageTrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet20,resnet56")
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: this benchmark is for the GPU machine")
    torch.backends.cudnn.benchmark = True
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.images, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (args.images,), generator=g)
    info = DatasetInfo("random", tuple(str(i) for i in range(10)), 3, (32, 32), (0.0,) * 3, (1.0,) * 3, True)
    data = (TensorDataset(x, y), TensorDataset(x[:1000], y[:1000]), info)
    print(torch.cuda.get_device_name(), f"batch {args.batch_size}, {args.images} images on the GPU")
    for name in args.models.split(","):
        for amp in (False, True):
            cfg = ImageTrainConfig(model=name, dataset="random", epochs=args.epochs, batch_size=args.batch_size,
                              amp=amp, channels_last=amp, compile=args.compile, device="cuda",
                              progress=False, log=False, save=False)  # fmt: skip
            rate = train(cfg, data=data).history[-1]["images_per_s"]
            mode = "bf16 + channels_last" if amp else "fp32, NCHW"
            print(f"{name:9s} {mode:22s} {rate:10,.0f} img/s" + ("  (compiled)" if args.compile else ""))


if __name__ == "__main__":
    main()
