"""The analyzer's command line: outputs, spec strings and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from netanatomy.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_table_shows_the_vgg16_formulas(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", "vgg16")
    assert code == 0
    assert "3·3·3·64 + 64 = 1,792" in out
    assert "25088·4096 + 4096 = 102,764,544" in out  # 7·7·512 = 25,088 inputs to the first FC
    assert "138,357,544" in out
    assert "15.47G" in out


def test_spec_three_3x3_convs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", "conv3-64*3", "--input", "1x3x32x32", "--format", "json")
    assert code == 0
    data = json.loads(out)
    convs = [layer for layer in data["layers"] if layer["type"] == "Conv2d"]
    # By hand: 3·3·3·64 + 64, then twice 3·3·64·64 + 64.
    assert [c["params"] for c in convs] == [1792, 36928, 36928]
    assert data["totals"]["macs"] == 32 * 32 * (3 * 3 * 3 * 64 + 2 * 3 * 3 * 64 * 64)


def test_json_csv_md_carry_every_layer(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "summary", "resnet20", "--format", "json")
    data = json.loads(out)
    assert code == 0 and {"layers", "totals", "convention", "input_sizes"} <= data.keys()
    assert {"params", "formula", "macs", "activation_bytes", "saved_bytes", "output_shapes"} <= data["layers"][1].keys()
    assert set(data["totals"]["training_memory"]) >= {"parameters", "gradients", "saved activations", "total"}
    target = tmp_path / "r20.csv"
    assert main(["summary", "resnet20", "--format", "csv", "-o", str(target)]) == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == len(data["layers"])
    assert sum(int(r["params"]) for r in rows) == data["totals"]["params"]
    code, out, _ = run(capsys, "summary", "resnet20", "--format", "md", "--depth", "1")
    assert code == 0 and out.startswith("**resnet20**") and "| layer1 (Sequential) |" in out


def test_depth_and_columns(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", "resnet18", "--depth", "1", "--columns", "params,macs")
    assert code == 0
    assert "layer1 (Sequential)" in out and "conv1 (Conv2d)" in out
    assert "(BasicBlock)" not in out  # folded into its stage
    assert "Formula" not in out


def test_models_and_compare(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "--family", "vgg", "--format", "json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)["models"]}
    assert rows["vgg16"]["params"] == 138_357_544
    code, out, _ = run(capsys, "compare", "resnet20", "plain20", "--format", "json")
    data = json.loads(out)
    # Option A shortcuts add no parameters (He et al. 2016, §4.2).
    by_name = {m["model"]: m for m in data["models"]}
    assert code == 0 and by_name["resnet20"]["params"] == by_name["plain20"]["params"]


def test_user_model_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "mine.py"
    src.write_text(
        "import torch.nn as nn\n"
        "def build(width=4):\n    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU())\n"
        "def broken():\n    raise ValueError('no weights here')\n"
        "class Flaky(nn.Module):\n"
        "    def forward(self, x):\n        return x * 2 if x.sum() > 0 else x\n"
        "def flaky():\n    return Flaky()\n"
    )
    code, out, _ = run(capsys, "summary", f"{src}:build", "-a", "width=8", "--input", "1x3x8x8", "-f", "json")
    assert code == 0 and json.loads(out)["totals"]["params"] == 3 * 3 * 3 * 8 + 8
    code, _, err = run(capsys, "summary", f"{src}:broken")
    assert code == 2 and "ValueError: no weights here" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "summary", f"{src}:flaky", "--input", "1x3x8x8")
    assert code == 2 and "needs tensor values" in err and "--materialize" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "summary", f"{src}:buidl")
    assert code == 2 and "Did you mean build" in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["summary", "resnet5O"], "Did you mean resnet56, resnet50"),
        (["summary", "vgg16", "--input", "1x1x224x224"], "layer 'features.0' (Conv2d) failed in aten.convolution on 1x1x224x224"),
        (["summary", "alexnet", "--input", "1x3x16x16"], "failed in aten.max_pool2d_with_indices on 1x192x1x1"),
        (["summary", "64,64,x", "--input", "1x3x32x32"], "column 7 ('x')"),
        (["summary", "vgg16", "--input", "1x3xfoo"], "malformed input size '1x3xfoo'"),
        (["summary", "vgg16", "--columns", "params,bogus"], "unknown column 'bogus'"),
        (["summary", "no/such/file.py:build"], "no such file"),
        (["summary", "resnet20", "-a", "num_clases=10"], "num_clases"),
        (["models", "--family", "resnt"], "Did you mean resnet"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_factory_that_cannot_build_on_meta(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A factory that computes with its weights while building is refused with its own error, and
    builds on the CPU only on request (--materialize), never silently."""
    src = tmp_path / "eager.py"
    src.write_text(
        "import torch, torch.nn as nn\n"
        "def build():\n"
        "    m = nn.Linear(4, 3)\n"
        "    if float(m.weight.abs().sum()) < 0:\n"  # reads a value: impossible on meta
        "        raise AssertionError\n"
        "    return m\n"
    )
    code, _, err = run(capsys, "summary", f"{src}:build", "--input", "2x4", "-f", "json")
    assert code == 2 and "cannot be called on meta tensors" in err and "--materialize" in err
    code, out, _ = run(capsys, "summary", f"{src}:build", "--input", "2x4", "-f", "json", "--materialize")
    assert code == 0 and json.loads(out)["totals"]["params"] == 4 * 3 + 3


def test_compare_output_field_is_the_trunk_output(capsys) -> None:
    """ResNet-50's trunk ends at layer4, whose field is 427 (the rf engine, and the hand recurrence
    in the README: 363 + (3-1)·32). Its last row, the one ReLU module a Bottleneck calls three times,
    carries its first call's field (363) and must not stand for the output."""
    import json

    from netanatomy import create_model, receptive_field

    assert main(["compare", "resnet50", "resnet20", "--format", "json"]) == 0
    got = {m["model"]: m["output_receptive_field"] for m in json.loads(capsys.readouterr().out)["models"]}
    engine = receptive_field(create_model("resnet50", device="meta"), (1, 3, 224, 224), layer="layer4")
    assert engine.size == (427, 427) and got["resnet50"] == "427"
    r20 = receptive_field(create_model("resnet20", device="meta"), (1, 3, 32, 32), layer="layer3").size
    assert got["resnet20"] == str(r20[0]) and r20[0] == r20[1]
