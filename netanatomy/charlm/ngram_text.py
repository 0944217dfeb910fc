"""The n-gram baseline on text files: fit on a text's training split, save with the vocabulary, score, sample.

The same split and vocabulary rules as ``charrnn train`` (:func:`netanatomy.charlm.corpus.load_corpus`),
so that the n-gram's bits/char and the RNN's are measured on the same characters. numpy only.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from netanatomy.charlm.corpus import Vocabulary, load_corpus, split_point
from netanatomy.charlm.ngram import KneserNey
from netanatomy.errors import UserError


@dataclass
class NgramFit:
    """A model fitted on a text's training split, and its score on the validation split."""

    model: KneserNey
    vocab: Vocabulary
    train_chars: int
    val_chars: int
    #: mean negative log-likelihood on the validation split (nats/char); None without one.
    val_nats: float | None
    seconds: float


def fit_text(text: str | os.PathLike[str], order: int, *, modified: bool = True, byte_level: bool = False,
             max_vocab: int = 1024, val_fraction: float = 0.1) -> NgramFit:
    """Count the n-grams of the training split of ``text``; score the validation split given the training text."""
    with tempfile.TemporaryDirectory(prefix="netanatomy-ngram-") as tmp:
        corpus = load_corpus(text, tmp, byte_level=byte_level, max_vocab=max_vocab, val_fraction=val_fraction,
                             min_train=order, min_val=0)
        train = np.asarray(corpus.train, dtype=np.int64)
        val = np.asarray(corpus.val, dtype=np.int64)
    t0 = time.perf_counter()
    model = KneserNey(order, corpus.vocab.size, modified=modified).fit(train)
    seconds = time.perf_counter() - t0
    val_nats = model.nats_per_char(val, context=train) if len(val) else None
    return NgramFit(model, corpus.vocab, len(train), len(val), val_nats, seconds)


def save_model(model: KneserNey, vocab: Vocabulary, path: str | os.PathLike[str]) -> None:
    """Write the model and its vocabulary to one ``.npz`` (atomically)."""
    model.save(path, {"byte_level": np.array(vocab.is_byte_level),
                      "chars": np.array(list(vocab.chars or ()), dtype="<U1")})


def load_model(path: str | os.PathLike[str]) -> tuple[KneserNey, Vocabulary]:
    """A model written by :func:`save_model` and its vocabulary."""
    model, z = KneserNey.load(path)
    if "byte_level" not in z or "chars" not in z:
        raise UserError(f"{path} holds no vocabulary; save n-gram models with `netanatomy ngram train -o MODEL.npz`")
    vocab = Vocabulary.byte_level() if bool(z["byte_level"]) else Vocabulary(chars=tuple(str(c) for c in z["chars"]))
    return model, vocab


def score_text(model: KneserNey, vocab: Vocabulary, text: str | os.PathLike[str], *, whole: bool = False,
               val_fraction: float = 0.1) -> tuple[float, int]:
    """Nats/char of ``model`` on the validation split of ``text`` (the whole file with ``whole``), and the count."""
    with tempfile.TemporaryDirectory(prefix="netanatomy-ngram-") as tmp:
        corpus = load_corpus(text, tmp, byte_level=vocab.is_byte_level, vocab=vocab,
                             val_fraction=0.0 if whole else val_fraction, min_train=0, min_val=0)
        tokens = np.asarray(corpus.tokens, dtype=np.int64)
    start = 0 if whole else split_point(len(tokens), val_fraction)
    if start >= len(tokens):
        raise UserError(f"{text} has no validation characters; use --whole or a larger --val-fraction")
    return model.nats_per_char(tokens[start:], context=tokens[:start] if start else None), len(tokens) - start


def sample_text(model: KneserNey, vocab: Vocabulary, prime: str, length: int, *, seed: int | None = 0,
                temperature: float = 1.0) -> str:
    """``prime`` followed by ``length`` characters drawn from the model."""
    if temperature < 0:
        raise UserError(f"--temperature must be >= 0, got {temperature}")
    if length < 0:
        raise UserError(f"--length must be >= 0, got {length}")
    ids = model.sample(vocab.encode(prime), length, np.random.default_rng(seed), temperature=temperature)
    return prime + vocab.decode(ids)
