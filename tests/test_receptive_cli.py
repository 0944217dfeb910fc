"""``netanatomy rf`` and ``netanatomy erf`` end to end: output, exit codes, one-line errors."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from netanatomy.atomic import torch_save
from netanatomy.cli.main import main


def test_rf_on_a_spec_answers_7(capsys):
    assert main(["rf", "conv3-64*3", "--input", "1x3x32x32"]) == 0
    out = capsys.readouterr().out
    assert "receptive field 7, jump (effective stride) 1, effective padding 3" in out
    # The working: r = 1 + 2·1 = 3, 3 + 2·1 = 5, 5 + 2·1 = 7.
    assert "r = 1 + (3-1)·1 = 3" in out and "r = 5 + (3-1)·1 = 7" in out
    assert main(["rf", "conv3-64*3", "--quiet"]) == 0
    assert capsys.readouterr().out == "layer 2: receptive field 7, jump (effective stride) 1, effective padding 3\n"


def test_rf_resnet50_stages_unit_and_working(capsys):
    assert main(["rf", "resnet50", "--depth", "1", "--layer", "layer3", "--unit", "0,13"]) == 0
    out = capsys.readouterr().out
    # Every stage has its row. layer3 by hand: stem 7/2 conv + 3/2 pool: r = 1 + 6 = 7, j = 2;
    # r = 7 + 2·2 = 11, j = 4. One 3x3 conv per bottleneck, the stride-2 one at the old jump:
    # layer1 11 + 3·(2·4) = 35; layer2 35 + 2·4 + 3·(2·8) = 91; layer3 91 + 2·8 + 5·(2·16) = 267, j = 16,
    # and the field is centred on unit 0's centre 0: P = (267 - 1)/2 = 133.
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        assert stage in out
    assert "layer3: receptive field 267, jump (effective stride) 16, effective padding 133" in out
    # Unit (0, 13): rows -133..133 -> clipped to 0..133; columns 13·16 - 133 = 75 .. 75 + 266 = 341 -> 75..223.
    assert "axis 0: pixels 0..133 (theoretical -133..133, clipped by the input)" in out
    assert "axis 1: pixels 75..223 (theoretical 75..341, clipped by the input)" in out


def test_rf_verify_agrees(capsys):
    assert main(["rf", "64,64,M,128", "--input", "1x3x24x24", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "MISMATCH" not in out and "layers agree" in out


def test_rf_errors_are_one_line(capsys):
    assert main(["rf", "conv3-64*3", "--layer", "7"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("netanatomy: error: no layer '7'") and err.count("\n") == 1
    assert main(["rf", "char_lstm"]) == 2
    assert "no spatial input" in capsys.readouterr().err
    assert main(["rf", "conv3-64*3", "--unit", "a,b"]) == 2
    assert "malformed --unit" in capsys.readouterr().err
    assert main(["rf", "conv3-64*3", "--input", "1x3x8x8", "--unit", "9,0"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["rf", "resnet5"]) == 2
    assert "resnet" in capsys.readouterr().err


def _tiny(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1))
    path = tmp_path / "tiny.py"
    path.write_text("from torch import nn\n\ndef build():\n    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1))\n")
    torch_save(model.state_dict(), tmp_path / "tiny.pt")
    return path


def test_erf_writes_a_png(tmp_path, capsys):
    src = _tiny(tmp_path)
    png = tmp_path / "erf.png"
    assert main(["erf", f"{src}:build", "--input", "1x1x15x15", "--checkpoint", str(tmp_path / "tiny.pt"), "-n", "4", "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "theoretical field 5" in capsys.readouterr().out


def test_erf_bad_checkpoint(tmp_path, capsys):
    src = _tiny(tmp_path)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["erf", f"{src}:build", "--input", "1x1x15x15", "--checkpoint", str(bad)]) == 2
    assert "is not a readable checkpoint" in capsys.readouterr().err
    assert main(["erf", f"{src}:build", "--input", "1x1x15x15", "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
