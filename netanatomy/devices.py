"""Choosing the device to train or sample on."""

from __future__ import annotations

import torch

from netanatomy.errors import UserError


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else the CPU; an unusable device is the user's error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for but CUDA is not available here; use --device cpu")
    return device


def set_threads(threads: int | None) -> None:
    """``--threads N``: CPU threads for torch's intra-op pool; None keeps torch's own choice."""
    if threads is None:
        return
    if threads < 1:
        raise UserError(f"--threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)
