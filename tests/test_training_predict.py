"""`netanatomy train` / `predict` end to end on files, and the checkpoint errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from netanatomy.cli.main import main
from netanatomy.training.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resnet20 trained for one epoch on the synthetic set, through the CLI."""
    out = tmp_path_factory.mktemp("run")
    torch.set_num_threads(1)
    argv = ["train", "resnet20", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "64",
            "--run-dir", str(out), "--quiet", "--metrics", "jsonl"]  # fmt: skip
    assert main(argv) == 0
    return out


def _line_image(path: Path, vertical: bool) -> np.ndarray:
    from PIL import Image

    a = np.full((12, 12), 20, dtype=np.uint8)
    if vertical:
        a[:, 5] = 255
    else:
        a[5, :] = 255
    Image.fromarray(a).save(path)
    return a


def test_predict_top_k_matches_a_hand_preprocessed_forward(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from netanatomy.zoo.registry import create_model

    img_v, img_h = tmp_path / "v.png", tmp_path / "h.png"
    pixels = _line_image(img_v, True)
    _line_image(img_h, False)
    capsys.readouterr()
    assert main(["predict", str(trained / "last.pt"), str(img_v), str(img_h), "--top-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{img_v}: ")

    # Oracle: preprocess by hand from the stored mean/std and run the network ourselves.
    state = load_checkpoint(trained / "last.pt")
    model = create_model("resnet20", num_classes=4, in_channels=1).eval()
    model.load_state_dict(state["model"])
    pre = state["preprocess"]
    x = (torch.tensor(pixels, dtype=torch.float32) / 255.0 - pre["mean"][0]) / pre["std"][0]
    with torch.no_grad():
        p = torch.softmax(model(x.view(1, 1, 12, 12)), dim=1)[0]
    assert lines[0] == f"{img_v}: {_ranked(p, pre['classes'])}"

    # --invert: dark-on-light drawings become MNIST's light-on-dark before normalising.
    assert main(["predict", str(trained / "last.pt"), str(img_v), "--top-k", "3", "--invert"]) == 0
    line = capsys.readouterr().out.strip()
    x = (1.0 - torch.tensor(pixels, dtype=torch.float32) / 255.0 - pre["mean"][0]) / pre["std"][0]
    with torch.no_grad():
        p = torch.softmax(model(x.view(1, 1, 12, 12)), dim=1)[0]
    assert line == f"{img_v}: {_ranked(p, pre['classes'])}"


def _ranked(p: torch.Tensor, classes: list[str], k: int = 3) -> str:
    top = p.topk(k)
    return ", ".join(f"{classes[int(i)]} {100 * float(v):.1f}%" for v, i in zip(top.values, top.indices))


def test_resume_from_the_cli_continues_the_run(trained: Path, tmp_path: Path) -> None:
    import json
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    argv = ["train", "--resume", str(run / "last.pt"), "--epochs", "2", "--run-dir", str(run), "--quiet"]
    assert main(argv) == 0
    state = load_checkpoint(run / "last.pt")
    assert state["epoch"] == 2 and state["config"]["epochs"] == 2
    hist = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    first = json.loads((trained / "metrics.jsonl").read_text().splitlines()[0])
    assert [h["epoch"] for h in hist] == [1, 2] and hist[0] == first


def test_checkpoint_errors_are_one_line(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = tmp_path / "v.png"
    _line_image(img, True)
    # A checkpoint from a different model: resuming it as another architecture.
    cases: list[tuple[list[str], str]] = [
        (["train", "plain20", "--resume", str(trained / "last.pt")], "is of model 'resnet20', not 'plain20'"),
    ]
    # Weights of resnet20 under a deeper model's name: they do not fit.
    state = load_checkpoint(trained / "last.pt")
    state["model_name"] = "resnet32"
    torch.save(state, tmp_path / "relabelled.pt")
    cases.append((["predict", str(tmp_path / "relabelled.pt"), str(img)], "does not fit model 'resnet32'"))
    torch.save({"conv.weight": torch.zeros(2)}, tmp_path / "foreign.pt")
    cases.append((["predict", str(tmp_path / "foreign.pt"), str(img)], "not a netanatomy training checkpoint"))
    (tmp_path / "corrupt.pt").write_bytes(b"\x00garbage" * 10)
    cases.append((["predict", str(tmp_path / "corrupt.pt"), str(img)], "is not a readable checkpoint"))
    cases.append((["predict", str(tmp_path / "missing.pt"), str(img)], "no checkpoint at"))
    (tmp_path / "text.jpg").write_text("hello")
    cases.append((["predict", str(trained / "last.pt"), str(tmp_path / "text.jpg")], "is not a readable image"))
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("netanatomy: error: ") and message in err and err.count("\n") == 1, err
