"""Training checkpoints: written atomically, read with ``weights_only=True``.

A checkpoint holds only tensors, dicts, lists and scalars (no pickled classes), so loading one
can never run code: the model and optimizer ``state_dict``s, the scheduler state, the epoch,
every RNG state (python, numpy, torch, the augmentation generator, CUDA), the data order, the
training config and the preprocessing that ``netanatomy predict`` needs.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from netanatomy import atomic
from netanatomy.errors import UserError

FORMAT = "netanatomy.train/1"


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` (tagged with the format) atomically: a crash leaves the old file intact."""
    atomic.torch_save({"format": FORMAT, **state}, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a netanatomy training checkpoint; anything else is a one-line user error."""
    p = Path(path)
    state = atomic.torch_load(p, hint="train one with `netanatomy train MODEL`")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{str(p)!r} is not a netanatomy training checkpoint (written by `netanatomy train`)")
    return state


def load_model_state(model: nn.Module, state: dict[str, Any], path: str | Path) -> None:
    """Load weights, turning a mismatch (another architecture) into a user error."""
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else "")
        raise UserError(
            f"checkpoint {str(path)!r} does not fit model {state.get('model_name')!r}: {detail[:160]}"
        ) from None


def capture_rng(aug_generator: torch.Generator) -> dict[str, Any]:
    """Every RNG state a training step reads, as weights_only-safe types."""
    py_version, py_state, py_gauss = random.getstate()
    np_state: tuple[Any, ...] = tuple(np.random.get_state())
    rng: dict[str, Any] = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [str(np_state[0]), torch.from_numpy(np.asarray(np_state[1]).copy()), *map(float, np_state[2:])],
        "torch": torch.get_rng_state(),
        "augment": aug_generator.get_state(),
    }
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict[str, Any], aug_generator: torch.Generator) -> None:
    """Inverse of :func:`capture_rng`."""
    version, state, gauss = rng["python"]
    random.setstate((int(version), tuple(int(s) for s in state), gauss))
    name, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(rng["torch"])
    aug_generator.set_state(rng["augment"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
