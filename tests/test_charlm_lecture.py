"""The lecture's toy and the non-Markov demonstration."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from netanatomy.charlm.hello import train_hello
from netanatomy.charlm.markov import MarkovDemoConfig, run_demo
from netanatomy.cli.main import main


def test_hello_learns_and_same_matrices_every_step() -> None:
    r = train_hello(steps=300)
    assert [s.target_char for s in r.steps] == list("ello")
    # Every step's argmax is its target, including 'l' -> 'l' then 'l' -> 'o'.
    assert ["helo"[int(s.probs.argmax())] for s in r.steps] == list("ello")
    assert r.recompute_error < 1e-5  # nn.RNN's output == the printed matrices applied at every step


def test_hello_cli_prints_the_matrices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["charrnn", "hello", "--steps", "50"]) == 0
    out = capsys.readouterr().out
    for name in ("W_xh (3x4)", "W_hh (3x3)", "W_hy (4x3)", "softmax"):
        assert name in out


def test_markov_ngram_at_chance_lstm_learns(tmp_path: Path) -> None:
    cfg = MarkovDemoConfig(gap=6, records=2000, orders=(3, 6), hidden_size=32, steps=400, seq_len=32,
                           batch_size=16, lr=2e-2, eval_interval=400, keys="abcd", threads=1)
    r = run_demo(cfg, tmp_path)
    chance = math.log(4)
    assert r.chance == pytest.approx(chance)
    for order in cfg.orders:  # the key is 7 characters back: outside both windows
        assert r.ngram_recall[order] > 0.9 * chance
    assert r.lstm_recall < 0.5 * chance
    assert (tmp_path / "markov.png").stat().st_size > 0
