"""AlexNet (Krizhevsky et al. 2012) and ZFNet (Zeiler & Fergus 2013), the first ImageNet winners.

Both are five convolutions, three max-pools and three fully connected layers; they differ only in
the convolution stack, kept as data in :data:`cfgs`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from netanatomy.zoo.layers import fc_classifier
from netanatomy.zoo.registry import ModelCard, Paper, model_table, register_model

__all__ = ["AlexNet", "alexnet", "cfgs", "zfnet"]


class Conv(NamedTuple):
    """A convolution (followed by a ReLU) of the feature stack."""

    out_channels: int
    kernel_size: int
    stride: int
    padding: int


class MaxPool(NamedTuple):
    """A max-pool of the feature stack; ``ceil_mode`` rounds the output size up."""

    kernel_size: int
    stride: int
    ceil_mode: bool = False


# fmt: off
cfgs: dict[str, list[Conv | MaxPool]] = {
    # torchvision's AlexNet: one tower of 64/192/384/256/256 channels, the layout of Krizhevsky's
    # "One weird trick" (2014) rather than the 2012 paper's 96/256/384/384/256 split over two
    # GPUs; the paper's local response normalisation is left out (VGG §4.1 found it does not help).
    "alexnet": [
        Conv(64, 11, 4, 2), MaxPool(3, 2),
        Conv(192, 5, 1, 2), MaxPool(3, 2),
        Conv(384, 3, 1, 1), Conv(256, 3, 1, 1), Conv(256, 3, 1, 1), MaxPool(3, 2),
    ],
    # ZFNet, Zeiler & Fergus 2013 Fig. 3: 7x7 stride-2 first conv (AlexNet's 11x11 stride-4 one
    # left "dead" filters and aliasing, §4.1), 5x5 stride-2 second conv and 3x3 stride-2 pools.
    # conv3-5 have 512/1024/512 channels: the bigger model of Table 2 ("layers 3,4,5: 512, 1024,
    # 512 maps", the one CS231n Lecture 9 shows) -- Fig. 3 itself draws 384/384/256. The padding
    # (1 on conv1) and ceil_mode on the first two pools reproduce Fig. 3's map sizes
    # 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6 for a 224x224 input; the contrast normalisation
    # after the first two pools is left out, as torchvision leaves out AlexNet's LRN.
    "zfnet": [
        Conv(96, 7, 2, 1), MaxPool(3, 2, ceil_mode=True),
        Conv(256, 5, 2, 0), MaxPool(3, 2, ceil_mode=True),
        Conv(512, 3, 1, 1), Conv(1024, 3, 1, 1), Conv(512, 3, 1, 1), MaxPool(3, 2),
    ],
}
# fmt: on


def make_features(cfg: list[Conv | MaxPool], in_channels: int) -> nn.Sequential:
    """The convolution stack of ``cfg``: each ``Conv`` is followed by a ReLU."""
    layers: list[nn.Module] = []
    channels = in_channels
    for spec in cfg:
        if isinstance(spec, MaxPool):
            layers.append(nn.MaxPool2d(spec.kernel_size, spec.stride, ceil_mode=spec.ceil_mode))
        else:
            layers += [
                nn.Conv2d(channels, spec.out_channels, spec.kernel_size, spec.stride, spec.padding),
                nn.ReLU(inplace=True),
            ]
            channels = spec.out_channels
    return nn.Sequential(*layers)


class AlexNet(nn.Module):
    """Convolutions, a 6x6 adaptive average pool, then three fully connected layers with dropout.

    Args:
        cfg: the convolution stack, e.g. ``cfgs["alexnet"]``.
        num_classes: outputs of the last layer.
        in_channels: channels of the input image (1 for MNIST).
        dropout: dropout probability before each hidden fully connected layer.
    """

    def __init__(
        self, cfg: list[Conv | MaxPool], num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.features = make_features(cfg, in_channels)
        last_channels = [s.out_channels for s in cfg if isinstance(s, Conv)][-1]
        # The paper's nets take 224x224 only (6x6 maps before fc6); torchvision's adaptive pool
        # lets smaller or larger inputs reach the same 6x6, and is the identity at 224.
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = fc_classifier(
            last_channels * 6 * 6, num_classes, dropout=dropout, dropout_first=True
        )
        # PyTorch's default initialisation, as torchvision. The papers' N(0, 0.01) weights with
        # biases of 1 (AlexNet) or 0 (ZFNet) train slowly without their learning-rate schedule.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 3 x 224 x 224
        x = self.features(x)
        # N x 256 x 6 x 6 (AlexNet), N x 512 x 6 x 6 (ZFNet)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        # N x 9216 (AlexNet), N x 18432 (ZFNet)
        x = self.classifier(x)
        # N x num_classes
        return x


def _alexnet(cfg_name: str, num_classes: int, in_channels: int, **kwargs: Any) -> AlexNet:
    return AlexNet(cfgs[cfg_name], num_classes=num_classes, in_channels=in_channels, **kwargs)


MODELS = model_table(
    "alexnet",
    paper=Paper("Krizhevsky, Sutskever & Hinton", 2012, "ImageNet Classification with Deep Convolutional Neural Networks"),
    input_size=(1, 3, 224, 224),
    models={
        "alexnet": ModelCard("AlexNet, torchvision's single-tower 64/192/384/256/256 layout (Krizhevsky 2014), no LRN",
                             torchvision_name="alexnet"),
        "zfnet": ModelCard("ZFNet: 7x7/2 first conv, conv3-5 with 512/1024/512 maps (Table 2 model), no contrast norm",
                           paper=Paper("Zeiler & Fergus", 2013, "Visualizing and Understanding Convolutional Networks")),
    },
)


@register_model
def alexnet(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> AlexNet:
    """AlexNet as in torchvision (61,100,840 parameters for 1000 classes).

    Args:
        num_classes: outputs of the classifier.
        in_channels: channels of the input image.
        **kwargs: other :class:`AlexNet` arguments (``dropout``).
    """
    return _alexnet("alexnet", num_classes, in_channels, **kwargs)


@register_model
def zfnet(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> AlexNet:
    """ZFNet, AlexNet with a finer first layer and wider conv3-5.

    Args:
        num_classes: outputs of the classifier.
        in_channels: channels of the input image.
        **kwargs: other :class:`AlexNet` arguments (``dropout``).
    """
    return _alexnet("zfnet", num_classes, in_channels, **kwargs)
