"""Training: exact resume (API after Ctrl-C, and CLI), checkpoints that load on another device."""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from netanatomy.charlm.checkpoint import load_checkpoint, load_model
from netanatomy.charlm.corpus import load_corpus
from netanatomy.charlm.sample import generate
from netanatomy.charlm.train import train
from netanatomy.cli.main import main
from netanatomy.training.config import CharTrainConfig
from netanatomy.zoo.charrnn import CharRNNConfig, build_char_model

WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and", "runs", "to", "its", "den", "at", "night")


def write_text(path: Path, n_words: int = 1500, seed: int = 0) -> Path:
    rng = random.Random(seed)
    lines = [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(n_words // 8)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _losses(run: Path) -> dict[int, float]:
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in recs if r["kind"] == "train"]
    assert len(steps) == len(set(steps)), f"steps logged twice: {steps}"
    return {r["step"]: r["loss"] for r in recs if r["kind"] == "train"}


def _val_records(run: Path) -> list[dict[str, Any]]:
    """The ``val`` records without their clocks (which differ from run to run)."""
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("elapsed_s", "wall_s", "cpu_s")} for r in recs if r["kind"] == "val"]


def _setup(tmp_path: Path, name: str) -> tuple[Any, Any, CharTrainConfig, dict[str, Any]]:
    corpus = load_corpus(write_text(tmp_path / "text.txt"), tmp_path / name / "data")
    mcfg = CharRNNConfig(cell="lstm", vocab_size=corpus.vocab.size, hidden_size=24, num_layers=2, dropout=0.2)
    # 250 chunks of 12 per stream would not fit: a small corpus makes epochs wrap (tests the reset).
    cfg = CharTrainConfig(seq_len=12, batch_size=4, max_steps=14, lr=3e-3, warmup_steps=2, eval_interval=5,
                      log_interval=1, seed=7)
    return corpus, mcfg, cfg, {"model_config": mcfg.to_dict(), "vocab": corpus.vocab.to_dict()}


def test_resume_after_interrupt_reproduces_uninterrupted_losses(tmp_path: Path) -> None:
    corpus, mcfg, cfg, extra = _setup(tmp_path, "a")
    torch.manual_seed(99)  # the same initial weights in both runs
    model_a = build_char_model(mcfg)
    train(model_a, corpus, cfg, tmp_path / "a", device=torch.device("cpu"), extra_state=extra)
    full = _losses(tmp_path / "a")
    assert sorted(full) == list(range(1, 15))

    def interrupt(record: dict[str, Any]) -> None:  # a real SIGINT, as Ctrl-C sends it, after step 8
        if record["kind"] == "train" and record["step"] == 8:
            os.kill(os.getpid(), signal.SIGINT)

    run_b = tmp_path / "b"
    corpus_b = load_corpus(tmp_path / "text.txt", run_b / "data")
    torch.manual_seed(99)
    with pytest.raises(KeyboardInterrupt):
        train(build_char_model(mcfg), corpus_b, cfg, run_b, device=torch.device("cpu"), extra_state=extra,
              callback=interrupt)
    state = load_checkpoint(run_b)
    assert state["step"] == 8
    model_b = build_char_model(state["model_config"])
    train(model_b, corpus_b, CharTrainConfig.from_dict(state["config"]), run_b, device=torch.device("cpu"),
          extra_state=extra, resume_state=state)
    resumed = _losses(run_b)
    assert resumed == full  # exact float equality, every step
    for (k, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), k
    # The validation records too, with the sample of each evaluation (its own seeded generator:
    # sampling neither reads nor moves the training RNG).
    assert _val_records(run_b) == _val_records(tmp_path / "a")


def test_resume_after_a_crash_redoes_the_steps_after_the_checkpoint(tmp_path: Path) -> None:
    corpus, mcfg, cfg, extra = _setup(tmp_path, "a")
    torch.manual_seed(5)
    train(build_char_model(mcfg), corpus, cfg, tmp_path / "a", device=torch.device("cpu"), extra_state=extra)

    def crash(record: dict[str, Any]) -> None:  # dies at step 8; the last checkpoint is step 5
        if record["kind"] == "train" and record["step"] == 8:
            raise RuntimeError("power cut")

    run_b = tmp_path / "b"
    corpus_b = load_corpus(tmp_path / "text.txt", run_b / "data")
    torch.manual_seed(5)
    with pytest.raises(RuntimeError, match="power cut"):
        train(build_char_model(mcfg), corpus_b, cfg, run_b, device=torch.device("cpu"), extra_state=extra,
              callback=crash)
    state = load_checkpoint(run_b)
    assert state["step"] == 5
    # The same checkpoint as the previous format (netanatomy-charlm/1) wrote it, made by hand.
    torch.save(_as_v1(state), tmp_path / "v1.pt")
    train(build_char_model(mcfg), corpus_b, cfg, run_b, device=torch.device("cpu"), extra_state=extra,
          resume_state=state)
    assert _losses(run_b) == _losses(tmp_path / "a")

    legacy = load_checkpoint(tmp_path / "v1.pt")
    assert legacy["config"]["model"] == "char_lstm" and legacy["config"]["hidden_size"] == 24
    run_c = tmp_path / "c"
    model_c = build_char_model(legacy["model_config"])
    train(model_c, load_corpus(tmp_path / "text.txt", run_c / "data"), CharTrainConfig.from_dict(legacy["config"]),
          run_c, device=torch.device("cpu"), extra_state=extra, resume_state=legacy)
    assert _losses(run_c) == {k: v for k, v in _losses(tmp_path / "a").items() if k > 5}
    for (k, a), b in zip(load_checkpoint(tmp_path / "a")["model"].items(), model_c.state_dict().values()):
        assert torch.equal(a, b), k


def _as_v1(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint in the layout of format ``netanatomy-charlm/1`` (before the shared core): no
    version or kind, ``train_config`` without the model, ``batches``, and only torch's RNG."""
    old = {k: v for k, v in state.items() if k not in ("format", "version", "kind", "config", "data_position", "rng")}
    v1_fields = ("seq_len", "batch_size", "max_steps", "optimizer", "lr", "min_lr", "schedule", "warmup_steps",
                 "weight_decay", "grad_clip", "eval_interval", "eval_chars", "log_interval", "seed", "max_time_s")
    old.update({"format": "netanatomy-charlm/1", "train_config": {k: state["config"][k] for k in v1_fields},
                "batches": state["data_position"], "rng": {"torch": state["rng"]["torch"]}})
    return old


def test_samples_at_each_evaluation_and_the_temperature_table(tmp_path: Path) -> None:
    corpus, mcfg, cfg, extra = _setup(tmp_path, "s")
    cfg.sample_chars, cfg.sample_prime, cfg.max_steps = 30, "the ", 10
    torch.manual_seed(3)
    model = build_char_model(mcfg)
    result = train(model, corpus, cfg, tmp_path / "s", device=torch.device("cpu"), extra_state=extra)
    vals = _val_records(tmp_path / "s")
    assert [r["step"] for r in vals] == [5, 10] and all(r["sample"].startswith("the ") for r in vals)
    # Oracle: the sampler run by hand on the final weights, with the run's seed and prime.
    assert vals[-1]["sample"] == generate(model, corpus.vocab, "the ", 30, temperature=1.0, seed=cfg.seed)
    # The table at the end: stored in the run, and its T = 1 row is that same sample.
    stored = json.loads((tmp_path / "s" / "temperatures.json").read_text())
    assert stored["step"] == 10 and stored["prime"] == "the " and stored["seed"] == cfg.seed
    assert [row.to_dict() for row in result.temperature_table] == stored["samples"]
    assert [r["temperature"] for r in stored["samples"]] == [0.5, 1.0, 1.5]
    assert stored["samples"][1]["text"] == vals[-1]["sample"]
    from netanatomy.charlm.train import read_temperature_table

    assert read_temperature_table(tmp_path / "s") == result.temperature_table


def test_cli_resume_equals_one_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = write_text(tmp_path / "t.txt")
    common = [str(text), "--model", "char_gru", "--hidden-size", "16", "--num-layers", "1", "--seq-len", "10",
              "--batch-size", "4", "--schedule", "constant", "--log-interval", "1", "--eval-interval", "3",
              "--quiet", "--threads", "1", "--dropout", "0.1"]
    assert main(["charrnn", "train", *common, "--steps", "10", "--run-dir", str(tmp_path / "one")]) == 0
    assert main(["charrnn", "train", *common, "--steps", "4", "--run-dir", str(tmp_path / "two")]) == 0
    assert main(["charrnn", "train", *common, "--steps", "10", "--resume", str(tmp_path / "two")]) == 0
    assert _losses(tmp_path / "one") == _losses(tmp_path / "two")
    assert (tmp_path / "two" / "loss.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "trained 10 steps" in out


def test_checkpoint_written_for_cuda_samples_on_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint whose storages are tagged 'cuda:0' (what torch.save writes for GPU tensors)
    loads and samples here. This machine has no GPU, so the file is made by tagging the storages
    at save time; torch.load without map_location must refuse it, proving the tag is real."""
    import torch.serialization as ser

    corpus, mcfg, cfg, extra = _setup(tmp_path, "run")
    cfg.max_steps = 3
    model = build_char_model(mcfg)
    with monkeypatch.context() as m:
        m.setattr(ser, "location_tag", lambda storage: "cuda:0")
        train(model, corpus, cfg, tmp_path / "run", device=torch.device("cpu"), extra_state=extra)
    ckpt = tmp_path / "run" / "ckpt.pt"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(ckpt, weights_only=True)
    loaded, vocab, _ = load_model(ckpt, "cpu")
    assert all(p.device.type == "cpu" for p in loaded.parameters())
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    text = generate(loaded, vocab, "the ", 30, seed=0)
    assert text.startswith("the ") and len(text) == 34
    assert main(["charrnn", "sample", str(tmp_path / "run"), "--prime", "the", "--length", "5", "--seed", "1"]) == 0


def test_training_beats_the_unigram_model(tmp_path: Path) -> None:
    corpus, _, cfg, extra = _setup(tmp_path, "learn")
    mcfg = CharRNNConfig(cell="lstm", vocab_size=corpus.vocab.size, hidden_size=32, num_layers=1)
    cfg.max_steps, cfg.eval_interval, cfg.lr, cfg.batch_size = 80, 80, 1e-2, 8
    res = train(build_char_model(mcfg), corpus, cfg, tmp_path / "learn", device=torch.device("cpu"), extra_state=extra)
    # Oracle: the cross-entropy of the best context-free model, character frequencies of the
    # training split. Knowing the words makes the next character far more predictable.
    train_ids, val_ids = np.asarray(corpus.train), np.asarray(corpus.val)
    freq = np.bincount(train_ids, minlength=corpus.vocab.size) / len(train_ids)
    unigram = float(-np.log(freq[val_ids[1:]]).mean())
    assert res.val_loss is not None
    assert res.val_loss < unigram - 0.3, (res.val_loss, unigram)
