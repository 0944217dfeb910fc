"""Surprisal, character by character: where the RNN's memory beats the n-gram's window.

The surprisal of a character is −ln p(c_{t+1} | c_{≤t}) in nats (÷ ln 2 for bits): the loss the
model pays on it. Its mean over a text is the cross-entropy that training reports as the
validation loss, so the per-character picture adds up to the single number of a run. Next to
the char model stands the Kneser-Ney n-gram (:mod:`netanatomy.charlm.ngram`), which sees only
the last n−1 characters (the Markov assumption); their difference shows what the recurrent
state carries beyond that window (closing brackets and quotes, the speaker's name after a blank
line, the line break after a verse's usual length).

Two layouts are scored:

* a *passage* as one stream from the zero state (the picture: every character after the first);
* the *validation split* in exactly the layout of training's evaluation (``eval_streams``:
  parallel streams, each starting from the zero state), so that the mean is the run's own
  validation figure, not a near miss.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from netanatomy.charlm.batches import eval_streams
from netanatomy.charlm.corpus import VAL_FRACTION, Corpus, Vocabulary, load_corpus
from netanatomy.charlm.ngram import KneserNey
from netanatomy.errors import UserError

LN2 = math.log(2.0)
#: Top candidates kept per position (shown on hover).
TOP_K = 5


def encode_passage(text: str, vocab: Vocabulary, source: str = "the text") -> np.ndarray:
    """Token ids of ``text``; characters outside ``vocab`` raise a UserError naming each of them
    with where it occurs (line:column, 1-based, and the character offset)."""
    if vocab.is_byte_level:
        return vocab.encode(text)
    index = {c: i for i, c in enumerate(vocab.chars or ())}
    where: dict[str, list[int]] = {}
    for pos, c in enumerate(text):
        if c not in index:
            where.setdefault(c, []).append(pos)
    if where:
        parts = []
        for c, positions in list(where.items())[:10]:
            shown = ", ".join(_line_col(text, p) for p in positions[:3])
            more = f" and {len(positions) - 3} more" if len(positions) > 3 else ""
            parts.append(f"{c!r} at {shown}{more}")
        extra = f" (and {len(where) - 10} more characters)" if len(where) > 10 else ""
        raise UserError(
            f"{source} has {len(where)} character(s) outside the model's vocabulary: {'; '.join(parts)}{extra}; "
            "score a text made of the training text's characters"
        )
    return np.array([index[c] for c in text], dtype=np.int64)


def _line_col(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"{line}:{col} (offset {pos})"


@dataclass
class Surprisal:
    """Per-character surprisal of a passage under one model, with its top candidates.

    Position i is the prediction of character i+1 of the passage from characters 0..i.
    """

    name: str
    #: −ln p(actual next character), nats, shape (n−1,).
    nats: np.ndarray
    #: The ``TOP_K`` most probable next characters at each position (ids) and their probabilities.
    top_ids: np.ndarray
    top_probs: np.ndarray

    @property
    def mean_nats(self) -> float:
        return float(self.nats.mean()) if len(self.nats) else math.nan

    @property
    def mean_bits(self) -> float:
        return self.mean_nats / LN2


def _top(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    k = min(k, probs.shape[1])
    ids = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(probs, ids, axis=1)


@torch.no_grad()
def model_surprisal(model: nn.Module, tokens: np.ndarray, *, top: int = TOP_K,
                    device: torch.device | str = "cpu", name: str = "model") -> Surprisal:
    """Surprisal of ``tokens[1:]`` under a char model run over ``tokens`` as one stream from zero.

    Args:
        model: forward ``(idx, h) -> (logits, h)`` (put it in eval mode first).
        tokens: the passage's ids, at least 2.
        top: candidates kept per position.
        device: where the model is.
        name: a label for reports.
    """
    if len(tokens) < 2:
        raise UserError("the passage needs at least 2 characters (the first one is only read, never scored)")
    idx = torch.as_tensor(np.asarray(tokens[:-1], dtype=np.int64), device=device)[None]
    logits, _ = model(idx)
    logp = F.log_softmax(logits[0].double(), dim=-1).cpu().numpy()  # (n-1, V)
    target = np.asarray(tokens[1:], dtype=np.int64)
    nats = -logp[np.arange(len(target)), target]
    ids, probs = _top(np.exp(logp), top)
    return Surprisal(name=name, nats=nats, top_ids=ids, top_probs=probs)


def ngram_surprisal(kn: KneserNey, tokens: np.ndarray, context: np.ndarray | None = None, *,
                    top: int = TOP_K, name: str | None = None) -> Surprisal:
    """Surprisal of ``tokens[1:]`` under an n-gram model; ``context`` is the text before the
    passage (so its first characters get full histories, as in ``ngram eval``)."""
    if len(tokens) < 2:
        raise UserError("the passage needs at least 2 characters (the first one is only read, never scored)")
    tokens = np.asarray(tokens, dtype=np.int64)
    ctx = tokens[:1] if context is None else np.concatenate([np.asarray(context, dtype=np.int64), tokens[:1]])
    dist = kn.next_distributions(tokens[1:], context=ctx)
    nats = -np.log(dist[np.arange(len(tokens) - 1), tokens[1:]])
    ids, probs = _top(dist, top)
    return Surprisal(name=name or f"{kn.order}-gram", nats=nats, top_ids=ids, top_probs=probs)


@torch.no_grad()
def stream_surprisal(model: nn.Module, tokens: np.ndarray, batch_size: int, seq_len: int,
                     device: torch.device | str = "cpu") -> np.ndarray:
    """Per-character surprisal (nats) of ``tokens`` in the layout of training's validation:
    ``eval_streams`` chunks, the hidden state carried along each stream from zero. Its mean is
    the validation loss that ``charrnn train`` reports for the same tokens and settings."""
    out: list[np.ndarray] = []
    h: Any = None
    for x, y in eval_streams(tokens, batch_size, seq_len):
        logits, h = model(x.to(device), h)
        out.append(F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.to(device).reshape(-1),
                                   reduction="none").double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


# ----------------------------------------------------------------------------- the run's text
@dataclass
class RunText:
    """The text a checkpoint was trained on, split as training split it."""

    path: Path
    corpus: Corpus
    val_fraction: float


def run_text(state: dict[str, Any], checkpoint: str | os.PathLike[str], text: str | os.PathLike[str] | None = None,
             val_fraction: float | None = None) -> RunText:
    """The training text of the run behind ``state`` (a loaded char checkpoint).

    The checkpoint records the text's path as given to ``charrnn train`` (``state["text"]``);
    the run directory's ``data/tokens.json`` records it resolved. ``text`` overrides both (the
    same file moved elsewhere). The split fraction is read from the checkpoint when it stores
    one (``val_fraction``), else the training default (10%) or ``val_fraction``.
    """
    frac = val_fraction if val_fraction is not None else float(state.get("val_fraction", VAL_FRACTION))
    candidates: list[Path] = []
    if text is not None:
        candidates.append(Path(text))
    else:
        if state.get("text"):
            candidates.append(Path(str(state["text"])))
        meta = Path(checkpoint).parent / "data" / "tokens.json" if Path(checkpoint).is_file() else Path(checkpoint) / "data" / "tokens.json"
        if meta.is_file():
            import json

            source = json.loads(meta.read_text(encoding="utf-8")).get("key", {}).get("source")
            if source:
                candidates.append(Path(source))
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        tried = ", ".join(str(p) for p in candidates) or "no path stored in the checkpoint"
        raise UserError(f"cannot find the run's training text ({tried}); pass it with --train-text FILE")
    vocab = Vocabulary.from_dict(state["vocab"])
    with tempfile.TemporaryDirectory(prefix="netanatomy-inspect-") as tmp:
        try:
            corpus = load_corpus(found, tmp, byte_level=vocab.is_byte_level, vocab=vocab, val_fraction=frac,
                                 min_train=1, min_val=2)
        except UserError as exc:
            raise UserError(f"{found} is not the text this checkpoint was trained on: {exc}") from None
        # The memory map lives in the temporary directory: keep an in-memory copy.
        corpus = Corpus(vocab=corpus.vocab, tokens=np.array(corpus.tokens), n_train=corpus.n_train)
    return RunText(path=found, corpus=corpus, val_fraction=frac)
