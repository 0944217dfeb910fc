"""ImageNet ResNets (He et al. 2016), Wide ResNets and ResNeXt, in torchvision's layout.

A stem, four stages of residual blocks (:class:`BasicBlock` or :class:`Bottleneck`), global
average pooling and one fully connected layer. Depth, width and cardinality are data: the block
counts of Table 1 and the ``groups`` / ``width_per_group`` of the bottleneck's 3x3 convolution.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from netanatomy.errors import UserError
from netanatomy.zoo.layers import conv1x1, conv3x3, kaiming_init_
from netanatomy.zoo.registry import ModelCard, Paper, model_table, register_model

__all__ = ["BasicBlock", "Bottleneck", "ResNet"]

_PAPER = Paper("He, Zhang, Ren & Sun", 2016, "Deep Residual Learning for Image Recognition")


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and an identity shortcut: y = relu(F(x) + x) (Fig. 2 / Fig. 5 left).

    Args:
        inplanes: input channels.
        planes: channels of both convolutions (and of the output: ``expansion`` is 1).
        stride: stride of the first convolution, 2 where a stage halves the map.
        downsample: the shortcut where shapes change (1x1 projection, option B of §3.3; or any
            module mapping the input to the output's shape); None for the identity.
    """

    expansion: ClassVar[int] = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), plus the shortcut (Fig. 5 right).

    Deviation kept from torchvision ("ResNet v1.5"): the stride-2 sits on the 3x3 convolution,
    where the paper puts it on the first 1x1, which skipped three quarters of the input; v1.5
    is slightly more accurate and is what torchvision's weights and parameter counts are for.
    ``groups`` > 1 makes the 3x3 a grouped convolution, ResNeXt's aggregated transform (Xie et
    al. 2017); ``base_width`` > 64 widens it, Wide ResNet's factor (Zagoruyko & Komodakis 2016).

    Args:
        inplanes: input channels.
        planes: channels before expansion; the output has ``planes * 4``.
        stride: stride of the 3x3 convolution.
        downsample: the shortcut where shapes change; None for the identity.
        groups: groups of the 3x3 convolution (ResNeXt's cardinality).
        base_width: width of each group at ``planes`` = 64.
    """

    expansion: ClassVar[int] = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """The ImageNet ResNet of Table 1.

    Args:
        block: :class:`BasicBlock` (18, 34 layers) or :class:`Bottleneck` (50 and deeper).
        layers: blocks per stage, e.g. ``[3, 4, 6, 3]``.
        num_classes: outputs of the classifier.
        in_channels: channels of the input image.
        groups: groups of the bottleneck's 3x3 convolutions (ResNeXt).
        width_per_group: width of each group (64 for ResNet, 128 for Wide ResNet-50-2).
        zero_init_residual: start each block's last BatchNorm at zero, so every block begins
            as the identity (Goyal et al. 2017); off by default, as in the paper.
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        groups: int = 1,
        width_per_group: int = 64,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if block is BasicBlock and (groups != 1 or width_per_group != 64):
            raise UserError(
                "groups and width_per_group apply to Bottleneck ResNets (resnet50 and deeper), not BasicBlock ones"
            )
        self.inplanes = 64
        self.groups = groups
        self.base_width = width_per_group
        # Stem: conv 7x7/2 and max-pool 3x3/2 ("conv1" and the start of "conv2_x" in Table 1).
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        # He init ("as in [13]", §3.4) for the convolutions, BatchNorm as the identity; the FC
        # layer keeps PyTorch's default, as in torchvision.
        kaiming_init_(self, mode="fan_out")
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _make_layer(
        self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int, stride: int = 1
    ) -> nn.Sequential:
        """One stage: ``blocks`` blocks, the first one changing the stride and/or the width."""
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            # Projection shortcut (option B of §3.3) wherever the shape changes.
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [self._block(block, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [self._block(block, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _block(
        self,
        block: type[BasicBlock | Bottleneck],
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
    ) -> nn.Module:
        if block is Bottleneck:
            return Bottleneck(self.inplanes, planes, stride, downsample, self.groups, self.base_width)
        return BasicBlock(self.inplanes, planes, stride, downsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 3 x 224 x 224
        x = self.relu(self.bn1(self.conv1(x)))
        # N x 64 x 112 x 112
        x = self.maxpool(x)
        # N x 64 x 56 x 56
        x = self.layer1(x)
        # N x 64e x 56 x 56   (e = block.expansion: 1 for BasicBlock, 4 for Bottleneck)
        x = self.layer2(x)
        # N x 128e x 28 x 28
        x = self.layer3(x)
        # N x 256e x 14 x 14
        x = self.layer4(x)
        # N x 512e x 7 x 7
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        # N x 512e
        x = self.fc(x)
        # N x num_classes
        return x


def _resnet(
    block: type[BasicBlock | Bottleneck], layers: list[int], num_classes: int, in_channels: int, **kwargs: Any
) -> ResNet:
    return ResNet(block, layers, num_classes=num_classes, in_channels=in_channels, **kwargs)


MODELS = model_table(
    "resnet",
    paper=_PAPER,
    input_size=(1, 3, 224, 224),
    models={
        "resnet18": ModelCard("ResNet-18: BasicBlocks [2, 2, 2, 2], projection shortcuts where shapes change",
                              torchvision_name="resnet18"),
        "resnet34": ModelCard("ResNet-34: BasicBlocks [3, 4, 6, 3], projection shortcuts where shapes change",
                              torchvision_name="resnet34"),
        "resnet50": ModelCard("ResNet-50: Bottlenecks [3, 4, 6, 3], torchvision's v1.5 (stride on the 3x3)",
                              torchvision_name="resnet50"),
        "resnet101": ModelCard("ResNet-101: Bottlenecks [3, 4, 23, 3], torchvision's v1.5 (stride on the 3x3)",
                               torchvision_name="resnet101"),
        "resnet152": ModelCard("ResNet-152: Bottlenecks [3, 8, 36, 3], torchvision's v1.5 (stride on the 3x3)",
                               torchvision_name="resnet152"),
        "wide_resnet50_2": ModelCard("Wide ResNet-50-2: ResNet-50 with bottleneck 3x3 convolutions twice as wide",
                                     torchvision_name="wide_resnet50_2",
                                     paper=Paper("Zagoruyko & Komodakis", 2016, "Wide Residual Networks")),
        "resnext50_32x4d": ModelCard("ResNeXt-50 (32x4d): ResNet-50 with 32-group 3x3 convolutions, 4 channels per group",
                                     torchvision_name="resnext50_32x4d",
                                     paper=Paper("Xie, Girshick, Dollár, Tu & He", 2017,
                                                 "Aggregated Residual Transformations for Deep Neural Networks")),
    },
)


# The public builders. Args of each: ``num_classes`` (outputs of the classifier), ``in_channels``
# (channels of the input image), ``**kwargs`` (other :class:`ResNet` arguments, e.g.
# ``zero_init_residual``).


@register_model
def resnet18(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-18 (Table 1)."""
    return _resnet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, **kwargs)


@register_model
def resnet34(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-34 (Table 1)."""
    return _resnet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, **kwargs)


@register_model
def resnet50(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-50 (Table 1), v1.5."""
    return _resnet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, **kwargs)


@register_model
def resnet101(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-101 (Table 1), v1.5."""
    return _resnet(Bottleneck, [3, 4, 23, 3], num_classes, in_channels, **kwargs)


@register_model
def resnet152(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> ResNet:
    """ResNet-152 (Table 1), v1.5."""
    return _resnet(Bottleneck, [3, 8, 36, 3], num_classes, in_channels, **kwargs)


@register_model
def wide_resnet50_2(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> ResNet:
    """Wide ResNet-50-2: the bottlenecks' inner width doubled (torchvision's ImageNet variant)."""
    return _resnet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, width_per_group=128, **kwargs)


@register_model
def resnext50_32x4d(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> ResNet:
    """ResNeXt-50 32x4d: cardinality 32, bottleneck width 4 per group (Table 1 of Xie et al.)."""
    return _resnet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, groups=32, width_per_group=4, **kwargs)
