"""Benchmark: the char-RNN lab on tiny-shakespeare — RNN vs GRU vs LSTM at equal parameters and
equal training time, gradient flow through time, and the interpretable-cell search.

Run:  .venv/bin/python bench/charlm_lab.py [--seconds 50] [--hidden-size 128] [--threads 1]
          [--out bench/out/charlm_lab]

1. `experiment recurrent` in equal-time mode: each cell trains for ``--seconds`` of training time
   (evaluation excluded, constant learning rate) at the parameter count of an LSTM of
   ``--hidden-size`` (the RNN's and GRU's hidden sizes solved to match): validation bits/char,
   ‖∂L_T/∂h_(T−50)‖ / ‖∂L_T/∂h_(T−1)‖ at initialisation and after training.
2. `charrnn inspect` on each trained model: surprisal against a 6-gram over the whole validation
   split, and the five best units per text feature over the first ``--chars`` validation characters.
Figures go to ``--out``: gradient_flow.png, bits_per_char.png, lab_CELL.html, summary.json.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from netanatomy.atomic import write_text
from netanatomy.charlm.lab import inspect_checkpoint, render_html
from netanatomy.training.experiments.recurrent import RecurrentConfig, run_recurrent

# The shared copy beside the checkout (/work/main) or beside the worktrees (/work/wt/NAME).
_ROOT = Path(__file__).resolve().parents[1]
DATA = next((p for p in (_ROOT.parent / "shared" / "data" / "tinyshakespeare.txt",
                         _ROOT.parent.parent / "shared" / "data" / "tinyshakespeare.txt") if p.is_file()),
            _ROOT.parent / "shared" / "data" / "tinyshakespeare.txt")
LN2 = math.log(2.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", default=str(DATA))
    ap.add_argument("--out", default="bench/out/charlm_lab")
    ap.add_argument("--seconds", type=float, default=50.0, help="training seconds per cell (default 50)")
    ap.add_argument("--hidden-size", type=int, default=128, help="the LSTM's hidden size; sets the budget")
    ap.add_argument("--num-layers", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--lags", type=int, default=100)
    ap.add_argument("--chars", type=int, default=3000, help="validation characters searched for cells")
    ap.add_argument("--threads", type=int, default=1, help="1 holds up best on a shared machine")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    t0 = time.perf_counter()
    cfg = RecurrentConfig(text=args.text, out_dir=str(out), hidden_size=args.hidden_size, num_layers=args.num_layers,
                          steps=10**9, max_time_s=args.seconds, seq_len=args.seq_len, batch_size=args.batch_size,
                          lr=args.lr, lags=args.lags, device="cpu")
    run_recurrent(cfg, log=lambda s: print(s, flush=True))
    exp = json.loads((out / "recurrent.json").read_text(encoding="utf-8"))

    print(f"\n== equal parameters, equal time ({args.seconds:g} s of training each, {args.threads} thread(s), "
          f"batch {args.batch_size} x {args.seq_len}, AdamW {args.lr} constant) ==")
    print(f"{'cell':<5} {'hidden':>6} {'params':>8} {'steps':>6} {'val bits/char':>13} "
          f"{'dh lag50/lag1 init':>19} {'trained':>10}")
    for c in exp["cells"]:
        r = c["dh_lag50_over_lag1"]
        print(f"{c['cell'].upper():<5} {c['hidden_size']:>6} {c['params']:>8,} {c['steps']:>6} "
              f"{c['val_bits_per_char']:>13.4f} {r['init']:>19.3g} {r['trained']:>10.3g}")
        for s in c["spectrum_trained"]:
            print(f"      W_hh: spectral radius {s['spectral_radius']:.3f}, sigma_max {s['sigma_max']:.3f} (trained); "
                  + ", ".join(f"{x['spectral_radius']:.3f} / {x['sigma_max']:.3f} at init" for x in c["spectrum_init"]))

    summary: dict[str, object] = {"experiment": {k: exp[k] for k in ("budget", "vocab_size", "train_chars", "val_chars")},
                                  "cells": {}}
    for c in exp["cells"]:
        cell = c["cell"]
        res = inspect_checkpoint(out / cell / "ckpt.pt", order=6, chars=args.chars, train_text=args.text)
        write_text(out / f"lab_{cell}.html", render_html(res))
        assert res.totals is not None
        print(f"\n== {cell.upper()}: validation {res.totals.model_nats / LN2:.4f} bits/char vs 6-gram "
              f"{res.totals.ngram_nats / LN2:.4f}; passage of {args.chars} characters: "
              f"{res.model.mean_bits:.4f} vs {res.ngram.mean_bits:.4f} ==")
        print("five best units per feature (Pearson r):")
        for f in res.search:
            best = ", ".join(f"{u.unit} {u.r:+.2f}" for u in f.best) if f.present else "absent from the passage"
            print(f"  {f.feature:17s} {best}")
        summary["cells"][cell] = {  # type: ignore[index]
            "val_bits_per_char": c["val_bits_per_char"], "params": c["params"], "hidden_size": c["hidden_size"],
            "steps": c["steps"], "dh_lag50_over_lag1": c["dh_lag50_over_lag1"],
            "ngram6_val_bits_per_char": res.totals.ngram_nats / LN2,
            "cells": {f.feature: [(u.unit, u.r) for u in f.best] for f in res.search if f.present},
        }
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"\nfigures in {out}/ (gradient_flow.png, bits_per_char.png, lab_*.html); "
          f"{time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
