"""VGG (Simonyan & Zisserman 2015): stacks of 3x3 convolutions, configurations A, B, D and E.

A stack of two 3x3 convolutions sees 5x5, three see 7x7, with fewer parameters and more
non-linearities than one large kernel (§2.3); depth is the only thing the configurations vary,
so they are data (:data:`cfgs`) fed to one :func:`make_layers`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from netanatomy.zoo.layers import fc_classifier, kaiming_init_
from netanatomy.zoo.registry import ModelCard, Paper, model_table, register_model

__all__ = ["VGG", "cfgs", "make_layers"]

# Table 1 of the paper: an int is a 3x3 convolution (stride 1, padding 1) with that many output
# channels, "M" a 2x2 stride-2 max-pool. A = 11 weight layers, B = 13, D = 16, E = 19.
cfgs: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ],
}


def make_layers(cfg: list[int | str], batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """The convolutional part of a VGG configuration (conv [-> BatchNorm] -> ReLU, or max-pool)."""
    layers: list[nn.Module] = []
    channels = in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        assert isinstance(v, int)
        conv = nn.Conv2d(channels, v, kernel_size=3, padding=1)
        # BatchNorm (Ioffe & Szegedy 2015) came after VGG; the *_bn variants are torchvision's.
        layers += (
            [conv, nn.BatchNorm2d(v), nn.ReLU(inplace=True)] if batch_norm else [conv, nn.ReLU(inplace=True)]
        )
        channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG: ``features`` (from :func:`make_layers`), a 7x7 adaptive pool, three FC layers.

    Args:
        features: the convolutional part.
        num_classes: outputs of the last layer.
        dropout: dropout probability after each hidden fully connected layer (§3.1: 0.5).
    """

    def __init__(self, features: nn.Module, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        # The paper's training nets take 224x224 crops only (7x7 maps before fc6; at test time
        # it turns the FC layers into convolutions instead). torchvision's adaptive pool reaches
        # 7x7 from any input size and is the identity at 224.
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = fc_classifier(512 * 7 * 7, num_classes, dropout=dropout, dropout_first=False)
        # The paper trains A from N(0, 0.01) and initialises the deeper nets from it (§3.1, and
        # notes Glorot init works without pre-training); like torchvision we use He init for the
        # convolutions and N(0, 0.01) for the fully connected layers.
        kaiming_init_(self, mode="fan_out", linear_std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 3 x 224 x 224
        x = self.features(x)
        # N x 512 x 7 x 7
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        # N x 25088
        x = self.classifier(x)
        # N x num_classes
        return x


def _vgg(cfg: str, batch_norm: bool, num_classes: int, in_channels: int, **kwargs: Any) -> VGG:
    return VGG(make_layers(cfgs[cfg], batch_norm, in_channels), num_classes=num_classes, **kwargs)


# BatchNorm (Ioffe & Szegedy 2015) came after VGG: the *_bn variants are torchvision's.
MODELS = model_table(
    "vgg",
    paper=Paper("Simonyan & Zisserman", 2015, "Very Deep Convolutional Networks for Large-Scale Image Recognition"),
    input_size=(1, 3, 224, 224),
    models={
        "vgg11": ModelCard("VGG-11, configuration A of Table 1", torchvision_name="vgg11"),
        "vgg11_bn": ModelCard("VGG-11, configuration A of Table 1, with BatchNorm (not in the paper; torchvision)", torchvision_name="vgg11_bn"),
        "vgg13": ModelCard("VGG-13, configuration B of Table 1", torchvision_name="vgg13"),
        "vgg13_bn": ModelCard("VGG-13, configuration B of Table 1, with BatchNorm (not in the paper; torchvision)", torchvision_name="vgg13_bn"),
        "vgg16": ModelCard("VGG-16, configuration D of Table 1", torchvision_name="vgg16"),
        "vgg16_bn": ModelCard("VGG-16, configuration D of Table 1, with BatchNorm (not in the paper; torchvision)", torchvision_name="vgg16_bn"),
        "vgg19": ModelCard("VGG-19, configuration E of Table 1", torchvision_name="vgg19"),
        "vgg19_bn": ModelCard("VGG-19, configuration E of Table 1, with BatchNorm (not in the paper; torchvision)", torchvision_name="vgg19_bn"),
    },
)


# The public builders. Args of each: ``num_classes`` (outputs of the classifier), ``in_channels``
# (channels of the input image), ``**kwargs`` (other :class:`VGG` arguments: ``dropout``).


@register_model
def vgg11(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> VGG:
    """VGG-11 (configuration A)."""
    return _vgg("A", False, num_classes, in_channels, **kwargs)


@register_model
def vgg11_bn(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> VGG:
    """VGG-11 (configuration A) with BatchNorm."""
    return _vgg("A", True, num_classes, in_channels, **kwargs)


@register_model
def vgg13(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> VGG:
    """VGG-13 (configuration B)."""
    return _vgg("B", False, num_classes, in_channels, **kwargs)


@register_model
def vgg13_bn(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> VGG:
    """VGG-13 (configuration B) with BatchNorm."""
    return _vgg("B", True, num_classes, in_channels, **kwargs)


@register_model
def vgg16(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> VGG:
    """VGG-16 (configuration D)."""
    return _vgg("D", False, num_classes, in_channels, **kwargs)


@register_model
def vgg16_bn(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> VGG:
    """VGG-16 (configuration D) with BatchNorm."""
    return _vgg("D", True, num_classes, in_channels, **kwargs)


@register_model
def vgg19(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> VGG:
    """VGG-19 (configuration E)."""
    return _vgg("E", False, num_classes, in_channels, **kwargs)


@register_model
def vgg19_bn(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> VGG:
    """VGG-19 (configuration E) with BatchNorm."""
    return _vgg("E", True, num_classes, in_channels, **kwargs)
