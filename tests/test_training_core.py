"""The training core shared by both trainers: config defaults, the schedule, the checkpoint
format (round trip, version, kind, refusals), RNG capture and the metrics log."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from netanatomy.errors import UserError
from netanatomy.training import checkpoint as ckpt
from netanatomy.training.config import CharTrainConfig, ImageTrainConfig, default_of
from netanatomy.training.metrics import MetricsLogger, read_metrics
from netanatomy.training.schedule import build_scheduler, lr_factor

# ---- config -----------------------------------------------------------------------------------


def test_config_module_does_not_import_torch() -> None:
    """The CLI reads the defaults while building `--help`, which must not import torch."""
    code = ("import sys; import netanatomy.training.config as c; "
            "assert 'torch' not in sys.modules, 'torch imported'; print(c.default_of(c.CharTrainConfig, 'lr'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0.002"


def test_default_of_reads_the_dataclass() -> None:
    # Oracle: a fresh instance carries the defaults by definition.
    for cls in (ImageTrainConfig, CharTrainConfig):
        fresh = cls()
        for name in ("seed", "batch_size", "schedule", "milestones", "lr"):
            assert default_of(cls, name) == getattr(fresh, name), (cls, name)
    assert default_of(CharTrainConfig, "sample_temperatures") == (0.5, 1.0, 1.5)
    with pytest.raises(KeyError, match="no field 'nope'"):
        default_of(CharTrainConfig, "nope")


def test_every_optimizer_name_has_a_class() -> None:
    """The configs list the names (no torch there); the trainers map each to a torch class."""
    from netanatomy.charlm.train import OPTIMIZERS
    from netanatomy.training.config import CHAR_OPTIMIZERS, IMAGE_OPTIMIZER_DEFAULTS, IMAGE_OPTIMIZERS

    assert set(OPTIMIZERS) == set(CHAR_OPTIMIZERS)
    assert all(issubclass(c, torch.optim.Optimizer) for c in OPTIMIZERS.values())
    assert set(IMAGE_OPTIMIZER_DEFAULTS) == set(IMAGE_OPTIMIZERS)


def test_config_round_trip_and_bad_values() -> None:
    cfg = CharTrainConfig(model="char_gru", hidden_size=7, milestones=(0.3,), sample_temperatures=(0.7,))
    again = CharTrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))  # lists in the checkpoint
    assert again == cfg and again.cell == "gru"
    assert again.model_config(11) == {"cell": "gru", "vocab_size": 11, "hidden_size": 7, "num_layers": 2,
                                      "dropout": 0.0, "embedding_dim": 0}
    for bad, message in [({"model": "lstm"}, "unknown char model 'lstm'"), ({"optimizer": "sgd"}, "unknown optimizer"),
                         ({"schedule": "linear"}, "unknown schedule"), ({"seq_len": 0}, "--seq-len must be at least 1"),
                         ({"milestones": (1.5,)}, "--milestones")]:
        with pytest.raises(UserError, match=message):
            CharTrainConfig(**bad)  # type: ignore[arg-type]
    resolved = ImageTrainConfig(optimizer="adamw").resolved()
    assert (resolved.lr, resolved.weight_decay) == (1e-3, 1e-2)
    with pytest.raises(UserError, match="unknown optimizer 'adam'"):
        ImageTrainConfig(optimizer="adam").resolved()


# ---- schedule ---------------------------------------------------------------------------------


def test_schedule_against_a_table_by_hand() -> None:
    """Ten steps, warm-up 2: the factors written out by hand from the formulas in the docstring."""
    c = math.cos
    pi = math.pi
    # warm-up (s+1)/2 for s < 2; cosine over the 8 steps after it: 0.5 (1 + cos(pi (s-2)/8)).
    cosine = [0.5, 1.0] + [0.5 * (1 + c(pi * k / 8)) for k in range(8)]
    assert cosine[2:6] == pytest.approx([1.0, 0.9619397662556434, 0.8535533905932737, 0.6913417161825449])
    # With a floor m = 0.1: m + 0.9 * the same cosine.
    floored = [0.5, 1.0] + [0.1 + 0.9 * 0.5 * (1 + c(pi * k / 8)) for k in range(8)]
    # Step: x0.5 at 40% (step 4) and at 80% (step 8); the warm-up still comes first.
    step = [0.5, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]
    constant = [0.5, 1.0] + [1.0] * 8
    got = {
        "cosine": [lr_factor(s, 10, "cosine", 2) for s in range(10)],
        "floored": [lr_factor(s, 10, "cosine", 2, min_factor=0.1) for s in range(10)],
        "step": [lr_factor(s, 10, "step", 2, milestones=(0.4, 0.8), gamma=0.5) for s in range(10)],
        "constant": [lr_factor(s, 10, "constant", 2) for s in range(10)],
    }
    assert got["cosine"] == pytest.approx(cosine, abs=1e-15)
    assert got["floored"] == pytest.approx(floored, abs=1e-15)
    assert got["step"] == step
    assert got["constant"] == constant
    # The end of the cosine is the floor exactly, and stays there past the last step.
    assert lr_factor(10, 10, "cosine", 2, min_factor=0.1) == pytest.approx(0.1)
    assert lr_factor(50, 10, "cosine", 2) == pytest.approx(0.0)


def test_scheduler_applies_the_factor_to_the_optimizer() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.2)
    sched = build_scheduler(opt, 10, "step", 0, milestones=(0.5,), gamma=0.1)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.2] * 5 + [0.02] * 5)


# ---- checkpoints ------------------------------------------------------------------------------


def _state() -> dict[str, object]:
    torch.manual_seed(0)
    return {"config": ImageTrainConfig(model="tiny").to_dict(), "model": {"w": torch.randn(3, 2)}, "step": 7,
            "rng": ckpt.capture_rng({"augment": torch.Generator().manual_seed(3)})}


def test_checkpoint_round_trip_with_version_and_kind(tmp_path: Path) -> None:
    state = _state()
    ckpt.save_checkpoint(state, tmp_path / "a.pt", ckpt.IMAGE)
    raw = torch.load(tmp_path / "a.pt", weights_only=True)  # loads without unpickling any class
    assert (raw["format"], raw["version"], raw["kind"]) == ("netanatomy.checkpoint", 2, "image-classifier")
    back = ckpt.load_checkpoint(tmp_path / "a.pt", kind=ckpt.IMAGE)
    assert torch.equal(back["model"]["w"], state["model"]["w"])  # type: ignore[index]
    assert back["config"] == state["config"] and back["step"] == 7
    assert list(tmp_path.iterdir()) == [tmp_path / "a.pt"]  # the temporary file was renamed away


def _fails(path: Path, message: str, kind: str | None = None) -> None:
    with pytest.raises(UserError) as err:
        ckpt.load_checkpoint(path, kind=kind)
    text = str(err.value)
    assert message in text and "\n" not in text, text


def test_checkpoint_refusals_are_one_line(tmp_path: Path) -> None:
    ckpt.save_checkpoint(_state(), tmp_path / "img.pt", ckpt.IMAGE)
    _fails(tmp_path / "img.pt", "is a checkpoint of kind image-classifier (from `netanatomy train MODEL`), not char-lm",
           kind=ckpt.CHAR)
    newer = {**torch.load(tmp_path / "img.pt", weights_only=True), "version": 3}
    torch.save(newer, tmp_path / "newer.pt")
    _fails(tmp_path / "newer.pt", "version 3, newer than this netanatomy reads (up to 2); upgrade netanatomy")
    torch.save({"conv.weight": torch.zeros(2)}, tmp_path / "foreign.pt")
    _fails(tmp_path / "foreign.pt", "is not a netanatomy training checkpoint")
    torch.save([1, 2], tmp_path / "list.pt")
    _fails(tmp_path / "list.pt", "is not a netanatomy training checkpoint")
    torch.save({"format": "netanatomy.train/7"}, tmp_path / "unknown.pt")
    _fails(tmp_path / "unknown.pt", "is not a netanatomy training checkpoint")
    (tmp_path / "corrupt.pt").write_bytes((tmp_path / "img.pt").read_bytes()[:200])  # a truncated file
    _fails(tmp_path / "corrupt.pt", "is not a readable checkpoint")
    _fails(tmp_path / "none.pt", "no checkpoint at")


def test_charrnn_sample_refuses_an_image_checkpoint_in_one_line(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from netanatomy.cli.main import main

    ckpt.save_checkpoint(_state(), tmp_path / "img.pt", ckpt.IMAGE)
    assert main(["charrnn", "sample", str(tmp_path / "img.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "kind image-classifier" in err and "netanatomy charrnn train" in err, err


def test_rng_states_restore_every_stream() -> None:
    gen = torch.Generator().manual_seed(1)
    random.seed(2)
    np.random.seed(3)
    torch.manual_seed(4)
    saved = ckpt.capture_rng({"augment": gen})

    def draws() -> tuple[float, float, float, float]:
        return random.random(), float(np.random.rand()), float(torch.rand(1)), float(torch.rand(1, generator=gen))

    first = draws()
    ckpt.restore_rng(saved, {"augment": gen})
    assert draws() == first
    # Through a file (weights_only types only) as well.
    buf = __import__("io").BytesIO()
    torch.save(saved, buf)
    buf.seek(0)
    ckpt.restore_rng(torch.load(buf, weights_only=True), {"augment": gen})
    assert draws() == first


# ---- metrics ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_metrics_log_appends_and_resumes(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"metrics{suffix}"
    log = MetricsLogger(path, "epoch")
    rows = [{"epoch": e, "loss": 1.0 / e, "acc": 0.25 * e} for e in (1, 2, 3)]
    for r in rows:
        log.log(r)
    assert read_metrics(path) == [{"epoch": e, "loss": pytest.approx(1.0 / e, rel=1e-6), "acc": 0.25 * e}
                                  for e in (1, 2, 3)]
    if suffix == ".csv":
        assert path.read_text().splitlines()[:2] == ["epoch,loss,acc", "1,1,0.25"]
        with pytest.raises(ValueError, match="same columns"):
            log.log({"epoch": 4, "other": 1})
    # Resumed at epoch 2: epoch 3 (logged after that checkpoint) is dropped, then redone.
    again = MetricsLogger(path, "epoch", resume_at=2)
    again.log(rows[2])
    assert [r["epoch"] for r in read_metrics(path)] == [1, 2, 3]
    MetricsLogger(path, "epoch")  # a fresh run starts a fresh file
    assert read_metrics(path) == []


def test_metrics_reader_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "lo')
    assert read_metrics(path) == [{"step": 1, "loss": 2.0}]
    MetricsLogger(path, "step", resume_at=5)
    assert path.read_text() == '{"step": 1, "loss": 2.0}\n'
