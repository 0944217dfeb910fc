"""CIFAR-10 ResNets and their plain counterparts (He et al. 2016, §4.2).

6n+2 weighted layers: a 3x3 convolution with 16 filters, three stages of 2n 3x3 convolutions
with 16, 32 and 64 filters on 32x32, 16x16 and 8x8 maps (the first convolution of stages 2 and
3 has stride 2), then global average pooling and a 10-way fully connected layer. The ResNets pair
the 3x3 convolutions with shortcuts (3n of them); the plain nets are the same stacks without
shortcuts, the paper's demonstration that depth alone makes training harder (Fig. 6).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from netanatomy.errors import UserError
from netanatomy.zoo.layers import conv1x1, conv3x3, kaiming_init_
from netanatomy.zoo.registry import ModelCard, Paper, model_table, register_model
from netanatomy.zoo.resnet import BasicBlock

__all__ = ["CifarResNet", "PlainBlock", "ShortcutA"]

_PAPER = Paper("He, Zhang, Ren & Sun", 2016, "Deep Residual Learning for Image Recognition")

Shortcut = Literal["A", "B", "none"]


class ShortcutA(nn.Module):
    """Option A of §3.3: identity with stride-2 subsampling and zero-padded new channels.

    Parameter-free: ``x[:, :, ::2, ::2]`` keeps every other pixel (the stride-2 of the block's
    first convolution) and the channels the stage adds are zeros. The paper uses it for all its
    CIFAR-10 ResNets ("we use identity shortcuts in all cases (i.e., option A)", §4.2), so they
    have exactly as many parameters as the plain nets.
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        if out_planes < in_planes:
            raise ValueError("option A shortcuts can only add channels")
        self.stride = stride
        self.extra_channels = out_planes - in_planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        # F.pad's last pair pads dimension 1 (channels): the new channels go after the old ones.
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


class PlainBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and ReLU and no shortcut: the plain nets' unit.

    The same layers as :class:`~netanatomy.zoo.resnet.BasicBlock`, under the same names, so a
    plain net and its ResNet differ by the shortcuts alone.
    """

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))


class CifarResNet(nn.Module):
    """A 6n+2-layer CIFAR-10 network of §4.2, residual or plain.

    Args:
        n: blocks per stage (n = 3, 5, 7, 9, 18 for 20, 32, 44, 56, 110 layers).
        num_classes: outputs of the classifier.
        in_channels: channels of the input image.
        shortcut: "A" (zero-padding identity, the paper's CIFAR choice), "B" (1x1 projection +
            BatchNorm where shapes change, identity elsewhere) or "none" (the plain net).
    """

    def __init__(self, n: int, num_classes: int = 10, in_channels: int = 3, shortcut: Shortcut = "A") -> None:
        super().__init__()
        if shortcut not in ("A", "B", "none"):
            raise UserError(
                f"unknown shortcut {shortcut!r}: use 'A' (zero-padding), 'B' (projection) or 'none' (plain)"
            )
        self.shortcut = shortcut
        self.inplanes = 16
        self.conv1 = conv3x3(in_channels, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(16, n, stride=1)
        self.layer2 = self._make_layer(32, n, stride=2)
        self.layer3 = self._make_layer(64, n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        # "We use the weight initialization in [13]" (§4.2): He et al. 2015.
        kaiming_init_(self, mode="fan_out")

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i in range(blocks):
            s = stride if i == 0 else 1
            if self.shortcut == "none":
                layers.append(PlainBlock(self.inplanes, planes, s))
            else:
                layers.append(BasicBlock(self.inplanes, planes, s, self._downsample(planes, s)))
            self.inplanes = planes
        return nn.Sequential(*layers)

    def _downsample(self, planes: int, stride: int) -> nn.Module | None:
        """The shortcut of a block whose shape changes; None (identity) elsewhere."""
        if stride == 1 and self.inplanes == planes:
            return None
        if self.shortcut == "A":
            return ShortcutA(self.inplanes, planes, stride)
        return nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 3 x 32 x 32
        x = self.relu(self.bn1(self.conv1(x)))
        # N x 16 x 32 x 32
        x = self.layer1(x)
        # N x 16 x 32 x 32
        x = self.layer2(x)
        # N x 32 x 16 x 16
        x = self.layer3(x)
        # N x 64 x 8 x 8
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        # N x 64
        x = self.fc(x)
        # N x num_classes
        return x


def _cifar_resnet(n: int, shortcut: Shortcut, num_classes: int, in_channels: int) -> CifarResNet:
    return CifarResNet(n, num_classes=num_classes, in_channels=in_channels, shortcut=shortcut)


# Parameter counts of Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
MODELS = model_table(
    "cifar_resnet",
    paper=_PAPER,
    input_size=(1, 3, 32, 32),
    models={
        "resnet20": ModelCard("CIFAR-10 ResNet-20 (§4.2, n=3), option A (parameter-free zero-padding) shortcuts"),
        "resnet32": ModelCard("CIFAR-10 ResNet-32 (§4.2, n=5), option A (parameter-free zero-padding) shortcuts"),
        "resnet44": ModelCard("CIFAR-10 ResNet-44 (§4.2, n=7), option A (parameter-free zero-padding) shortcuts"),
        "resnet56": ModelCard("CIFAR-10 ResNet-56 (§4.2, n=9), option A (parameter-free zero-padding) shortcuts"),
        "resnet110": ModelCard("CIFAR-10 ResNet-110 (§4.2, n=18), option A (parameter-free zero-padding) shortcuts"),
        "plain20": ModelCard("CIFAR-10 plain-20 (§4.2, n=3): ResNet-20 without its shortcuts"),
        "plain32": ModelCard("CIFAR-10 plain-32 (§4.2, n=5): ResNet-32 without its shortcuts"),
        "plain44": ModelCard("CIFAR-10 plain-44 (§4.2, n=7): ResNet-44 without its shortcuts"),
        "plain56": ModelCard("CIFAR-10 plain-56 (§4.2, n=9): ResNet-56 without its shortcuts"),
        "plain110": ModelCard("CIFAR-10 plain-110 (§4.2, n=18): ResNet-110 without its shortcuts"),
    },
)


# The public builders. Args of each: ``num_classes`` (outputs of the classifier), ``in_channels``
# (channels of the input image); the ResNets also take ``shortcut`` ("A", the default, or "B").


@register_model
def resnet20(*, num_classes: int = 10, in_channels: int = 3, shortcut: Shortcut = "A") -> CifarResNet:
    """CIFAR-10 ResNet-20 (n=3)."""
    return _cifar_resnet(3, shortcut, num_classes, in_channels)


@register_model
def resnet32(*, num_classes: int = 10, in_channels: int = 3, shortcut: Shortcut = "A") -> CifarResNet:
    """CIFAR-10 ResNet-32 (n=5)."""
    return _cifar_resnet(5, shortcut, num_classes, in_channels)


@register_model
def resnet44(*, num_classes: int = 10, in_channels: int = 3, shortcut: Shortcut = "A") -> CifarResNet:
    """CIFAR-10 ResNet-44 (n=7)."""
    return _cifar_resnet(7, shortcut, num_classes, in_channels)


@register_model
def resnet56(*, num_classes: int = 10, in_channels: int = 3, shortcut: Shortcut = "A") -> CifarResNet:
    """CIFAR-10 ResNet-56 (n=9)."""
    return _cifar_resnet(9, shortcut, num_classes, in_channels)


@register_model
def resnet110(*, num_classes: int = 10, in_channels: int = 3, shortcut: Shortcut = "A") -> CifarResNet:
    """CIFAR-10 ResNet-110 (n=18)."""
    return _cifar_resnet(18, shortcut, num_classes, in_channels)


@register_model
def plain20(*, num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """CIFAR-10 plain-20 (n=3)."""
    return _cifar_resnet(3, "none", num_classes, in_channels)


@register_model
def plain32(*, num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """CIFAR-10 plain-32 (n=5)."""
    return _cifar_resnet(5, "none", num_classes, in_channels)


@register_model
def plain44(*, num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """CIFAR-10 plain-44 (n=7)."""
    return _cifar_resnet(7, "none", num_classes, in_channels)


@register_model
def plain56(*, num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """CIFAR-10 plain-56 (n=9)."""
    return _cifar_resnet(9, "none", num_classes, in_channels)


@register_model
def plain110(*, num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """CIFAR-10 plain-110 (n=18)."""
    return _cifar_resnet(18, "none", num_classes, in_channels)
