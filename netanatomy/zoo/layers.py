"""Small layers and initialisers shared by the CNN families (kept apart from the models, as in timm)."""

from __future__ import annotations

from typing import Literal

from torch import nn


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """3x3 convolution with 'same' padding and no bias (the BatchNorm after it has one)."""
    return nn.Conv2d(
        in_planes, out_planes, kernel_size=3, stride=stride, padding=1, groups=groups, bias=False
    )


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias (the BatchNorm after it has one)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def fc_classifier(
    in_features: int,
    num_classes: int,
    *,
    hidden: int = 4096,
    dropout: float = 0.5,
    dropout_first: bool,
) -> nn.Sequential:
    """The three fully connected layers of AlexNet, ZFNet and VGG, dropout on the two hidden ones.

    Krizhevsky et al. 2012 §4.2 apply dropout to the first two fully connected layers. Where the
    ``Dropout`` sits is only a layout matter: ``dropout_first=True`` puts it before each hidden
    ``Linear`` (torchvision's AlexNet), ``False`` after each hidden ``ReLU`` (torchvision's VGG);
    keeping both layouts keeps the module indices, and so the state_dict keys, of torchvision.
    """
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(2):
        block: list[nn.Module] = [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        layers += [nn.Dropout(p=dropout), *block] if dropout_first else [*block, nn.Dropout(p=dropout)]
        width = hidden
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def kaiming_init_(
    model: nn.Module,
    *,
    mode: Literal["fan_in", "fan_out"] = "fan_out",
    linear_std: float | None = None,
) -> None:
    """He et al. 2015 ("Delving Deep into Rectifiers") initialisation, in place.

    Convolutions get N(0, 2/fan) weights (eq. 10 with ``fan_in``, eq. 14 with ``fan_out``; both
    keep the ReLU signal's variance, one forward, one backward) and zero biases; BatchNorm starts
    as the identity (weight 1, bias 0). ``Linear`` layers get N(0, linear_std²) weights and zero
    biases, or keep PyTorch's default when ``linear_std`` is None. On the meta device every
    ``nn.init`` call is a no-op, so this allocates nothing there.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)
