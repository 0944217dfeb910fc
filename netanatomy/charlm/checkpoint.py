"""Checkpoints of the character models: written atomically, loadable on any device.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (so it loads with
``torch.load(weights_only=True)``): the model config and vocabulary (so sampling rebuilds the
model exactly), the weights, and for resuming the optimizer and scheduler state, the step, the
RNG states, the batcher's position and the hidden state carried between chunks.

Loading always maps the tensors to the CPU first (``map_location="cpu"``) and moves the model
afterwards: a checkpoint written on a GPU samples on a machine without one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from netanatomy.atomic import torch_load, torch_save
from netanatomy.charlm.corpus import Vocabulary
from netanatomy.errors import UserError
from netanatomy.zoo.charrnn import CharRNN, build_char_model

FORMAT = "netanatomy-charlm/1"
#: The checkpoint's name inside a run directory.
CHECKPOINT_NAME = "ckpt.pt"


def checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or the checkpoint inside the run directory ``path``."""
    p = Path(path)
    return p / CHECKPOINT_NAME if p.is_dir() else p


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``state`` (tagged with the format) atomically: temp file, then rename."""
    torch_save({"format": FORMAT, **state}, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint (a file or a run directory) with all tensors on the CPU."""
    p = checkpoint_path(path)
    state = torch_load(p, hint="train one with `netanatomy charrnn train TEXT_FILE --run-dir RUN_DIR`")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{p} is not a netanatomy char-model checkpoint (format {FORMAT!r} expected)")
    return state


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[CharRNN, Vocabulary, dict[str, Any]]:
    """The trained model (in eval mode, on ``device``), its vocabulary and the raw checkpoint."""
    state = load_checkpoint(path)
    model = build_char_model(state["model_config"])
    model.load_state_dict(state["model"])
    model.to(device).eval()
    return model, Vocabulary.from_dict(state["vocab"]), state
