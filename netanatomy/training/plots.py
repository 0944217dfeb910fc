"""PNG plots of training runs, of both trainers (matplotlib's object API: no pyplot state, no
display needed; written atomically)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from netanatomy import atomic
from netanatomy.errors import require_extra
from netanatomy.training.metrics import metrics_path, read_metrics


def plot_training_curves(history: Sequence[Mapping[str, float]], path: str | Path, title: str) -> None:
    """Loss and accuracy per epoch, training and validation, side by side."""
    require_extra("train", module="matplotlib")
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], "s--", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", yscale="log", title="loss")
    ax_acc.plot(epochs, [100 * h["train_acc"] for h in history], "o-", label="train")
    ax_acc.plot(epochs, [100 * h["val_acc"] for h in history], "s--", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    atomic.savefig(fig, path, dpi=110)


def plot_runs(
    runs: Mapping[str, Sequence[Mapping[str, float]]],
    step_losses: Mapping[str, Sequence[float]],
    path: str | Path,
    title: str,
    steps_per_epoch: int,
) -> None:
    """Several runs on shared axes: smoothed training loss per step, validation error per epoch.

    Plain nets are drawn dashed and residual ones solid, the convention of He et al. 2016 Fig. 6.
    """
    require_extra("train", module="matplotlib")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_loss, ax_err = fig.subplots(1, 2)
    # One colour per depth, so that plain-56 and ResNet-56 read as a pair.
    depths = sorted({name.lstrip("abcdefghijklmnopqrstuvwxyz_") for name in runs})
    color = {d: f"C{i}" for i, d in enumerate(depths)}

    def style(name: str) -> dict[str, str]:
        depth = name.lstrip("abcdefghijklmnopqrstuvwxyz_")
        return {"linestyle": "--" if name.startswith("plain") else "-", "color": color.get(depth, "k")}

    for name, losses in step_losses.items():
        ax_loss.plot([i / steps_per_epoch for i in range(len(losses))], _smooth(losses), label=name, **style(name))
    for name, hist in runs.items():
        ax_err.plot([h["epoch"] for h in hist], [100 * (1 - h["val_acc"]) for h in hist], marker="o", label=name,
                    **style(name))  # fmt: skip
    ax_loss.set(xlabel="epoch", ylabel="training loss (running mean)", yscale="log", title="training loss")
    ax_err.set(xlabel="epoch", ylabel="validation error (%)", yscale="log", title="validation error")
    for ax in (ax_loss, ax_err):
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.suptitle(title)
    atomic.savefig(fig, path, dpi=110)


def _smooth(values: Sequence[float], window: int = 20) -> list[float]:
    """Trailing running mean over ``window`` steps (raw per-step losses are too noisy to read)."""
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def plot_curves(
    curves: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    path: str | os.PathLike[str],
    *,
    xlabel: str,
    ylabel: str = "loss (nats/char)",
    title: str = "",
    hlines: Sequence[tuple[str, float]] = (),
) -> None:
    """Plot ``(label, xs, ys)`` curves plus labelled horizontal reference lines into ``path``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    for label, xs, ys in curves:
        ax.plot(xs, ys, label=label)
    for (label, y), style in zip(hlines, ("--", ":", "-.", (0, (5, 1)), (0, (1, 3)))):
        ax.axhline(y, linestyle=style, linewidth=1.2, color="gray", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    atomic.savefig(fig, path, dpi=120)


def plot_char_run(run_dir: str | os.PathLike[str]) -> Path:
    """``RUN_DIR/loss.png`` of a char-model run: training and validation loss against the step."""
    run = Path(run_dir)
    records = read_metrics(metrics_path(run, "jsonl"))
    train = [r for r in records if r["kind"] == "train"]
    val = [r for r in records if r["kind"] == "val"]
    out = run / "loss.png"
    plot_curves(
        [
            ("train (mean over log interval)", [r["step"] for r in train], [r["mean_loss"] for r in train]),
            ("validation", [r["step"] for r in val], [r["val_loss"] for r in val]),
        ],
        out,
        xlabel="step",
        title=run.name,
    )
    return out
