"""The learning-rate schedule of both trainers: a per-step factor of the base rate (a ``LambdaLR``).

Per *step*, not per epoch, so that warm-up and cosine are smooth even with few epochs, and the
scheduler's state is one counter (which checkpoints store and ``--resume`` restores).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from netanatomy.training.config import SCHEDULES

if TYPE_CHECKING:
    import torch

__all__ = ["SCHEDULES", "build_scheduler", "lr_factor"]


def lr_factor(
    step: int,
    total_steps: int,
    schedule: str,
    warmup_steps: int = 0,
    milestones: Sequence[float] = (0.5, 0.75),
    gamma: float = 0.1,
    min_factor: float = 0.0,
) -> float:
    """The multiplier of the base learning rate at ``step`` (0-based).

    - warm-up: linear from 1/warmup_steps up to 1 (Goyal et al. 2017, "gradual warmup"; He et
      al. 2016 §4.2 warm ResNet-110 up at 0.01 before going to 0.1 for the same reason: a deep
      net at full rate diverges in its first steps);
    - ``cosine``: m + (1 - m) 0.5 (1 + cos(pi t)), t the fraction of the post-warm-up steps
      done and m = ``min_factor`` the floor reached at the end (Loshchilov & Hutter 2017, SGDR
      without restarts, their eta_min);
    - ``step``: times ``gamma`` at each milestone, a fraction of all steps (He et al. 2016 §4.2
      divide by 10 at 32k and 48k of 64k iterations: milestones 0.5 and 0.75);
    - ``constant``: 1.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "cosine":
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    if schedule == "step":
        return float(gamma ** sum(step >= m * total_steps for m in milestones))
    if schedule == "constant":
        return 1.0
    raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    schedule: str,
    warmup_steps: int = 0,
    milestones: Sequence[float] = (0.5, 0.75),
    gamma: float = 0.1,
    min_factor: float = 0.0,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` stepping :func:`lr_factor` once per optimizer step."""
    import torch

    ms = tuple(milestones)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total_steps, schedule, warmup_steps, ms, gamma, min_factor)
    )
