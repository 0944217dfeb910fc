"""The non-Markov demonstration: a dependency further back than any n-gram can see.

The Markov assumption of an order-n model: P(x_t | x_1 .. x_{t-1}) = P(x_t | x_{t-n+1} .. x_{t-1}),
i.e. only the last n-1 characters matter. The synthetic text here breaks it on purpose. Each
record is

    KEY  NOISE x gap  '|'  KEY  '\\n'          e.g.  c 7302948561... | c

a key letter, ``gap`` random digits, a bar, and the key again. The character after the bar is
fully determined, but by a character ``gap + 1`` positions back, beyond the n-1 characters an
n-gram model conditions on: it can only guess it at chance (ln K nats for K key letters). An
RNN's hidden state is not limited to a window, so an LSTM learns to carry the key across the gap
and predicts the recall almost perfectly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from netanatomy.atomic import write_text
from netanatomy.charlm.corpus import Corpus, load_corpus
from netanatomy.charlm.ngram import KneserNey
from netanatomy.charlm.train import train
from netanatomy.errors import UserError
from netanatomy.training.config import CharTrainConfig, MarkovDemoConfig
from netanatomy.training.metrics import read_metrics
from netanatomy.training.plots import plot_curves
from netanatomy.zoo.charrnn import CharRNNConfig, build_char_model

KEYS = MarkovDemoConfig.keys  # the default keys (8: chance is ln 8 nats)
NOISE = "0123456789"
BAR = "|"


def make_text(records: int, gap: int, rng: np.random.Generator, keys: str = KEYS) -> str:
    """``records`` records of key, ``gap`` random digits, bar, key, newline."""
    out = []
    for _ in range(records):
        key = keys[int(rng.integers(len(keys)))]
        noise = "".join(NOISE[i] for i in rng.integers(len(NOISE), size=gap))
        out.append(f"{key}{noise}{BAR}{key}\n")
    return "".join(out)


def recall_positions(tokens: np.ndarray, bar_id: int) -> np.ndarray:
    """Indices of the characters right after a bar (the recalls), excluding the first symbol."""
    pos = np.flatnonzero(tokens[:-1] == bar_id) + 1
    return pos[pos >= 1]


@dataclass
class MarkovDemoResult:
    chance: float
    ngram_recall: dict[int, float]
    ngram_overall: dict[int, float]
    lstm_curve: list[tuple[int, float, float]] = field(default_factory=list)  # step, val, recall

    @property
    def lstm_recall(self) -> float:
        return self.lstm_curve[-1][2]


def _recall_loss(model: nn.Module, corpus: Corpus, bar_id: int) -> float:
    """LSTM loss (nats) at the recall positions of the validation text, one pass from zeros."""
    val = torch.from_numpy(np.asarray(corpus.val, dtype=np.int64))[None]
    logits, _ = model(val[:, :-1])
    logp = torch.log_softmax(logits[0], dim=-1)
    pos = recall_positions(val[0].numpy(), bar_id)
    pos = pos[pos < val.size(1)]
    targets = val[0, pos]
    return float(-logp[torch.from_numpy(pos - 1), targets].mean())


def run_demo(
    cfg: MarkovDemoConfig, out_dir: str | Path, callback: Callable[[dict[str, Any]], None] | None = None
) -> MarkovDemoResult:
    """Generate the text, fit the n-grams, train the LSTM, and plot both.

    Args:
        cfg: sizes of the experiment.
        out_dir: gets ``markov.txt``, the LSTM's run (``lstm/``) and ``markov.png``.
        callback: passed to the trainer (progress display).
    """
    if cfg.gap < 1:
        raise UserError(f"--gap must be at least 1, got {cfg.gap}")
    if len(cfg.keys) < 2:
        raise UserError("at least two key letters are needed")
    out = Path(out_dir)
    rng = np.random.default_rng(cfg.seed)
    text_path = out / "markov.txt"
    write_text(text_path, make_text(cfg.records, cfg.gap, rng, cfg.keys))
    corpus = load_corpus(text_path, out / "lstm" / "data", min_train=2 * cfg.seq_len + 2)
    vocab = corpus.vocab
    assert vocab.chars is not None
    bar_id = vocab.chars.index(BAR)
    train_ids = np.asarray(corpus.train, dtype=np.int64)
    val_ids = np.asarray(corpus.val, dtype=np.int64)
    val_recall = recall_positions(val_ids, bar_id)

    result = MarkovDemoResult(chance=math.log(len(cfg.keys)), ngram_recall={}, ngram_overall={})
    for order in cfg.orders:
        kn = KneserNey(order, vocab.size).fit(train_ids)
        lp = kn.log_probs(val_ids, context=train_ids)
        result.ngram_overall[order] = float(-lp.mean())
        result.ngram_recall[order] = float(-lp[val_recall].mean())

    mcfg = CharRNNConfig(cell="lstm", vocab_size=vocab.size, hidden_size=cfg.hidden_size, num_layers=1)
    tcfg = CharTrainConfig(seq_len=cfg.seq_len, batch_size=cfg.batch_size, max_steps=cfg.steps, lr=cfg.lr,
                       min_lr=cfg.lr / 10, eval_interval=cfg.eval_interval, log_interval=cfg.eval_interval,
                       seed=cfg.seed, sample_chars=0)  # the recall loss is the point here, not the text
    threads = torch.get_num_threads()
    try:
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        model = build_char_model(mcfg)
        train(model, corpus, tcfg, out / "lstm", device=torch.device("cpu"),
              extra_state={"model_config": mcfg.to_dict(), "vocab": vocab.to_dict()},
              callback=callback,
              extra_eval=lambda m: {"recall_loss": _recall_loss(m, corpus, bar_id)})
    finally:
        torch.set_num_threads(threads)
    for r in read_metrics(out / "lstm" / "metrics.jsonl"):
        if r["kind"] == "val":
            result.lstm_curve.append((r["step"], r["val_loss"], r["recall_loss"]))

    steps = [s for s, _, _ in result.lstm_curve]
    plot_curves(
        [("LSTM: loss at the recall character", steps, [c for _, _, c in result.lstm_curve]),
         ("LSTM: loss over all characters", steps, [v for _, v, _ in result.lstm_curve])],
        out / "markov.png",
        xlabel="LSTM training step",
        title=f"A dependency {cfg.gap + 1} characters back: beyond every n-gram's window",
        hlines=[(f"chance ln {len(cfg.keys)} = {result.chance:.2f}", result.chance)]
        + [(f"{o}-gram KN at the recall: {v:.2f}", v) for o, v in result.ngram_recall.items()],
    )
    return result


def render(result: MarkovDemoResult, cfg: MarkovDemoConfig, out_dir: str | Path) -> str:
    lines = [
        "The Markov assumption of an order-n model: the next character depends only on the previous",
        "n-1 characters, P(x_t | x_1..x_{t-1}) = P(x_t | x_{t-n+1}..x_{t-1}).",
        f"Here each record is KEY, {cfg.gap} random digits, '|', KEY: the character after '|' is decided",
        f"{cfg.gap + 1} characters back, outside every n-gram window below. Chance: ln {len(cfg.keys)} = "
        f"{result.chance:.3f} nats.",
        "",
        f"{'model':<28}{'loss at the recall':>20}{'loss over all chars':>22}",
    ]
    for order in cfg.orders:
        lines.append(f"{f'{order}-gram (Kneser-Ney)':<28}{result.ngram_recall[order]:>20.3f}{result.ngram_overall[order]:>22.3f}")
    step, val, recall = result.lstm_curve[-1]
    lines.append(f"{f'LSTM {cfg.hidden_size} (step {step})':<28}{recall:>20.3f}{val:>22.3f}")
    lines += ["", "No n-gram beats chance on the recall (the higher orders do worse: their long contexts are",
              "rare, so their estimates are noise); the LSTM's hidden state carries the key across the gap.",
              f"Curves: {Path(out_dir) / 'markov.png'}"]
    return "\n".join(lines)
