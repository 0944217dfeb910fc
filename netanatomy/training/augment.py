"""The standard augmentations of the CIFAR papers, on whole batches of in-memory tensors.

He et al. 2016, §4.2: "4 pixels are padded on each side, and a 32x32 crop is randomly sampled
from the padded image or its horizontal flip". Batched tensor ops (no per-image Python loop)
keep the trainer's throughput close to a bare loop; a dedicated ``torch.Generator`` makes them
reproducible and lets a checkpoint store their state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Augment:
    """Random crop with ``padding`` pixels of padding, and an optional horizontal flip."""

    padding: int = 4
    hflip: bool = True

    def __call__(self, x: torch.Tensor, generator: torch.Generator, fill: torch.Tensor) -> torch.Tensor:
        """Augment a batch N x C x H x W.

        ``fill`` (C values) is what padding shows: the normalised value of a black pixel, so
        that on MNIST the padding looks like the digits' background, not like mid-grey.
        """
        if self.padding > 0:
            x = random_crop(x, self.padding, generator, fill)
        if self.hflip:
            flip = torch.rand(x.shape[0], generator=generator, device=generator.device) < 0.5
            x = torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(3), x)
        return x


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator, fill: torch.Tensor) -> torch.Tensor:
    """Pad by ``padding`` on each side with ``fill`` and crop back to H x W at a random offset."""
    n, c, h, w = x.shape
    padded = fill.to(x).view(1, c, 1, 1).expand(n, c, h + 2 * padding, w + 2 * padding).clone()
    padded[:, :, padding : padding + h, padding : padding + w] = x
    dev = generator.device
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=dev).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=dev).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # N x 1 x H x 1
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # N x 1 x 1 x W
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]
