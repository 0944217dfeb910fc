"""Network in Network (Lin, Chen & Yan 2014): mlpconv layers and global average pooling.

The CIFAR-10 model of the paper (§4.2, and the Caffe model the authors released): three mlpconv
layers, max/average pooling and dropout between them, and global average pooling of the last
mlpconv's ``num_classes`` maps in place of fully connected layers (§3.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from netanatomy.zoo.layers import kaiming_init_
from netanatomy.zoo.registry import ModelCard, Paper, model_table, register_model

__all__ = ["NIN", "MLPConv", "nin"]


class MLPConv(nn.Module):
    """An mlpconv layer: a k x k convolution followed by the "micro network", all with ReLUs.

    The paper (§3.1, eq. 2) slides a small multilayer perceptron over the input instead of a
    linear filter. An MLP applied at every position with the same weights, reading the C channels
    of one pixel, is exactly a 1x1 convolution ("cascaded cross channel parametric pooling"), so
    the micro network is a stack of 1x1 convolutions after the ordinary k x k one.

    Args:
        in_channels: channels of the input.
        channels: output channels of the k x k convolution then of each 1x1 convolution,
            e.g. ``(192, 160, 96)``.
        kernel_size: size of the first convolution ('same' padding, stride 1).
    """

    def __init__(self, in_channels: int, channels: Sequence[int], kernel_size: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for i, out in enumerate(channels):
            k = kernel_size if i == 0 else 1
            # Every layer, the last included, has its ReLU (eq. 2; the authors' Caffe model
            # too), so the final mlpconv's class maps are non-negative before global pooling.
            layers += [nn.Conv2d(width, out, kernel_size=k, padding=k // 2), nn.ReLU(inplace=True)]
            width = out
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


# The CIFAR-10 model as data: (channels of the mlpconv, kernel size of its first convolution).
_CIFAR_MLPCONVS: tuple[tuple[tuple[int, ...], int], ...] = (
    ((192, 160, 96), 5),
    ((192, 192, 192), 5),
    ((192, 192), 3),  # + num_classes: the last 1x1 convolution emits one map per class
)


class NIN(nn.Module):
    """Network in Network for 32x32 images (CIFAR-10).

    Args:
        num_classes: maps of the last mlpconv layer, averaged into the class scores.
        in_channels: channels of the input image.
        dropout: dropout probability after the first two mlpconv layers (§4.1: "dropout is
            applied on the outputs of all but the last mlpconv layers").
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        (c1, k1), (c2, k2), (c3, k3) = _CIFAR_MLPCONVS
        self.mlpconv1 = MLPConv(in_channels, c1, k1)
        # ceil_mode reproduces Caffe's pooling arithmetic of the released model: 32 -> 16 -> 8.
        self.pool1 = nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)
        self.drop1 = nn.Dropout(dropout)
        self.mlpconv2 = MLPConv(c1[-1], c2, k2)
        self.pool2 = nn.AvgPool2d(kernel_size=3, stride=2, ceil_mode=True)
        self.drop2 = nn.Dropout(dropout)
        self.mlpconv3 = MLPConv(c2[-1], (*c3, num_classes), k3)
        # Global average pooling (§3.2): each class map is averaged into that class's score,
        # which adds no parameters and acts as a structural regulariser.
        self.gap = nn.AdaptiveAvgPool2d(1)
        # The paper does not state its initialisation (its Caffe model uses small Gaussians
        # tuned per layer); He init trains this 9-layer ReLU net from scratch without tuning.
        kaiming_init_(self, mode="fan_in")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 3 x 32 x 32
        x = self.mlpconv1(x)
        # N x 96 x 32 x 32
        x = self.drop1(self.pool1(x))
        # N x 96 x 16 x 16
        x = self.mlpconv2(x)
        # N x 192 x 16 x 16
        x = self.drop2(self.pool2(x))
        # N x 192 x 8 x 8
        x = self.mlpconv3(x)
        # N x num_classes x 8 x 8
        x = self.gap(x)
        # N x num_classes x 1 x 1
        return torch.flatten(x, 1)


MODELS = model_table(
    "nin",
    paper=Paper("Lin, Chen & Yan", 2014, "Network In Network"),
    input_size=(1, 3, 32, 32),
    models={
        "nin": ModelCard("NiN CIFAR-10 model: three mlpconv layers (1x1 convs as the micro network), global average pooling, no FC"),
    },
)


@register_model
def nin(*, num_classes: int = 10, in_channels: int = 3, **kwargs: Any) -> NIN:
    """Network in Network, the paper's CIFAR-10 model.

    Args:
        num_classes: number of classes (maps of the last mlpconv layer).
        in_channels: channels of the input image.
        **kwargs: other :class:`NIN` arguments (``dropout``).
    """
    return NIN(num_classes=num_classes, in_channels=in_channels, **kwargs)
