"""``netanatomy train`` (a zoo CNN on an image data set) and ``netanatomy predict``.

The data and optimisation options are shared with ``netanatomy experiment`` (:mod:`netanatomy.cli.experiment`).
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

from netanatomy.cli import common
from netanatomy.training.config import (
    IMAGE_OPTIMIZER_DEFAULTS,
    IMAGE_OPTIMIZERS,
    METRICS_FORMATS,
    SCHEDULES,
    ImageTrainConfig,
    RecurrentConfig,
    default_of,
)

d = partial(default_of, ImageTrainConfig)

DATASETS = ("mnist", "digits", "cifar10", "folder", "synthetic")  # == training.datasets.DATASETS (a test checks)
CHECKPOINT_NAME = "last.pt"  # what --resume DIR continues


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``train`` and ``predict``."""
    p = sub.add_parser(
        "train",
        help="train a zoo CNN on an image data set",
        description="Train a zoo CNN (input channels and class count adapted to the data set). "
        "Writes last.pt/best.pt, metrics.csv and curves.png to --run-dir. Multi-process: "
        "`torchrun --nproc_per_node N -m netanatomy train ...`.",
    )
    p.add_argument("model", nargs="?", help="zoo model name, e.g. resnet20 (optional with --resume)")
    add_data_options(p)
    add_optim_options(p, epochs=10, warmup=1.0)
    g = p.add_argument_group("run")
    common.add_run_dir(g, help="run directory: checkpoints, metrics, plots (default runs/MODEL-DATASET; "
                       "with --resume, the resumed run's directory)")
    g.add_argument("--metrics", choices=METRICS_FORMATS, default=d("metrics_format"), help="metrics file format")
    common.add_resume(g)
    common.add_device(g)
    g.add_argument("--no-amp", action="store_true", help="GPU: no bf16 autocast")
    g.add_argument("--no-channels-last", action="store_true", help="GPU: keep NCHW memory format")
    g.add_argument("--compile", action="store_true", help="GPU: torch.compile the model")
    g.add_argument("--sync-bn", action="store_true", help="DDP: SyncBatchNorm over all processes")
    common.add_quiet(g)
    common.add_format(g)
    p.set_defaults(handler=_train)

    p = sub.add_parser("predict", help="classify image files with a trained checkpoint")
    p.add_argument("checkpoint", metavar="CKPT", help="a .pt file written by `netanatomy train`")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG files")
    p.add_argument("--top-k", type=int, default=5, help="classes to show per image (default 5)")
    p.add_argument("--invert", action="store_true", help="invert pixels (dark digit on white -> MNIST style)")
    common.add_format(p)
    common.add_output(p)
    p.set_defaults(handler=_predict)


def add_data_options(p: argparse.ArgumentParser, default: str = "mnist") -> None:
    """Data set, split and seed: the options of ``train`` and ``experiment``."""
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=default, metavar="NAME", help=f"one of {', '.join(DATASETS)} (default {default})")
    g.add_argument("--data-dir", metavar="DIR", help="directory of cifar10 / folder data (mnist: a mnist_5k.csv.gz)")
    g.add_argument("--val-fraction", type=float, default=d("val_fraction"), help="stratified validation share (default %(default)s)")
    g.add_argument("--limit", type=int, metavar="N", help="use at most N training images (stratified)")
    g.add_argument("--image-size", type=int, metavar="S", help="resize images to S x S")
    common.add_seed(g, help=f"seed of the split, initialisation and data order (default {common.DEFAULT_SEED})")
    common.add_threads(p)


def add_optim_options(p: argparse.ArgumentParser, epochs: int, warmup: float) -> None:
    """Optimiser and schedule: the options of ``train`` and ``experiment``."""
    g = p.add_argument_group("optimisation")
    # None, so that `train --resume` can tell "not given" (keep the run's) from a new length.
    g.add_argument("--epochs", type=int, default=None, help=f"default {epochs}")
    p.set_defaults(default_epochs=epochs)
    # None, so that `experiment recurrent` can take its own default (RecurrentConfig's).
    g.add_argument("--batch-size", type=int, default=None,
                   help=f"global batch (split over DDP processes); default {d('batch_size')} (experiment recurrent: "
                        f"{default_of(RecurrentConfig, 'batch_size')} text streams)")
    g.add_argument("--optimizer", choices=IMAGE_OPTIMIZERS, default=d("optimizer"))
    per_opt = IMAGE_OPTIMIZER_DEFAULTS
    g.add_argument("--lr", type=float, help="base learning rate (default " + ", ".join(f"{v['lr']:g} for {k}" for k, v in per_opt.items()) + ")")
    g.add_argument("--momentum", type=float, default=d("momentum"))
    g.add_argument("--weight-decay", type=float,
                   help="default " + ", ".join(f"{v['weight_decay']:g} for {k}" for k, v in per_opt.items()) + " (He et al. 2016 for sgd)")
    g.add_argument("--schedule", choices=SCHEDULES, default=d("schedule"))
    g.add_argument("--milestones", default=",".join(str(m) for m in d("milestones")),
                   help="step schedule: fractions of training (default %(default)s)")
    g.add_argument("--gamma", type=float, default=d("gamma"), help="step schedule: factor at each milestone")
    g.add_argument("--warmup-epochs", type=float, default=warmup, help=f"linear warm-up length (default {warmup})")
    g.add_argument("--no-augment", action="store_true", help="no random crop / flip")


def train_config(args: argparse.Namespace, model: str, run_dir: str) -> Any:
    """The trainer's config from the data and optimisation options."""
    from netanatomy.errors import UserError
    from netanatomy.training.trainer import TrainConfig

    try:
        milestones = tuple(float(m) for m in args.milestones.split(","))
    except ValueError:
        raise UserError(f"--milestones must be comma-separated fractions, got {args.milestones!r}") from None
    return TrainConfig(
        model=model,
        dataset=args.dataset,
        data_dir=args.data_dir,
        epochs=args.epochs if args.epochs is not None else args.default_epochs,
        batch_size=d("batch_size") if args.batch_size is None else args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        milestones=milestones,
        gamma=args.gamma,
        warmup_epochs=args.warmup_epochs,
        augment=not args.no_augment,
        val_fraction=args.val_fraction,
        limit=args.limit,
        image_size=args.image_size,
        seed=args.seed,
        out_dir=run_dir,
        progress=not args.quiet,
    )


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from netanatomy.devices import set_threads
    from netanatomy.errors import UserError, require_extra

    require_extra("train", module="matplotlib")  # the run ends with plots: say so before it starts
    from netanatomy.training import checkpoint
    from netanatomy.training.trainer import TrainConfig, train
    from netanatomy.zoo.registry import get_model_info

    set_threads(args.threads)
    if args.model is None and args.resume is None:
        raise UserError("give a MODEL to train (e.g. `netanatomy train resnet20 --dataset mnist`) or --resume PATH")
    with common.progress_to_stderr(args.format == "json"):
        if args.resume is not None:
            ckpt = common.resume_checkpoint(args.resume, CHECKPOINT_NAME)
            saved = TrainConfig.from_dict(checkpoint.load_checkpoint(ckpt)["config"])
            # On resume the run's stored settings win; the command line may extend --epochs.
            cfg = TrainConfig(
                model=args.model or saved.model,
                epochs=args.epochs if args.epochs is not None else saved.epochs,
                out_dir=args.run_dir or str(Path(ckpt).parent),
                progress=not args.quiet,
            )
            result = train(cfg, resume=ckpt)
        else:
            info = get_model_info(args.model)  # unknown names fail here, with close matches
            if not info.spatial:
                raise UserError(f"{args.model!r} is not an image model; train character models with "
                                f"`netanatomy charrnn train TEXT_FILE --model {args.model}`")
            cfg = train_config(args, args.model, args.run_dir or f"runs/{args.model}-{args.dataset}")
            cfg.metrics_format = args.metrics
            cfg.device = args.device
            cfg.amp, cfg.channels_last = not args.no_amp, not args.no_channels_last
            cfg.compile, cfg.sync_batchnorm = args.compile, args.sync_bn
            result = train(cfg)
    return _report(result, args.format)


def _report(result: Any, fmt: str) -> int:
    from netanatomy.training.distributed import shutdown

    shutdown()
    if not result.is_main:
        return 0  # only rank 0 speaks
    best = max((h["val_acc"] for h in result.history), default=None)
    if fmt == "json":
        cfg = result.config
        print(common.json_text("train", {
            "model": cfg.model, "dataset": cfg.dataset, "run_dir": str(cfg.out_dir), "epochs": cfg.epochs,
            "best_val_acc": best, "diverged": result.diverged, "history": result.history,
            "checkpoints": {"last": f"{cfg.out_dir}/last.pt", "best": f"{cfg.out_dir}/best.pt"},
        }), end="")
    elif best is not None:
        print(f"best validation accuracy {100 * best:.2f}%; checkpoints in {result.config.out_dir}/")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from netanatomy.training.predict import predict

    preds = predict(args.checkpoint, args.images, top_k=args.top_k, invert=args.invert)
    if args.format == "json":
        text = common.json_text("predict", {
            "checkpoint": args.checkpoint,
            "predictions": [{"image": p.path, "classes": p.classes, "probabilities": p.probabilities} for p in preds]})
    else:
        text = "\n".join(f"{p.path}: " + ", ".join(f"{c} {100 * q:.1f}%" for c, q in zip(p.classes, p.probabilities))
                         for p in preds)
    common.emit(text, args.output)
    return 0
