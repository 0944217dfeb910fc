"""Global average pooling vs a flatten + fully connected head (Lin et al. 2014, NIN §3.2).

The same network twice: with its global-average-pooling head (GAP -> FC to the classes) and
with the pooling removed, so that the classifier sees the flattened C x H x W feature map
(flatten -> FC, as AlexNet and VGG do). GAP makes the classifier's parameters independent of
the map's size and has no spatial weights to overfit; the report gives both heads' parameters
(from the analyzer), accuracies, and the gap between training and validation accuracy.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from netanatomy import atomic
from netanatomy.errors import UserError, require_extra
from netanatomy.training.datasets import load_dataset
from netanatomy.training.experiments.costs import layer_costs
from netanatomy.training.trainer import ImageTrainConfig, TrainResult, evaluate, train


def flatten_head(model: nn.Module, input_size: tuple[int, ...]) -> nn.Module:
    """``model`` with its ``avgpool`` removed and ``fc`` resized to the flattened map.

    Works on the zoo nets that end in ``avgpool`` then ``fc`` (the ResNets, GoogLeNet); the
    body, its weights' shapes and the number of classes are unchanged.
    """
    pool, fc = getattr(model, "avgpool", None), getattr(model, "fc", None)
    if not isinstance(pool, nn.Module) or not isinstance(fc, nn.Linear):
        raise UserError(
            f"{type(model).__name__} has no `avgpool` + `fc` head to swap; use a ResNet (e.g. resnet20) or googlenet"
        )
    seen: list[torch.Size] = []
    handle = pool.register_forward_hook(lambda _m, inp, _out: seen.append(inp[0].shape))
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(input_size))
    finally:
        handle.remove()
        model.train()
    c, h, w = seen[0][1:]
    model.avgpool = nn.Identity()  # the forward's torch.flatten(x, 1) now flattens C x H x W
    model.fc = nn.Linear(c * h * w, fc.out_features)
    return model


def run_gap(config: ImageTrainConfig) -> str:
    """Train ``config.model`` with both heads; write ``gap.png`` and ``gap.md`` to its out_dir."""
    from netanatomy.zoo.registry import create_model

    cfg = config.resolved()
    out = Path(cfg.out_dir)
    data = load_dataset(cfg.dataset, cfg.data_dir, val_fraction=cfg.val_fraction, seed=cfg.seed,
                        image_size=cfg.image_size, limit=cfg.limit)  # fmt: skip
    train_set, val_set, info = data
    input_size = (1, info.in_channels, *info.image_size)
    results: dict[str, TrainResult] = {}
    rows: list[str] = []
    accs: dict[str, tuple[float, float]] = {}
    gaps: dict[str, float] = {}
    for head in ("GAP", "flatten+FC"):
        torch.manual_seed(cfg.seed)
        model = create_model(cfg.model, num_classes=info.num_classes, in_channels=info.in_channels)
        if head != "GAP":
            model = flatten_head(model, input_size)
        costs = layer_costs(model, input_size)
        params = sum(c.params for c in costs)
        head_params = sum(c.params for c in costs if c.name == "fc")
        print(f"== {cfg.model}, {head} head ==", flush=True)
        t0 = time.perf_counter()
        tag = "gap" if head == "GAP" else "flatten"
        r = train(replace(cfg, out_dir=str(out / tag)), model=model, data=data)
        seconds = time.perf_counter() - t0
        results[head] = r
        # Both accuracies measured the same way (eval mode, no augmentation) after training.
        _, train_acc = evaluate(r.model, train_set)
        _, val_acc = evaluate(r.model, val_set)
        accs[head] = (train_acc, r.history[0]["train_loss"])
        gaps[head] = train_acc - val_acc
        rows.append(
            f"| {head} | {head_params:,} | {params:,} | {100 * train_acc:.2f}% | {100 * val_acc:.2f}% | "
            f"{100 * (train_acc - val_acc):+.2f} pts | {seconds:.0f}s |"
        )
    notes = _underfit_notes(accs, cfg, info.num_classes) or [_gap_observation(gaps)]
    _plot(results, out / "gap.png", cfg)
    report = "\n".join([
        f"# Global average pooling vs flatten + FC head ({cfg.model})",
        "",
        f"Data: {cfg.dataset}, {len(train_set)} training / {len(val_set)} validation images, "
        f"input {info.in_channels}x{info.image_size[0]}x{info.image_size[1]}. Same body, seed and budget "
        f"({cfg.epochs} epochs, {cfg.optimizer.upper()} lr {cfg.lr}, augmentation {'on' if cfg.augment else 'off'}). "
        "Parameters from the analyzer; accuracies in eval mode after the last epoch.",
        "",
        "| head | classifier params | total params | train acc | val acc | train − val | time |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        *([*notes, ""] if notes else []),
        "GAP averages each of the last C feature maps to one number, so the classifier has C·K + K "
        "weights whatever the map size; flattening feeds it C·H·W inputs, H·W times more weights. "
        "The train − val column is the generalisation gap; on small data a larger head has more "
        "to overfit with, but one seed on one budget is a demonstration, not a measurement.",
        "",
    ])
    atomic.write_text(out / "gap.md", report)
    return report


def _gap_observation(gaps: dict[str, float]) -> str:
    """One sentence on what this run showed about the generalisation gap, whichever way."""
    g, f = 100 * gaps["GAP"], 100 * gaps["flatten+FC"]
    if f > g + 1.0:
        verdict = "the flatten + FC head overfitted more, as the NIN paper argues"
    elif g > f + 1.0:
        verdict = "the GAP head overfitted *more* here, the opposite of the NIN paper's argument"
    else:
        verdict = "no clear difference in overfitting at this budget (within 1 point)"
    return (
        f"- Observed: train − val gap {g:+.2f} pts with GAP vs {f:+.2f} pts with flatten + FC: {verdict}. "
        "GAP's sure gain here is the classifier's size."
    )


def _underfit_notes(accs: dict[str, tuple[float, float]], cfg: ImageTrainConfig, num_classes: int) -> list[str]:
    """Flag a head that fits its training set far worse than the other: an optimisation
    failure, whose train/val gap must not pass for a generalisation result."""
    best = max(a for a, _ in accs.values())
    return [
        f"- **The {head} network failed to fit its training set** at lr {cfg.lr} ({100 * acc:.1f}% "
        f"training accuracy vs {100 * best:.1f}%; first-epoch loss {loss0:.2f}, chance level is "
        f"ln {num_classes} = {math.log(num_classes):.2f}): an optimisation failure, so its train − val "
        "gap says nothing about overfitting. A wide FC layer takes far larger steps at the same "
        "rate (its gradient sums over C·H·W inputs); rerun with a lower --lr."
        for head, (acc, loss0) in accs.items()
        if acc < best - 0.2
    ]


def _plot(results: dict[str, TrainResult], path: Path, cfg: ImageTrainConfig) -> None:
    require_extra("train", module="matplotlib")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for head, r in results.items():
        ep = [h["epoch"] for h in r.history]
        ax_loss.plot(ep, [h["train_loss"] for h in r.history], "o-", label=f"{head} train")
        ax_loss.plot(ep, [h["val_loss"] for h in r.history], "s--", label=f"{head} val")
        ax_acc.plot(ep, [100 * h["train_acc"] for h in r.history], "o-", label=f"{head} train")
        ax_acc.plot(ep, [100 * h["val_acc"] for h in r.history], "s--", label=f"{head} val")
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{cfg.model} on {cfg.dataset}: GAP head vs flatten + FC head")
    atomic.savefig(fig, path, dpi=110)
