"""The trainer: learning on a toy set, exact resume, divergence handling, schedules."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from netanatomy.training.checkpoint import load_checkpoint
from netanatomy.training.datasets import load_dataset
from netanatomy.training.schedule import lr_factor
from netanatomy.training.trainer import ImageTrainConfig, TrainingDiverged, train


def tiny_cnn(in_channels: int = 1, num_classes: int = 4, batch_norm: bool = True, dropout: float = 0.2) -> nn.Module:
    """A small CNN defined here, so the trainer is tested independently of the zoo."""
    torch.manual_seed(0)
    norm: list[nn.Module] = [nn.BatchNorm2d(8)] if batch_norm else []
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1), *norm, nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Dropout(dropout), nn.Linear(128, num_classes),
    )  # fmt: skip


def config(tmp_path: Path, **kw: object) -> ImageTrainConfig:
    base = dict(model="tiny", dataset="synthetic", epochs=3, batch_size=32, lr=0.1, out_dir=str(tmp_path),
                progress=False, log=False)  # fmt: skip
    base.update(kw)
    return ImageTrainConfig(**base)  # type: ignore[arg-type]


def test_training_drives_the_loss_down(tmp_path: Path) -> None:
    data = load_dataset("synthetic")
    result = train(config(tmp_path, epochs=8, warmup_epochs=1), model=tiny_cnn(), data=data)
    losses = [h["train_loss"] for h in result.history]
    # Chance level on 4 classes is ln 4 = 1.386; the bars are easy to tell apart.
    assert losses[0] > 0.9
    assert losses[-1] < 0.35 * losses[0]
    assert result.history[-1]["val_acc"] >= 0.9
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "curves.png").stat().st_size > 1000
    csv = (tmp_path / "metrics.csv").read_text().splitlines()
    assert csv[0].startswith("epoch,lr,train_loss") and len(csv) == 1 + 8


def test_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    data = load_dataset("synthetic")
    # Batch norm, dropout (global torch RNG) and augmentation (its own generator) all draw
    # random numbers: an exact match needs every RNG state and the data order restored.
    full = train(config(tmp_path / "full", augment=True), model=tiny_cnn(), data=data)

    class Interrupt(Exception):
        pass

    def stop_after_first(epoch: int, _m: dict[str, float]) -> None:
        if epoch == 0:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(config(tmp_path / "cut", augment=True), model=tiny_cnn(), data=data, on_epoch_end=stop_after_first)
    # The same checkpoint as the previous format (netanatomy.train/1) wrote it, made by hand.
    torch.save(_as_v1(load_checkpoint(tmp_path / "cut" / "last.pt")), tmp_path / "v1.pt")

    def perturbed() -> nn.Module:  # a fresh model with other weights: all must come from the file
        other = tiny_cnn()
        with torch.no_grad():
            for p in other.parameters():
                p.add_(1.0)
        return other

    resumed = train(config(tmp_path / "cut", augment=True), model=perturbed(), data=data,
                    resume=tmp_path / "cut" / "last.pt")
    legacy = train(config(tmp_path / "legacy", augment=True), model=perturbed(), data=data, resume=tmp_path / "v1.pt")

    for run in (resumed, legacy):
        assert [h["train_loss"] for h in run.history] == [h["train_loss"] for h in full.history]
        assert [h["val_acc"] for h in run.history] == [h["val_acc"] for h in full.history]
        for (name, a), (_, b) in zip(full.model.state_dict().items(), run.model.state_dict().items()):
            assert torch.equal(a, b), name
    # The optimizer's momentum buffers too.
    sa, sb = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(tmp_path / "cut" / "last.pt")
    for k, st in sa["optimizer"]["state"].items():
        assert torch.equal(st["momentum_buffer"], sb["optimizer"]["state"][k]["momentum_buffer"])
    assert len((tmp_path / "cut" / "metrics.csv").read_text().splitlines()) == 1 + 3


def _as_v1(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint in the layout of format ``netanatomy.train/1`` (before the shared core):
    no version, kind or step; ``data_order``; the augmentation generator at the top of ``rng``."""
    old = {k: v for k, v in state.items() if k not in ("format", "version", "kind", "step", "data_position")}
    old["format"] = "netanatomy.train/1"
    old["data_order"] = state["data_position"]
    rng = {k: v for k, v in state["rng"].items() if k != "generators"}
    rng["augment"] = state["rng"]["generators"]["augment"]
    old["rng"] = rng
    return old


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    class Poisonable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = tiny_cnn()
            self.poisoned = False

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.net(x)
            return out * float("nan") if self.poisoned else out

    model = Poisonable()

    def poison(epoch: int, _m: dict[str, float]) -> None:
        model.poisoned = True

    with pytest.raises(TrainingDiverged, match=r"diverged in epoch 2 .*last good checkpoint .*epoch 1"):
        train(config(tmp_path), model=model, data=load_dataset("synthetic"), on_epoch_end=poison)
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_adamw_and_step_schedule_train_too(tmp_path: Path) -> None:
    result = train(
        config(tmp_path, optimizer="adamw", lr=0.03, schedule="step", epochs=8, save=False),
        model=tiny_cnn(),
        data=load_dataset("synthetic"),
    )
    assert result.history[-1]["train_loss"] < 0.5 * result.history[0]["train_loss"]
    # Milestones at 0.5 and 0.75 of training: lr 0.03 -> 0.003 -> 0.0003 (He et al. §4.2).
    assert result.history[-1]["lr"] == pytest.approx(3e-4)


def test_lr_factor_by_hand() -> None:
    # Linear warm-up over 4 steps: 1/4, 2/4, 3/4, then the cosine from 1 down to 0.
    assert [lr_factor(s, 20, "cosine", 4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(4, 20, "cosine", 4) == 1.0
    assert lr_factor(12, 20, "cosine", 4) == pytest.approx(0.5 * (1 + math.cos(math.pi * 8 / 16)))
    assert lr_factor(20, 20, "cosine", 4) == pytest.approx(0.0)
    assert [lr_factor(s, 100, "step") for s in (0, 49, 50, 74, 75, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_googlenet_style_aux_outputs_weighted_by_0_3() -> None:
    from netanatomy.training.trainer import classification_loss

    torch.manual_seed(0)
    main, aux2, aux1 = torch.randn(3, 5, 4).unbind(0)
    y = torch.tensor([0, 1, 2, 3, 0])
    ce = nn.functional.cross_entropy
    logits, loss = classification_loss((main, aux2, aux1), y)
    # Szegedy et al. 2015 §5: total = main + 0.3 * each auxiliary loss.
    assert torch.equal(logits, main)
    assert loss.item() == pytest.approx((ce(main, y) + 0.3 * ce(aux2, y) + 0.3 * ce(aux1, y)).item())
