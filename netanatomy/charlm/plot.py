"""Loss curves (matplotlib, Agg backend), written atomically."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netanatomy.atomic import savefig
from netanatomy.errors import require_extra


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl``."""
    p = Path(path)
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


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
    matplotlib = require_extra("train", module="matplotlib")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    try:
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
        fig.tight_layout()
        savefig(fig, path, dpi=120)
    finally:
        plt.close(fig)


def plot_run(run_dir: str | os.PathLike[str]) -> Path:
    """``RUN_DIR/loss.png``: training and validation loss against the step."""
    run = Path(run_dir)
    records = read_metrics(run / "metrics.jsonl")
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
