"""Benchmark: training throughput (characters/s) of the PyTorch char-RNN against a
min-char-rnn-style numpy loop at the same model size (vanilla RNN, hidden 100, sequence 25).

Run:  .venv/bin/python bench/charlm_throughput.py [--threads 1]

Both loops run in this process, one after the other, on the same text (tiny-shakespeare), with
the same number of threads. Rates are reported per wall-clock second and per CPU second (the
machine may be shared; CPU time is what the loop itself used). Target of issue 4: >= 20x.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--text", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"))
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--numpy-steps", type=int, default=400)
ap.add_argument("--torch-chars", type=int, default=2_000_000, help="characters per torch configuration")
args = ap.parse_args()
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = str(args.threads)  # before numpy/torch load their BLAS

import sys  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from netanatomy.charlm.corpus import load_corpus  # noqa: E402
from netanatomy.charlm.train import train  # noqa: E402
from netanatomy.training.config import CharTrainConfig  # noqa: E402
from netanatomy.zoo.charrnn import CharRNNConfig, build_char_model  # noqa: E402

# The numpy min-char-rnn loop is the test suite's oracle, kept with the tests (tests/reference_numpy.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_numpy import train_adagrad  # noqa: E402

H, T = 100, 25


def main() -> None:
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = load_corpus(args.text, Path(tmp) / "data")
        tokens = np.asarray(corpus.train, dtype=np.int64)
        V = corpus.vocab.size

        w0, c0 = time.perf_counter(), time.process_time()
        _, losses = train_adagrad(tokens, V, hidden_size=H, seq_len=T, steps=args.numpy_steps)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        n = args.numpy_steps * T
        base_wall, base_cpu = n / wall, n / cpu
        print(f"numpy min-char-rnn loop  H={H} T={T} batch 1: {base_wall:9,.0f} chars/s wall  {base_cpu:9,.0f} chars/CPU-s "
              f"(loss {losses[0]:.2f} -> {np.mean(losses[-50:]):.2f})", flush=True)

        for batch, opt in [(1, "adagrad"), (32, "adagrad"), (128, "adagrad"), (512, "adagrad"), (512, "adam")]:
            steps = max(20, args.torch_chars // (batch * T)) if batch > 1 else 2000
            torch.manual_seed(0)
            mcfg = CharRNNConfig(cell="rnn", vocab_size=V, hidden_size=H, num_layers=1)
            cfg = CharTrainConfig(seq_len=T, batch_size=batch, max_steps=steps, optimizer=opt, lr=0.1 if opt == "adagrad" else 2e-3,
                              schedule="constant", eval_interval=10**9, log_interval=10**9, eval_chars=1)
            model = build_char_model(mcfg)
            w0, c0 = time.perf_counter(), time.process_time()
            res = train(model, corpus, cfg, Path(tmp) / f"run{batch}{opt}", device=torch.device("cpu"),
                        extra_state={"model_config": mcfg.to_dict(), "vocab": corpus.vocab.to_dict()})
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            n = steps * batch * T
            print(f"torch nn.RNN  H={H} T={T} batch {batch:3d} {opt:7s}: {n / wall:9,.0f} chars/s wall  {n / cpu:9,.0f} chars/CPU-s"
                  f"  = {n / wall / base_wall:5.1f}x wall, {n / cpu / base_cpu:5.1f}x CPU  (final loss {res.train_loss:.2f})",
                  flush=True)
    print(f"threads: {args.threads}; target >= 20x")


if __name__ == "__main__":
    main()
