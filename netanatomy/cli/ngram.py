"""``netanatomy ngram train|eval|sample``: the Markov baseline (character n-grams, Kneser-Ney; numpy only)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from netanatomy.cli import common
from netanatomy.cli.charrnn import add_corpus_args, add_sampling_args


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``ngram`` and its sub-commands."""
    p = sub.add_parser(
        "ngram",
        help="the Markov baseline: character n-grams with interpolated Kneser-Ney smoothing",
        description="Character n-gram models (modified interpolated Kneser-Ney, Chen & Goodman 1998) on the "
        "same train/validation split as `charrnn train`.",
    )
    cmds = p.add_subparsers(dest="ngram_command", metavar="COMMAND")
    cmds.required = True
    t = cmds.add_parser("train", help="count n-grams of the training split, report validation bits/char")
    t.add_argument("text", metavar="TEXT_FILE")
    t.add_argument("--order", type=int, default=6, help="n: the model sees n-1 characters (default: 6)")
    common.add_output(t, metavar="MODEL.npz", help="save the model (with its vocabulary) here, atomically")
    t.add_argument("--single-discount", action="store_true", help="one discount per order instead of three")
    add_corpus_args(t)
    common.add_format(t)
    t.set_defaults(handler=_train)

    e = cmds.add_parser("eval", help="bits/char of a saved model on a text (its validation split by default)")
    e.add_argument("model", metavar="MODEL.npz")
    e.add_argument("text", metavar="TEXT_FILE")
    e.add_argument("--whole", action="store_true", help="score the whole file, not its validation split")
    e.add_argument("--val-fraction", type=float, default=0.1, help="last fraction of the text for validation (default 0.1)")
    common.add_format(e)
    e.set_defaults(handler=_eval)

    s = cmds.add_parser("sample", help="generate text from a saved model")
    s.add_argument("model", metavar="MODEL.npz")
    add_sampling_args(s)
    common.add_format(s)
    s.set_defaults(handler=_sample)


def _score(nats: float, n: int) -> dict[str, Any]:
    return {"nats_per_char": nats, "bits_per_char": nats / math.log(2), "chars": n}


def _score_text(name: str, nats: float, n: int) -> str:
    return f"{name}: {nats:.4f} nats/char, {nats / math.log(2):.4f} bits/char over {n:,} characters"


def _train(args: argparse.Namespace) -> int:
    from netanatomy.charlm.ngram_text import fit_text, save_model

    fit = fit_text(args.text, args.order, modified=not args.single_discount, byte_level=args.byte_level,
                   max_vocab=args.max_vocab, val_fraction=args.val_fraction)
    if args.output:
        save_model(fit.model, fit.vocab, args.output)
    if args.format == "json":
        print(common.json_text("ngram_train", {
            "order": args.order, "smoothing": "KN" if args.single_discount else "modified KN",
            "train_chars": fit.train_chars, "vocab_size": fit.vocab.size, "fit_seconds": fit.seconds,
            "validation": None if fit.val_nats is None else _score(fit.val_nats, fit.val_chars),
            "model_file": args.output}), end="")
        return 0
    kind = "KN" if args.single_discount else "modified KN"
    print(f"{args.order}-gram ({kind}) on {fit.train_chars:,} training characters, vocabulary {fit.vocab.size}, "
          f"fitted in {fit.seconds:.1f} s")
    if fit.val_nats is not None:
        print(_score_text("validation", fit.val_nats, fit.val_chars))
    if args.output:
        print(f"saved {args.output}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from netanatomy.charlm.ngram_text import load_model, score_text

    model, vocab = load_model(args.model)
    nats, n = score_text(model, vocab, args.text, whole=args.whole, val_fraction=args.val_fraction)
    split = "whole file" if args.whole else "validation split"
    if args.format == "json":
        print(common.json_text("ngram_eval", {"model_file": args.model, "order": model.order, "text": args.text,
                                              "split": split, **_score(nats, n)}), end="")
    else:
        print(_score_text(split, nats, n))
    return 0


def _sample(args: argparse.Namespace) -> int:
    from netanatomy.charlm.ngram_text import load_model, sample_text

    model, vocab = load_model(args.model)
    text = sample_text(model, vocab, args.prime, args.length, seed=args.seed, temperature=args.temperature)
    if args.format == "json":
        print(common.json_text("ngram_sample", {"model_file": args.model, "prime": args.prime, "length": args.length,
                                                "temperature": args.temperature, "seed": args.seed, "text": text}), end="")
    else:
        print(text)
    return 0
