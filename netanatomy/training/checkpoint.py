"""The one checkpoint format of both trainers: written atomically, read with ``weights_only=True``.

A checkpoint is a dict of tensors, dicts, lists, strings and numbers (no pickled classes), so
loading one can never run code. Every checkpoint carries

- ``format`` (:data:`FORMAT`), ``version`` (:data:`VERSION`) and ``kind`` (which trainer wrote
  it: :data:`IMAGE` or :data:`CHAR`);
- ``config``: the run's config dataclass as a dict (:mod:`netanatomy.training.config`);
- ``model``, ``optimizer``, ``scheduler``: the ``state_dict``s;
- ``step``: optimizer steps done; ``rng``: every RNG state (:func:`capture_rng`);
  ``data_position``: where the data stream stands, so that ``--resume`` continues exactly;
- what the trainer adds of its own (the image trainer: epoch, history, preprocessing; the char
  trainer: the model config, the vocabulary, the carried hidden state).

Version 1 were two formats, ``netanatomy.train/1`` and ``netanatomy-charlm/1``; they still load,
upgraded in memory by :func:`load_checkpoint` (their keys renamed to today's).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from netanatomy import atomic
from netanatomy.errors import UserError

FORMAT = "netanatomy.checkpoint"
#: Raised when a key changes meaning or disappears; older versions are upgraded on load.
VERSION = 2
IMAGE = "image-classifier"
CHAR = "char-lm"
#: How to make a checkpoint of each kind (said when the wrong one is given).
_MADE_BY = {IMAGE: "netanatomy train MODEL", CHAR: "netanatomy charrnn train TEXT"}
_LEGACY = {"netanatomy.train/1": IMAGE, "netanatomy-charlm/1": CHAR}


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str], kind: str) -> None:
    """Write ``state`` tagged with format, version and ``kind``, atomically: a crash while
    writing leaves the previous file intact."""
    if kind not in _MADE_BY:
        raise ValueError(f"unknown checkpoint kind {kind!r}")
    atomic.torch_save({"format": FORMAT, "version": VERSION, "kind": kind, **state}, path)


def load_checkpoint(path: str | os.PathLike[str], kind: str | None = None) -> dict[str, Any]:
    """Read a netanatomy checkpoint onto the CPU, upgraded to the current version.

    Args:
        path: the file.
        kind: the trainer it must come from (:data:`IMAGE`, :data:`CHAR`); None accepts both.

    Raises:
        UserError: a missing, corrupt or foreign file, one of another kind, or one written by a
            newer netanatomy (one line naming the file and the way out).
    """
    p = Path(path)
    hint = f"train one with `{_MADE_BY[kind]}`" if kind else "train one with `netanatomy train` or `netanatomy charrnn train`"
    state = atomic.torch_load(p, hint=hint)
    if not isinstance(state, dict):
        raise UserError(f"{str(p)!r} is not a netanatomy training checkpoint; {hint}")
    fmt = state.get("format")
    if fmt in _LEGACY:
        state = _upgrade_v1(state, _LEGACY[fmt])
    elif fmt != FORMAT:
        raise UserError(f"{str(p)!r} is not a netanatomy training checkpoint; {hint}")
    version = state.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise UserError(
            f"{str(p)!r} is a checkpoint of version {version!r}, newer than this netanatomy reads "
            f"(up to {VERSION}); upgrade netanatomy to load it"
        )
    if kind is not None and state.get("kind") != kind:
        raise UserError(
            f"{str(p)!r} is a checkpoint of kind {state.get('kind')} (from `{_MADE_BY.get(str(state.get('kind')), '?')}`), "
            f"not {kind}; {hint}"
        )
    return state


def _upgrade_v1(state: dict[str, Any], kind: str) -> dict[str, Any]:
    """Today's keys for a version-1 checkpoint (``netanatomy.train/1`` or ``netanatomy-charlm/1``)."""
    new = {k: v for k, v in state.items() if k != "format"}
    new.update(format=FORMAT, version=VERSION, kind=kind)
    if kind == IMAGE:
        new["data_position"] = new.pop("data_order", {})
        # v1 counted epochs only; the step follows from the scheduler's counter (one per step).
        new.setdefault("step", int(new.get("scheduler", {}).get("last_epoch", 0)))
        return new
    new["config"] = dict(new.pop("train_config", {}))
    new["data_position"] = new.pop("batches", {})
    mc = new.get("model_config", {})
    # v1's train config held no model: take it from the model config, so that config and
    # weights agree (the seed then was 1337 unless given, and is stored, so it stays exact).
    new["config"].update({k: mc[k] for k in ("hidden_size", "num_layers", "dropout", "embedding_dim") if k in mc})
    if "cell" in mc:
        new["config"]["model"] = f"char_{mc['cell']}"
    return new


def load_model_state(model: nn.Module, state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Load weights, turning a mismatch (another architecture) into a user error."""
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else "")
        name = state.get("model_name") or state.get("config", {}).get("model")
        raise UserError(f"checkpoint {str(path)!r} does not fit model {name!r}: {detail[:160]}") from None


def capture_rng(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Every RNG state a training step may read (python, numpy, torch, CUDA, and the trainer's
    own ``generators`` by name), as weights_only-safe types."""
    py_version, py_state, py_gauss = random.getstate()
    np_state: tuple[Any, ...] = tuple(np.random.get_state())
    rng: dict[str, Any] = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [str(np_state[0]), torch.from_numpy(np.asarray(np_state[1]).copy()), *map(float, np_state[2:])],
        "torch": torch.get_rng_state(),
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
    }
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict[str, Any], generators: dict[str, torch.Generator] | None = None) -> None:
    """Inverse of :func:`capture_rng`. States a version-1 checkpoint lacks (the char trainer's
    had only torch and CUDA) are left as they are; v1's ``augment`` is the generator of that name."""
    if "python" in rng:
        version, state, gauss = rng["python"]
        random.setstate((int(version), tuple(int(s) for s in state), gauss))
    if "numpy" in rng:
        name, keys, pos, has_gauss, cached = rng["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(rng["torch"])
    saved = dict(rng.get("generators", {}))
    if "augment" in rng:
        saved.setdefault("augment", rng["augment"])
    for name, g in (generators or {}).items():
        if name in saved:
            g.set_state(saved[name])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
