"""PNG plots of training runs (matplotlib's object API: no pyplot state, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from netanatomy import atomic
from netanatomy.errors import require_extra


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
