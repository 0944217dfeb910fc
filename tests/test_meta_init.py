"""Building on the meta device without weight initialisation: same architecture, no torch._dynamo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from netanatomy.capture.meta_init import skip_init_on_meta
from netanatomy.zoo import create_model


class InitHeavy(nn.Module):
    """Every initialiser that runs a fill on the weights, as torchvision and timm models do."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4, padding_idx=0)
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 5)
        self.lstm = nn.LSTM(4, 6, proj_size=3)
        self.scale = nn.Parameter(torch.empty(5).exponential_())
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.trunc_normal_(self.fc.weight, std=0.02)
        nn.init.xavier_normal_(self.lstm.weight_ih_l0)
        nn.init.normal_(self.fc.bias)


def _layout(model: nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype, bool]]:
    return [(n, tuple(t.shape), t.dtype, getattr(t, "requires_grad", False))
            for n, t in [*model.named_parameters(), *model.named_buffers()]]


def test_meta_build_has_the_layout_of_a_real_build() -> None:
    with torch.device("meta"), skip_init_on_meta():
        meta = InitHeavy()
    real = InitHeavy()
    assert _layout(meta) == _layout(real)
    assert all(t.is_meta for t in meta.parameters()) and not any(t.is_meta for t in real.parameters())


def test_real_tensors_are_still_filled_inside_the_mode() -> None:
    with skip_init_on_meta():
        t = torch.zeros(1000).normal_()
    assert t.std() > 0.5  # a skipped fill would have left zeros


def test_meta_builds_do_not_import_dynamo() -> None:
    code = (
        "import sys, torch\nfrom netanatomy.capture.meta_init import skip_init_on_meta\n"
        "from netanatomy.zoo import create_model\n"
        "sys.path.insert(0, 'tests'); from test_meta_init import InitHeavy\n"
        "with torch.device('meta'), skip_init_on_meta():\n    InitHeavy()\n"
        "for name in ('resnet50', 'googlenet', 'densenet121', 'char_lstm'):\n    create_model(name, device='meta')\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.split() == ["False"]


def test_zoo_meta_build_matches_cpu_build() -> None:
    assert _layout(create_model("googlenet", device="meta")) == _layout(create_model("googlenet"))
