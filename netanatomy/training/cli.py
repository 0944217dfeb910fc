"""Sub-commands of CNN training: ``train``, ``predict`` and ``experiment``.

Only argparse/stdlib at module level (the CLI's start-up time); the handlers import torch.
"""

from __future__ import annotations

import argparse
from typing import Any

_DATASETS = ("mnist", "digits", "cifar10", "folder", "synthetic")  # == datasets.DATASETS
_EXPERIMENTS = ("degradation", "gap", "bottleneck")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this area's sub-commands to the ``netanatomy`` parser."""
    _register_train(sub)
    _register_predict(sub)
    _register_experiment(sub)


def _add_data_options(p: argparse.ArgumentParser, default: str = "mnist") -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=default, metavar="NAME", help=f"one of {', '.join(_DATASETS)} (default {default})")
    g.add_argument("--data-dir", metavar="DIR", help="directory of cifar10 / folder data (mnist: a mnist_5k.csv.gz)")
    g.add_argument("--val-fraction", type=float, default=0.1, help="stratified validation share (default 0.1)")
    g.add_argument("--limit", type=int, metavar="N", help="use at most N training images (stratified)")
    g.add_argument("--image-size", type=int, metavar="S", help="resize images to S x S")
    g.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and data order")
    p.add_argument(
        "--threads", type=int, metavar="N",
        help="CPU threads for torch (default: torch's); 1 is often fastest on a busy shared machine",
    )  # fmt: skip


def _add_optim_options(p: argparse.ArgumentParser, epochs: int, warmup: float) -> None:
    g = p.add_argument_group("optimisation")
    # None, so that `train --resume` can tell "not given" (keep the run's) from a new length.
    g.add_argument("--epochs", type=int, default=None, help=f"default {epochs}")
    p.set_defaults(default_epochs=epochs)
    g.add_argument("--batch-size", type=int, default=128, help="global batch (split over DDP processes); default 128")
    g.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    g.add_argument("--lr", type=float, help="base learning rate (default 0.1 for sgd, 1e-3 for adamw)")
    g.add_argument("--momentum", type=float, default=0.9)
    g.add_argument("--weight-decay", type=float, help="default 1e-4 for sgd (He et al. 2016), 0.01 for adamw")
    g.add_argument("--schedule", choices=("cosine", "step", "constant"), default="cosine")
    g.add_argument("--milestones", default="0.5,0.75", help="step schedule: fractions of training (default 0.5,0.75)")
    g.add_argument("--gamma", type=float, default=0.1, help="step schedule: factor at each milestone")
    g.add_argument("--warmup-epochs", type=float, default=warmup, help=f"linear warm-up length (default {warmup})")
    g.add_argument("--no-augment", action="store_true", help="no random crop / flip")


def _register_train(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "train",
        help="train a zoo CNN on an image data set",
        description="Train a zoo CNN (input channels and class count adapted to the data set). "
        "Writes last.pt/best.pt, metrics.csv and curves.png to --out. Multi-process: "
        "`torchrun --nproc_per_node N -m netanatomy train ...`.",
    )
    p.add_argument("model", nargs="?", help="zoo model name, e.g. resnet20 (optional with --resume)")
    _add_data_options(p)
    _add_optim_options(p, epochs=10, warmup=1.0)
    g = p.add_argument_group("run")
    g.add_argument("--out", default=None, metavar="DIR", help="output directory (default runs/MODEL-DATASET)")
    g.add_argument("--metrics", choices=("csv", "jsonl"), default="csv", help="metrics file format")
    g.add_argument("--resume", metavar="CKPT", help="continue a run exactly from its checkpoint (e.g. runs/x/last.pt)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda (default auto)")
    g.add_argument("--no-amp", action="store_true", help="GPU: no bf16 autocast")
    g.add_argument("--no-channels-last", action="store_true", help="GPU: keep NCHW memory format")
    g.add_argument("--compile", action="store_true", help="GPU: torch.compile the model")
    g.add_argument("--sync-bn", action="store_true", help="DDP: SyncBatchNorm over all processes")
    g.add_argument("--no-progress", action="store_true", help="no progress bar, one line per epoch")
    p.set_defaults(handler=_train)


def _register_predict(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("predict", help="classify image files with a trained checkpoint")
    p.add_argument("checkpoint", help="a .pt file written by `netanatomy train`")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG files")
    p.add_argument("--top-k", type=int, default=5, help="classes to show per image (default 5)")
    p.add_argument("--invert", action="store_true", help="invert pixels (dark digit on white -> MNIST style)")
    p.set_defaults(handler=_predict)


def _register_experiment(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "experiment",
        help="the lecture's experiments: degradation, gap, bottleneck",
        description="degradation: plain vs residual nets at two depths (He et al. 2016 Fig. 6); "
        "gap: global-average-pooling head vs flatten+FC head; bottleneck: the Inception module "
        "naive vs with 1x1 reductions. Each writes a PNG and a Markdown report to --out.",
    )
    p.add_argument("name", metavar="NAME", help=f"one of {', '.join(_EXPERIMENTS)}")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default runs/experiment-NAME)")
    p.add_argument("--depths", default="20,56", help="degradation: two CIFAR-ResNet depths (default 20,56)")
    p.add_argument("--model", default="resnet20", help="gap: the GAP network whose head is swapped (default resnet20)")
    _add_data_options(p)
    _add_optim_options(p, epochs=8, warmup=1.0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_experiment)


def _apply_threads(args: argparse.Namespace) -> None:
    import torch

    from netanatomy.errors import UserError

    if args.threads is not None:
        if args.threads < 1:
            raise UserError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)


def _config(args: argparse.Namespace, model: str, out: str) -> Any:
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
        batch_size=args.batch_size,
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
        out_dir=out,
        progress=not args.no_progress,
    )


def _train(args: argparse.Namespace) -> int:
    from netanatomy.errors import UserError, require_extra

    require_extra("train", module="matplotlib")  # the run ends with plots: say so before it starts
    from netanatomy.training import checkpoint
    from netanatomy.training.trainer import TrainConfig, train
    from netanatomy.zoo.registry import get_model_info

    _apply_threads(args)
    if args.model is None and args.resume is None:
        raise UserError("give a MODEL to train (e.g. `netanatomy train resnet20 --dataset mnist`) or --resume CKPT")
    if args.resume is not None:
        saved = TrainConfig.from_dict(checkpoint.load_checkpoint(args.resume)["config"])
        # On resume the run's stored settings win; the command line may extend --epochs.
        cfg = TrainConfig(
            model=args.model or saved.model,
            epochs=args.epochs if args.epochs is not None else saved.epochs,
            out_dir=args.out or saved.out_dir,
            progress=not args.no_progress,
        )
        return _report(train(cfg, resume=args.resume))
    info = get_model_info(args.model)  # unknown names fail here, with close matches
    if not info.spatial:
        raise UserError(f"{args.model!r} is not an image model; train character models with `netanatomy charlm`")
    cfg = _config(args, args.model, args.out or f"runs/{args.model}-{args.dataset}")
    cfg.metrics_format = args.metrics
    cfg.device = args.device
    cfg.amp, cfg.channels_last = not args.no_amp, not args.no_channels_last
    cfg.compile, cfg.sync_batchnorm = args.compile, args.sync_bn
    return _report(train(cfg))


def _report(result: Any) -> int:
    from netanatomy.training.distributed import shutdown

    shutdown()
    if result.history and result.is_main:
        best = max(h["val_acc"] for h in result.history)
        print(f"best validation accuracy {100 * best:.2f}%; checkpoints in {result.config.out_dir}/")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from netanatomy.training.predict import predict

    for pred in predict(args.checkpoint, args.images, top_k=args.top_k, invert=args.invert):
        ranked = ", ".join(f"{c} {100 * p:.1f}%" for c, p in zip(pred.classes, pred.probabilities))
        print(f"{pred.path}: {ranked}")
    return 0


def _experiment(args: argparse.Namespace) -> int:
    from netanatomy.errors import UserError, require_extra

    require_extra("train", module="matplotlib")

    if args.name not in _EXPERIMENTS:
        import difflib

        near = difflib.get_close_matches(args.name, _EXPERIMENTS, n=1)
        hint = f" Did you mean {near[0]}?" if near else ""
        raise UserError(f"unknown experiment {args.name!r}.{hint} Known: {', '.join(_EXPERIMENTS)}.")
    _apply_threads(args)
    out = args.out or f"runs/experiment-{args.name}"
    if args.name == "bottleneck":
        from netanatomy.training.experiments.bottleneck import run_bottleneck

        report = run_bottleneck(out)
    elif args.name == "degradation":
        from netanatomy.training.experiments.degradation import run_degradation

        try:
            depths = tuple(int(d) for d in args.depths.split(","))
        except ValueError:
            raise UserError(f"--depths must be comma-separated integers, got {args.depths!r}") from None
        report = run_degradation(_config(args, "resnet20", out), depths=depths)
    else:
        from netanatomy.training.experiments.gap import run_gap

        report = run_gap(_config(args, args.model, out))
    print(report)
    return 0
