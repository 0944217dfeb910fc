"""The char model's side of a checkpoint: where it lies in a run directory, and the model back.

The format itself (tags, version, atomic writes, ``weights_only`` loading, RNG states) is the
training core's, :mod:`netanatomy.training.checkpoint`, of kind ``char-lm``. What a char
checkpoint adds: the model config and vocabulary (so sampling rebuilds the model exactly), and
for resuming the hidden state carried between chunks. Loading maps every tensor to the CPU
first and moves the model afterwards: a checkpoint written on a GPU samples on a machine
without one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from netanatomy.charlm.corpus import Vocabulary
from netanatomy.training import checkpoint as core
from netanatomy.zoo.charrnn import CharRNN, build_char_model

#: The checkpoint's name inside a run directory.
CHECKPOINT_NAME = "ckpt.pt"


def checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or the checkpoint inside the run directory ``path``."""
    p = Path(path)
    return p / CHECKPOINT_NAME if p.is_dir() else p


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a char-model checkpoint (kind ``char-lm``) atomically."""
    core.save_checkpoint(state, path, core.CHAR)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a char-model checkpoint (a file or a run directory) with all tensors on the CPU;
    anything else (another kind, a foreign or corrupt file) is a one-line user error."""
    return core.load_checkpoint(checkpoint_path(path), kind=core.CHAR)


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[CharRNN, Vocabulary, dict[str, Any]]:
    """The trained model (in eval mode, on ``device``), its vocabulary and the raw checkpoint."""
    state = load_checkpoint(path)
    model = build_char_model(state["model_config"])
    core.load_model_state(model, state, checkpoint_path(path))
    model.to(device).eval()
    return model, Vocabulary.from_dict(state["vocab"]), state
