"""Benchmark: an LSTM on tiny-shakespeare (nanoGPT split), validation nats/char against wall-clock.

Run:  .venv/bin/python bench/charlm_lstm.py [--minutes 80] [--threads 1] [--out bench/out/charlm_lstm]

Reference points printed beside the curve: nanoGPT's shakespeare_char README (CPU "baby GPT"
about 1.88 validation loss after ~3 minutes; GPU 1.47) and the interpolated Kneser-Ney baseline
(bench/charlm_ngram.py). Target of issue 4: at most 1.50 nats/char within 30 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from netanatomy.charlm.corpus import load_corpus
from netanatomy.charlm.ngram import KneserNey
from netanatomy.charlm.train import train
from netanatomy.training.config import CharTrainConfig
from netanatomy.training.metrics import read_metrics
from netanatomy.training.plots import plot_curves
from netanatomy.zoo.charrnn import CharRNNConfig, build_char_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
NANOGPT_CPU, NANOGPT_GPU = 1.88, 1.47
KN_ORDER = 7  # the best order of bench/charlm_ngram.py


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--text", default=str(DATA))
    ap.add_argument("--out", default="bench/out/charlm_lstm")
    ap.add_argument("--minutes", type=float, default=80.0, help="training-time limit (wall clock)")
    ap.add_argument("--threads", type=int, default=1, help="1 holds up best on a shared machine")
    ap.add_argument("--hidden-size", type=int, default=384)
    ap.add_argument("--num-layers", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--steps", type=int, default=1800)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    corpus = load_corpus(args.text, out / "data")
    mcfg = CharRNNConfig(cell="lstm", vocab_size=corpus.vocab.size, hidden_size=args.hidden_size,
                         num_layers=args.num_layers, dropout=args.dropout)
    cfg = CharTrainConfig(seq_len=args.seq_len, batch_size=args.batch_size, max_steps=args.steps, lr=args.lr,
                      warmup_steps=30, eval_interval=100, log_interval=20, max_time_s=args.minutes * 60)
    model = build_char_model(mcfg)
    print(f"LSTM {args.num_layers}x{args.hidden_size} dropout {args.dropout}, "
          f"{sum(p.numel() for p in model.parameters()):,} params, {torch.get_num_threads()} threads; "
          f"train {len(corpus.train):,} val {len(corpus.val):,} chars; {cfg}", flush=True)
    t0 = time.perf_counter()

    def show(r: dict) -> None:
        if r["kind"] == "val":
            print(f"step {r['step']:5d}  train-time {r['elapsed_s']:7.1f} s  wall {r['wall_s']:7.1f} s  "
                  f"cpu {r['cpu_s']:7.1f} s  "
                  f"val {r['val_loss']:.4f} nats/char  {r['val_loss'] / math.log(2):.4f} bits/char", flush=True)
        elif r["step"] % 100 == 0:
            print(f"  step {r['step']:5d} train {r['mean_loss']:.4f}  {r['chars_per_s']:,.0f} chars/s", flush=True)

    res = train(model, corpus, cfg, out, device=torch.device("cpu"),
                extra_state={"model_config": mcfg.to_dict(), "vocab": corpus.vocab.to_dict()}, callback=show)
    val = [r for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "val"]
    best = min(val, key=lambda r: r["val_loss"])
    print(f"done in {time.perf_counter() - t0:.0f} s wall: {res.step} steps, final val {res.val_loss:.4f}, "
          f"best val {best['val_loss']:.4f} nats/char at {best['wall_s'] / 60:.1f} min wall "
          f"(nanoGPT CPU {NANOGPT_CPU} after ~3 min, GPU {NANOGPT_GPU}; target <= 1.50 within 30 min)")
    first_below = next((r for r in val if r["val_loss"] <= 1.50), None)
    if first_below:
        print(f"first <= 1.50 nats/char at step {first_below['step']}, {first_below['wall_s'] / 60:.1f} min wall")
    tr, va = np.asarray(corpus.train, dtype=np.int64), np.asarray(corpus.val, dtype=np.int64)
    kn = KneserNey(KN_ORDER, corpus.vocab.size).fit(tr).nats_per_char(va, context=tr)
    print(f"modified Kneser-Ney, order {KN_ORDER}, same split: {kn:.4f} nats/char")
    plot_curves([("LSTM validation vs wall-clock", [r["wall_s"] / 60 for r in val], [r["val_loss"] for r in val]),
                 ("LSTM validation vs process CPU time", [r["cpu_s"] / 60 for r in val], [r["val_loss"] for r in val])],
                out / "val_vs_time.png", xlabel="minutes",
                hlines=[("nanoGPT CPU 1.88 (~3 min)", NANOGPT_CPU), ("nanoGPT GPU 1.47", NANOGPT_GPU),
                        ("target 1.50", 1.50), (f"Kneser-Ney order {KN_ORDER}: {kn:.3f}", kn)])


if __name__ == "__main__":
    main()
