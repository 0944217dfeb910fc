"""The lecture's experiments: the Inception bottleneck by hand, the GAP head, a tiny degradation run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from netanatomy.cli.main import main
from netanatomy.training.experiments.bottleneck import NAIVE, REDUCED, branch_costs

# Hand derivation (CS231n Lecture 9, the Inception slide; Szegedy et al. 2015 Fig. 2):
# a k x k conv with C_out filters on a 28x28xC_in map costs 28·28·k·k·C_in·C_out multiply-adds
# ("same" padding keeps 28x28), and has k·k·C_in·C_out weights + C_out biases.
HW = 28 * 28
NAIVE_BY_HAND = {
    "branch1x1": (1 * 1 * 256 * 128 + 128, HW * 1 * 1 * 256 * 128),  # 25,690,112
    "branch3x3": (3 * 3 * 256 * 192 + 192, HW * 3 * 3 * 256 * 192),  # 346,816,512
    "branch5x5": (5 * 5 * 256 * 96 + 96, HW * 5 * 5 * 256 * 96),  # 481,689,600
    "branch_pool": (0, 0),  # 3x3 max pool: comparisons, no multiply-adds, no weights
}
REDUCED_BY_HAND = {
    "branch1x1": (256 * 128 + 128, HW * 256 * 128),
    # 1x1 to 64, then 3x3 192 on 64 channels: 12,845,056 + 86,704,128
    "branch3x3": (256 * 64 + 64 + 3 * 3 * 64 * 192 + 192, HW * 256 * 64 + HW * 3 * 3 * 64 * 192),
    # 1x1 to 64, then 5x5 96 on 64 channels: 12,845,056 + 120,422,400
    "branch5x5": (256 * 64 + 64 + 5 * 5 * 64 * 96 + 96, HW * 256 * 64 + HW * 5 * 5 * 64 * 96),
    # pool, then 1x1 to 64: 12,845,056
    "branch_pool": (256 * 64 + 64, HW * 256 * 64),
}


def test_bottleneck_figures_equal_the_hand_derivation() -> None:
    assert branch_costs(NAIVE) == NAIVE_BY_HAND
    assert branch_costs(REDUCED) == REDUCED_BY_HAND
    naive_total = sum(m for _, m in NAIVE_BY_HAND.values())
    reduced_total = sum(m for _, m in REDUCED_BY_HAND.values())
    assert naive_total == 854_196_224  # the lecture's "854M ops"
    assert reduced_total == 271_351_808  # 271M
    # The slide's "358M" = the correct total + the 3x3 conv (28·28·192·3·3·64) counted twice.
    assert round((reduced_total + HW * 3 * 3 * 64 * 192) / 1e6) == 358


def test_bottleneck_command_writes_its_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiment", "bottleneck", "--run-dir", str(tmp_path)]) == 0
    md = (tmp_path / "bottleneck.md").read_text()
    assert "854.2M" in md and "271.4M" in md and "double-counts the 3x3" in md
    assert "28x28x672" in md and "28x28x480" in md
    assert (tmp_path / "bottleneck.png").stat().st_size > 1000


def test_flatten_head_parameters_by_hand() -> None:
    from netanatomy.training.experiments.costs import layer_costs
    from netanatomy.training.experiments.gap import flatten_head
    from netanatomy.zoo.registry import create_model

    gap = create_model("resnet20", num_classes=10, in_channels=1)
    flat = flatten_head(create_model("resnet20", num_classes=10, in_channels=1), (1, 1, 28, 28))
    # 28x28 -> 28 -> 14 -> 7 through the three stages (strides 1, 2, 2): 64 maps of 7x7.
    fc = {c.name: c.params for c in layer_costs(flat, (1, 1, 28, 28))}["fc"]
    assert fc == 64 * 7 * 7 * 10 + 10  # 31,370, vs 64·10 + 10 = 650 with GAP
    assert {c.name: c.params for c in layer_costs(gap, (1, 1, 28, 28))}["fc"] == 64 * 10 + 10
    assert flat(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_gap_experiment_on_a_tiny_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["experiment", "gap", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "64",
            "--run-dir", str(tmp_path), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    md = (tmp_path / "gap.md").read_text()
    # Synthetic 12x12 images: 12 -> 6 -> 3, so the flattened head has 64·3·3·4 + 4 weights.
    assert "| GAP | 260 |" in md and f"| flatten+FC | {64 * 9 * 4 + 4:,} |" in md
    assert (tmp_path / "gap.png").is_file()


def test_degradation_experiment_on_a_tiny_budget(tmp_path: Path) -> None:
    argv = ["experiment", "degradation", "--depths", "8,14", "--dataset", "synthetic", "--epochs", "1",
            "--run-dir", str(tmp_path), "--quiet"]  # fmt: skip
    # 8 and 14 are not CIFAR depths of the zoo: a one-line error.
    assert main(argv) == 2
    argv[3] = "20,32"
    assert main(argv) == 0
    md = (tmp_path / "degradation.md").read_text()
    for name in ("plain20", "plain32", "resnet20", "resnet32"):
        assert f"| {name} |" in md
    assert "Observed:" in md and (tmp_path / "degradation.png").stat().st_size > 1000


def test_unknown_experiment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiment", "bottlenek"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'bottlenek'" in err and "Did you mean bottleneck?" in err
