"""DenseNet (Huang et al. 2017), DenseNet-BC in torchvision's layout.

Inside a dense block every layer reads the concatenation of all earlier maps and adds
``growth_rate`` new ones; transition layers between blocks halve the channels (compression
θ = 0.5) and the map size. Variants are data: growth rate, layers per block, stem width.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netanatomy.zoo.layers import kaiming_init_
from netanatomy.zoo.registry import ModelCard, Paper, model_table, register_model

__all__ = ["DenseNet", "densenet121"]


class _DenseLayer(nn.Module):
    """A "bottleneck" (the B of DenseNet-BC) composite function H: BN-ReLU-Conv1x1-BN-ReLU-Conv3x3.

    The 1x1 convolution first cuts the ever-growing input to ``bn_size * growth_rate`` maps
    (4k in §3), then the 3x3 one emits ``growth_rate`` (k) maps. BN-ReLU comes before each
    convolution: pre-activation, as in He et al.'s "Identity Mappings" (2016).
    """

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int, drop_rate: float) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(features, 1)
        x = self.conv1(self.relu1(self.norm1(x)))
        x = self.conv2(self.relu2(self.norm2(x)))
        if self.drop_rate > 0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x


class _DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; layer l reads x_0, ..., x_{l-1} concatenated (eq. 2)."""

    def __init__(
        self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int, drop_rate: float
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        # N x (C_in + num_layers * growth_rate) x H x W
        return torch.cat(features, 1)


class _Transition(nn.Sequential):
    """Between dense blocks: BN-ReLU-Conv1x1 (compression) then 2x2 average pooling (§3)."""

    def __init__(self, num_input_features: int, num_output_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """DenseNet-BC for ImageNet (Table 1).

    Args:
        growth_rate: k, the maps each dense layer adds.
        block_config: dense layers in each of the four blocks.
        num_init_features: output channels of the stem convolution (2k in the paper).
        bn_size: bottleneck width as a multiple of k (4).
        drop_rate: dropout after each dense layer (0: the paper drops only without augmentation).
        compression: θ, the fraction of channels a transition layer keeps.
        num_classes: outputs of the classifier.
        in_channels: channels of the input image.
    """

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        compression: float = 0.5,
        num_classes: int = 1000,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        # Stem: conv 7x7/2 and max-pool 3x3/2, as in ResNet.
        stem: OrderedDict[str, nn.Module] = OrderedDict(
            conv0=nn.Conv2d(in_channels, num_init_features, kernel_size=7, stride=2, padding=3, bias=False),
            norm0=nn.BatchNorm2d(num_init_features),
            relu0=nn.ReLU(inplace=True),
            pool0=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        self.features = nn.Sequential(stem)
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers, num_features, bn_size, growth_rate, drop_rate)
            self.features.add_module(f"denseblock{i + 1}", block)
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                out_features = int(num_features * compression)
                self.features.add_module(f"transition{i + 1}", _Transition(num_features, out_features))
                num_features = out_features
        # The last block's output is pre-activation; this BN (and the ReLU in forward) ends it.
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)
        # He init (fan_in) for the convolutions, BatchNorm as the identity, FC default weights.
        kaiming_init_(self, mode="fan_in")
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 3 x 224 x 224
        x = self.features(x)
        # N x 1024 x 7 x 7 (DenseNet-121; the block outputs were 256@56, 512@28, 1024@14, 1024@7
        # and the transitions halve them: 128@28, 256@14, 512@7)
        x = F.relu(x, inplace=True)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        # N x 1024
        x = self.classifier(x)
        # N x num_classes
        return x


MODELS = model_table(
    "densenet",
    paper=Paper("Huang, Liu, van der Maaten & Weinberger", 2017, "Densely Connected Convolutional Networks"),
    input_size=(1, 3, 224, 224),
    models={
        "densenet121": ModelCard("DenseNet-121 (BC): k=32, blocks (6, 12, 24, 16), 4k bottlenecks, compression 0.5",
                                 torchvision_name="densenet121"),
    },
)


@register_model
def densenet121(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> DenseNet:
    """DenseNet-121 (7,978,856 parameters for 1000 classes).

    Args:
        num_classes: outputs of the classifier.
        in_channels: channels of the input image.
        **kwargs: other :class:`DenseNet` arguments (e.g. ``drop_rate``).
    """
    return DenseNet(32, (6, 12, 24, 16), 64, num_classes=num_classes, in_channels=in_channels, **kwargs)
