"""Benchmark: the Kneser-Ney Markov baseline on tiny-shakespeare with the nanoGPT split.

Run:  .venv/bin/python bench/charlm_ngram.py [--orders 3 4 5 6 7 8]

Validation cross-entropy (the last 10% of the text, each character scored with the full history
that precedes it) in bits and nats per character, for interpolated Kneser-Ney with one discount
per order and for modified Kneser-Ney (three discounts), Chen & Goodman (1998). The issue's
expectation for the best order: about 1.52-1.54 nats/char.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from netanatomy.charlm.corpus import load_corpus
from netanatomy.charlm.ngram import KneserNey

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--text", default=str(DATA))
    ap.add_argument("--orders", type=int, nargs="+", default=[3, 4, 5, 6, 7, 8])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = load_corpus(args.text, tmp)
        train, val = np.asarray(corpus.train, dtype=np.int64), np.asarray(corpus.val, dtype=np.int64)
    print(f"train {len(train):,} / validation {len(val):,} characters, vocabulary {corpus.vocab.size}")
    print(f"{'order':>5} | {'KN nats':>8} {'KN bits':>8} | {'mod-KN nats':>11} {'mod-KN bits':>11} | {'fit+eval s':>10}")
    best = (math.inf, 0)
    for n in args.orders:
        row = []
        t0 = time.perf_counter()
        for modified in (False, True):
            nats = KneserNey(n, corpus.vocab.size, modified=modified).fit(train).nats_per_char(val, context=train)
            row.append(nats)
        dt = (time.perf_counter() - t0) / 2
        best = min(best, (row[1], n))
        print(f"{n:>5} | {row[0]:8.4f} {row[0] / math.log(2):8.4f} | {row[1]:11.4f} {row[1] / math.log(2):11.4f} | {dt:10.1f}")
    print(f"best: order {best[1]}, {best[0]:.4f} nats/char ({best[0] / math.log(2):.4f} bits/char), modified KN")


if __name__ == "__main__":
    main()
