"""Handlers of ``netanatomy ngram`` (numpy only: no torch import)."""

from __future__ import annotations

import argparse
import math
import tempfile
import time

import numpy as np

from netanatomy.charlm.corpus import Vocabulary, load_corpus, split_point
from netanatomy.charlm.ngram import KneserNey
from netanatomy.errors import UserError


def _vocab_arrays(vocab: Vocabulary) -> dict[str, np.ndarray]:
    return {"byte_level": np.array(vocab.is_byte_level), "chars": np.array(list(vocab.chars or ()), dtype="<U1")}


def _vocab_from(z: dict[str, np.ndarray]) -> Vocabulary:
    if bool(z["byte_level"]):
        return Vocabulary.byte_level()
    return Vocabulary(chars=tuple(str(c) for c in z["chars"]))


def _report(name: str, nats: float, n: int) -> str:
    return f"{name}: {nats:.4f} nats/char, {nats / math.log(2):.4f} bits/char over {n:,} characters"


def train_command(args: argparse.Namespace) -> int:
    """``netanatomy ngram train``."""
    with tempfile.TemporaryDirectory(prefix="netanatomy-ngram-") as tmp:
        corpus = load_corpus(args.text, tmp, byte_level=args.byte_level, max_vocab=args.max_vocab,
                             val_fraction=args.val_fraction, min_train=args.order, min_val=0)
        train = np.asarray(corpus.train, dtype=np.int64)
        val = np.asarray(corpus.val, dtype=np.int64)
    t0 = time.perf_counter()
    model = KneserNey(args.order, corpus.vocab.size, modified=not args.single_discount).fit(train)
    kind = "KN" if args.single_discount else "modified KN"
    print(f"{args.order}-gram ({kind}) on {len(train):,} training characters, vocabulary {corpus.vocab.size}, "
          f"fitted in {time.perf_counter() - t0:.1f} s")
    if len(val):
        print(_report("validation", model.nats_per_char(val, context=train), len(val)))
    if args.out:
        model.save(args.out, _vocab_arrays(corpus.vocab))
        print(f"saved {args.out}")
    return 0


def eval_command(args: argparse.Namespace) -> int:
    """``netanatomy ngram eval``."""
    model, z = KneserNey.load(args.model)
    vocab = _vocab_from(z)
    with tempfile.TemporaryDirectory(prefix="netanatomy-ngram-") as tmp:
        corpus = load_corpus(args.text, tmp, byte_level=vocab.is_byte_level, vocab=vocab,
                             val_fraction=0.0 if args.whole else args.val_fraction, min_train=0, min_val=0)
        tokens = np.asarray(corpus.tokens, dtype=np.int64)
    start = 0 if args.whole else split_point(len(tokens), args.val_fraction)
    if start >= len(tokens):
        raise UserError(f"{args.text} has no validation characters; use --whole or a larger --val-fraction")
    nats = model.nats_per_char(tokens[start:], context=tokens[:start] if start else None)
    print(_report("whole file" if args.whole else "validation split", nats, len(tokens) - start))
    return 0


def sample_command(args: argparse.Namespace) -> int:
    """``netanatomy ngram sample``."""
    if args.temperature < 0:
        raise UserError(f"--temperature must be >= 0, got {args.temperature}")
    if args.length < 0:
        raise UserError(f"--length must be >= 0, got {args.length}")
    model, z = KneserNey.load(args.model)
    vocab = _vocab_from(z)
    history = vocab.encode(args.prime)
    ids = model.sample(history, args.length, np.random.default_rng(args.seed), temperature=args.temperature)
    print(args.prime + vocab.decode(ids))
    return 0
