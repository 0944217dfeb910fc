"""GoogLeNet, Inception v1 (Szegedy et al. 2015), in torchvision's layout.

Nine Inception modules (Table 1 of the paper, kept as data in :data:`inception_cfgs`), a stem of
plain convolutions, global average pooling and one fully connected layer; optionally the two
auxiliary classifiers on inception4a and inception4d that add to the loss during training.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from netanatomy.zoo.registry import ModelCard, Paper, model_table, register_model

__all__ = [
    "BasicConv2d",
    "GoogLeNet",
    "GoogLeNetOutputs",
    "Inception",
    "InceptionAux",
    "googlenet",
    "googlenet_aux",
]


class GoogLeNetOutputs(NamedTuple):
    """What :class:`GoogLeNet` returns in training mode when it has auxiliary classifiers.

    The paper weights each auxiliary loss by 0.3 (§5): ``loss = ce(logits) + 0.3 * (ce(aux1) +
    ce(aux2))``. The field order (main, aux2, aux1) follows torchvision's ``GoogLeNetOutputs``.
    """

    logits: torch.Tensor
    aux2: torch.Tensor  # from inception4d
    aux1: torch.Tensor  # from inception4a


class BasicConv2d(nn.Module):
    """Convolution -> BatchNorm -> ReLU.

    The paper has no BatchNorm (it predates it); torchvision's GoogLeNet adds it after every
    convolution, with eps=0.001, and drops the paper's local response normalisation.
    """

    def __init__(self, in_channels: int, out_channels: int, **kwargs: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class InceptionCfg(NamedTuple):
    """The columns of Table 1 for one Inception module."""

    ch1x1: int
    ch3x3red: int
    ch3x3: int
    ch5x5red: int
    ch5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj


inception_cfgs: dict[str, InceptionCfg] = {
    "3a": InceptionCfg(64, 96, 128, 16, 32, 32),  # -> 256
    "3b": InceptionCfg(128, 128, 192, 32, 96, 64),  # -> 480
    "4a": InceptionCfg(192, 96, 208, 16, 48, 64),  # -> 512
    "4b": InceptionCfg(160, 112, 224, 24, 64, 64),  # -> 512
    "4c": InceptionCfg(128, 128, 256, 24, 64, 64),  # -> 512
    "4d": InceptionCfg(112, 144, 288, 32, 64, 64),  # -> 528
    "4e": InceptionCfg(256, 160, 320, 32, 128, 128),  # -> 832
    "5a": InceptionCfg(256, 160, 320, 32, 128, 128),  # -> 832
    "5b": InceptionCfg(384, 192, 384, 48, 128, 128),  # -> 1024
}


class Inception(nn.Module):
    """The Inception module (Fig. 2b): four parallel branches concatenated along channels.

    1x1 convolutions, 1x1 "reduce" then 3x3, 1x1 "reduce" then "5x5", and 3x3 max-pool then a
    1x1 "pool proj"; the 1x1 reductions keep the expensive convolutions cheap (§4).
    """

    def __init__(self, in_channels: int, cfg: InceptionCfg) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, cfg.ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, cfg.ch3x3red, kernel_size=1),
            BasicConv2d(cfg.ch3x3red, cfg.ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, cfg.ch5x5red, kernel_size=1),
            # Deviation kept from torchvision: the paper's 5x5 convolution is a 3x3 here, a known
            # discrepancy torchvision keeps so that its pretrained weights load. We follow it so
            # that the published parameter count (6,624,904) and the state_dict keys hold.
            BasicConv2d(cfg.ch5x5red, cfg.ch5x5, kernel_size=3, padding=1),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, cfg.pool_proj, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, 1)


class InceptionAux(nn.Module):
    """An auxiliary classifier (§5): avg-pool to 4x4, 1x1 conv 128, FC 1024, dropout 0.7, FC.

    The paper pools 5x5 with stride 3 (14x14 -> 4x4 at 224); torchvision's adaptive pool gives
    the same 4x4 at 224 and works at other sizes.
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 512 x 14 x 14 (aux1), N x 528 x 14 x 14 (aux2)
        x = F.adaptive_avg_pool2d(x, (4, 4))
        # N x C x 4 x 4
        x = self.conv(x)
        # N x 128 x 4 x 4
        x = torch.flatten(x, 1)
        # N x 2048
        x = F.relu(self.fc1(x), inplace=True)
        # N x 1024
        x = self.dropout(x)
        x = self.fc2(x)
        # N x num_classes
        return x


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1), torchvision's layout.

    In eval mode, and in training mode without auxiliary classifiers, ``forward`` returns the
    logits. In training mode with ``aux_logits=True`` it returns :class:`GoogLeNetOutputs`
    ``(logits, aux2, aux1)``: the auxiliary heads only help training (§5) and are skipped at
    inference.

    Args:
        num_classes: outputs of the classifier(s).
        in_channels: channels of the input image.
        aux_logits: build the two auxiliary classifiers.
        dropout: dropout before the last FC layer (torchvision 0.2; the paper 0.4).
        dropout_aux: dropout in the auxiliary classifiers (the paper's 0.7).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        aux_logits: bool = False,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
    ) -> None:
        super().__init__()
        c = inception_cfgs
        # Stem (Table 1: conv 7x7/2, max pool 3x3/2, conv 3x3 (with its 1x1 reduce), max pool).
        # ceil_mode gives the paper's sizes 112 -> 56 -> 28 -> 14 -> 7.
        self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = Inception(192, c["3a"])
        self.inception3b = Inception(c["3a"].out_channels, c["3b"])
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = Inception(c["3b"].out_channels, c["4a"])
        self.inception4b = Inception(c["4a"].out_channels, c["4b"])
        self.inception4c = Inception(c["4b"].out_channels, c["4c"])
        self.inception4d = Inception(c["4c"].out_channels, c["4d"])
        self.inception4e = Inception(c["4d"].out_channels, c["4e"])
        # torchvision pools 2x2 here where Table 1 says 3x3/2; both give 14 -> 7.
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = Inception(c["4e"].out_channels, c["5a"])
        self.inception5b = Inception(c["5a"].out_channels, c["5b"])

        self.aux1: InceptionAux | None = None
        self.aux2: InceptionAux | None = None
        if aux_logits:
            self.aux1 = InceptionAux(c["4a"].out_channels, num_classes, dropout=dropout_aux)
            self.aux2 = InceptionAux(c["4d"].out_channels, num_classes, dropout=dropout_aux)

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(c["5b"].out_channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's scheme: N(0, 0.01) truncated at ±2 (i.e. ±200σ, practically untruncated)
        # for convolutions and FC layers; the paper trained with DistBelief and gives none.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        # N x 3 x 224 x 224
        x = self.conv1(x)
        # N x 64 x 112 x 112
        x = self.maxpool1(x)
        # N x 64 x 56 x 56
        x = self.conv2(x)
        # N x 64 x 56 x 56
        x = self.conv3(x)
        # N x 192 x 56 x 56
        x = self.maxpool2(x)
        # N x 192 x 28 x 28
        x = self.inception3a(x)
        # N x 256 x 28 x 28
        x = self.inception3b(x)
        # N x 480 x 28 x 28
        x = self.maxpool3(x)
        # N x 480 x 14 x 14
        x = self.inception4a(x)
        # N x 512 x 14 x 14
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4b(x)
        # N x 512 x 14 x 14
        x = self.inception4c(x)
        # N x 512 x 14 x 14
        x = self.inception4d(x)
        # N x 528 x 14 x 14
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.inception4e(x)
        # N x 832 x 14 x 14
        x = self.maxpool4(x)
        # N x 832 x 7 x 7
        x = self.inception5a(x)
        # N x 832 x 7 x 7
        x = self.inception5b(x)
        # N x 1024 x 7 x 7
        x = self.avgpool(x)
        # N x 1024 x 1 x 1
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)
        # N x num_classes
        if aux1 is not None and aux2 is not None:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


def _googlenet(aux_logits: bool, num_classes: int, in_channels: int, **kwargs: Any) -> GoogLeNet:
    return GoogLeNet(num_classes=num_classes, in_channels=in_channels, aux_logits=aux_logits, **kwargs)


MODELS = model_table(
    "googlenet",
    paper=Paper("Szegedy et al.", 2015, "Going Deeper with Convolutions"),
    input_size=(1, 3, 224, 224),
    models={
        "googlenet": ModelCard("GoogLeNet (Inception v1), torchvision layout: BatchNorm, 3x3 in the '5x5' branch, no aux heads",
                               torchvision_name="googlenet"),
        "googlenet_aux": ModelCard("GoogLeNet with the two auxiliary classifiers (returns (logits, aux2, aux1) in training mode)",
                                   torchvision_name="googlenet"),  # torchvision's googlenet(aux_logits=True)
    },
)


@register_model
def googlenet(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> GoogLeNet:
    """GoogLeNet without the auxiliary classifiers (6,624,904 parameters for 1000 classes).

    Args:
        num_classes: outputs of the classifier.
        in_channels: channels of the input image.
        **kwargs: other :class:`GoogLeNet` arguments (``dropout``).
    """
    return _googlenet(False, num_classes, in_channels, **kwargs)


@register_model
def googlenet_aux(*, num_classes: int = 1000, in_channels: int = 3, **kwargs: Any) -> GoogLeNet:
    """GoogLeNet with its two auxiliary classifiers, active in training mode only.

    Args:
        num_classes: outputs of the classifier and of the auxiliary classifiers.
        in_channels: channels of the input image.
        **kwargs: other :class:`GoogLeNet` arguments (``dropout``, ``dropout_aux``).
    """
    return _googlenet(True, num_classes, in_channels, **kwargs)
