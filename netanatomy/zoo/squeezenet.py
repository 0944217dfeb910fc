"""SqueezeNet (Iandola et al. 2016): AlexNet accuracy with 50x fewer parameters, in Fire modules.

Versions 1.0 (the paper's Table 1) and 1.1 (from the authors' repository: a 3x3 stem with 64
filters and earlier pooling, 2.4x less computation, same accuracy) as data in :data:`cfgs`.
The paper's bypass variants are not built.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from netanatomy.zoo.layers import kaiming_init_
from netanatomy.zoo.registry import ModelCard, Paper, model_table, register_model

__all__ = ["Fire", "SqueezeNet", "cfgs"]


class Fire(nn.Module):
    """The Fire module (§3.2): a 1x1 "squeeze" layer feeding parallel 1x1 and 3x3 "expand" layers.

    Squeezing to few channels before the 3x3 filters is strategy 2 of §3.1 (fewer inputs to the
    3x3s); replacing most 3x3 filters by 1x1 ones is strategy 1. The output concatenates both
    expand layers' maps.

    Args:
        inplanes: input channels.
        squeeze_planes: s_1x1, the squeeze layer's filters.
        expand1x1_planes: e_1x1.
        expand3x3_planes: e_3x3.
    """

    def __init__(
        self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int
    ) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        e1 = self.expand1x1_activation(self.expand1x1(x))
        e3 = self.expand3x3_activation(self.expand3x3(x))
        return torch.cat([e1, e3], 1)


class SqueezeNetCfg(NamedTuple):
    """A SqueezeNet version: the stem convolution, then "M" (max-pool 3x3/2) or Fire (s, e)
    entries, where every Fire module has e_1x1 = e_3x3 = e (Table 1)."""

    stem_channels: int
    stem_kernel: int
    body: list[str | tuple[int, int]]


cfgs: dict[str, SqueezeNetCfg] = {
    # fire2..fire9 of Table 1, max-pools after conv1, fire4 and fire8.
    "1_0": SqueezeNetCfg(
        96,
        7,
        ["M", (16, 64), (16, 64), (32, 128), "M", (32, 128), (48, 192), (48, 192), (64, 256), "M", (64, 256)],
    ),
    # v1.1 pools after conv1, fire3 and fire5.
    "1_1": SqueezeNetCfg(
        64,
        3,
        ["M", (16, 64), (16, 64), "M", (32, 128), (32, 128), "M", (48, 192), (48, 192), (64, 256), (64, 256)],
    ),
}


class SqueezeNet(nn.Module):
    """SqueezeNet: stem conv, Fire modules with max-pools, dropout, 1x1 conv10, global avg-pool.

    Args:
        cfg: the version, e.g. ``cfgs["1_0"]``.
        num_classes: output channels of conv10, averaged into the class scores.
        in_channels: channels of the input image.
        dropout: dropout probability before conv10 (§3.3: 50% after fire9).
    """

    def __init__(
        self, cfg: SqueezeNetCfg, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5
    ) -> None:
        super().__init__()
        # As torchvision, the pools use ceil_mode (Caffe's rounding, the authors' framework).
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, cfg.stem_channels, kernel_size=cfg.stem_kernel, stride=2),
            nn.ReLU(inplace=True),
        ]
        channels = cfg.stem_channels
        for entry in cfg.body:
            if isinstance(entry, str):  # "M"
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True))
            else:
                squeeze, expand = entry
                layers.append(Fire(channels, squeeze, expand, expand))
                channels = 2 * expand
        self.features = nn.Sequential(*layers)
        # No fully connected layer (NiN's idea, §3.3): conv10 makes one map per class and
        # global average pooling turns each into a score.
        final_conv = nn.Conv2d(channels, num_classes, kernel_size=1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1))
        )
        # He init (fan_in, the variance of torchvision's kaiming_uniform_) and zero biases;
        # conv10 gets N(0, 0.01), as in torchvision, so the initial scores start near uniform.
        kaiming_init_(self, mode="fan_in")
        nn.init.normal_(final_conv.weight, mean=0.0, std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 3 x 224 x 224
        x = self.features(x)
        # N x 512 x 13 x 13
        x = self.classifier(x)
        # N x num_classes x 1 x 1
        return torch.flatten(x, 1)


def _squeezenet(version: str, num_classes: int, in_channels: int, **kwargs: Any) -> SqueezeNet:
    return SqueezeNet(cfgs[version], num_classes=num_classes, in_channels=in_channels, **kwargs)


MODELS = model_table(
    "squeezenet",
    paper=Paper("Iandola et al.", 2016,
                "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size"),
    input_size=(1, 3, 224, 224),
    models={
        "squeezenet1_0": ModelCard("SqueezeNet 1.0 (Table 1): 7x7/2 stem, eight Fire modules, conv10 + global average pooling",
                                   torchvision_name="squeezenet1_0"),
        "squeezenet1_1": ModelCard("SqueezeNet 1.1 (authors' repository, not the paper): 3x3/2 stem of 64, earlier pooling",
                                   torchvision_name="squeezenet1_1"),
    },
)


@register_model
def squeezenet1_0(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.0 (1,248,424 parameters for 1000 classes).

    Args:
        num_classes: outputs (maps of conv10).
        in_channels: channels of the input image.
        **kwargs: other :class:`SqueezeNet` arguments (``dropout``).
    """
    return _squeezenet("1_0", num_classes, in_channels, **kwargs)


@register_model
def squeezenet1_1(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.1 (1,235,496 parameters for 1000 classes).

    Args:
        num_classes: outputs (maps of conv10).
        in_channels: channels of the input image.
        **kwargs: other :class:`SqueezeNet` arguments (``dropout``).
    """
    return _squeezenet("1_1", num_classes, in_channels, **kwargs)
