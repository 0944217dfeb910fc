"""Classify image files with a trained checkpoint, using the preprocessing stored inside it.

The checkpoint records the input the network was trained on (channels, size, the training
split's mean and std); an image file is converted to that mode (grayscale or RGB), resized
(bilinear) and normalised the same way before the forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from netanatomy.errors import UserError, require_extra
from netanatomy.training import checkpoint as ckpt
from netanatomy.training.datasets import DatasetInfo, normalise, open_image


@dataclass(frozen=True)
class Prediction:
    """The top-k classes of one image, most probable first."""

    path: str
    classes: list[str]
    probabilities: list[float]


def load_classifier(path: str | Path) -> tuple[nn.Module, DatasetInfo]:
    """Rebuild the zoo model of a checkpoint, load its weights, and return it in eval mode."""
    from netanatomy.zoo.registry import create_model

    state = ckpt.load_checkpoint(path, kind=ckpt.IMAGE)
    name, kwargs = state.get("model_name"), state.get("model_kwargs")
    if not name or not kwargs:
        raise UserError(f"checkpoint {str(path)!r} holds a custom model, not a zoo model; predict cannot rebuild it")
    model = create_model(str(name), **kwargs)
    ckpt.load_model_state(model, state, path)
    return model.eval(), DatasetInfo.from_dict(state["preprocess"])


def preprocess(image_path: str | Path, info: DatasetInfo, invert: bool = False) -> torch.Tensor:
    """An image file as the 1 x C x H x W tensor the network was trained on.

    ``invert`` turns a dark-on-light drawing into the light-on-dark digits of MNIST.
    """
    require_extra("train", module="PIL")
    from PIL import Image

    img = open_image(image_path).convert("L" if info.in_channels == 1 else "RGB")
    h, w = info.image_size
    if img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    a = np.asarray(img, dtype=np.float32) / 255.0
    if invert:
        a = 1.0 - a
    x = torch.from_numpy(a[None] if a.ndim == 2 else a.transpose(2, 0, 1).copy())
    return normalise(x[None], info)


@torch.no_grad()
def predict(
    checkpoint: str | Path, images: list[str | Path], top_k: int = 5, invert: bool = False
) -> list[Prediction]:
    """Top-``top_k`` classes and softmax probabilities for each image file.

    Args:
        checkpoint: a ``.pt`` file written by ``netanatomy train``.
        images: image files (PNG, JPEG, ...); any size or mode, converted as in training.
        top_k: how many classes to report per image (at most the number of classes).
        invert: invert the pixel values first (dark digits on white paper, for MNIST models).
    """
    model, info = load_classifier(checkpoint)
    k = max(1, min(top_k, info.num_classes))
    batch = torch.cat([preprocess(p, info, invert) for p in images])
    probs = torch.softmax(model(batch).float(), dim=1)
    top = probs.topk(k, dim=1)
    return [
        Prediction(str(p), [info.classes[int(i)] for i in idx], [float(v) for v in val])
        for p, idx, val in zip(images, top.indices, top.values)
    ]
