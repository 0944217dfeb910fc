"""``rf --verify`` with nothing to check fails with the reason, in the library and through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from netanatomy.cli.main import main
from netanatomy.errors import UserError
from netanatomy.receptive.probe import verify


def upsampled() -> nn.Module:
    """Every field is approximate: bilinear upsampling first gives a fractional jump (1/2) from the input on."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(3, 4, 3))


def test_verify_refuses_a_model_with_nothing_to_check() -> None:
    with pytest.raises(UserError, match=r"nothing to check: .*exact, local .*field approximate .*: 0, 1\)$"):
        verify(upsampled(), (1, 3, 8, 8))


def test_verify_refuses_an_empty_list_and_names_what_could_be_checked() -> None:
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3))
    with pytest.raises(UserError, match="nothing to check: no layers were given; the layers that can be checked are 0, 1, 2"):
        verify(m, (1, 1, 9, 9), [])
    checks = verify(m, (1, 1, 9, 9))  # the same model has something to check by default
    assert [c.layer for c in checks] == ["0", "1", "2"] and all(c.ok for c in checks)


def test_rf_verify_with_nothing_to_check_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "up.py"
    src.write_text("from torch import nn\n"
                   "def up():\n"
                   "    return nn.Sequential(nn.Upsample(scale_factor=2, mode='bilinear'), nn.Conv2d(3, 4, 3))\n")
    assert main(["rf", f"{src}:up", "--input", "1x3x8x8", "--verify"]) == 2
    captured = capsys.readouterr()
    assert "layers agree" not in captured.out  # no "0/0 layers agree" that reads as a pass
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("netanatomy: error: nothing to check") and "approximate" in err[0]
