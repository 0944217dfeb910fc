"""``netanatomy charrnn train|sample|hello|markov``: character-level RNN, LSTM and GRU language models."""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

from netanatomy.cli import common
from netanatomy.cli.lab import register_charrnn
from netanatomy.training.config import (
    CHAR_MODELS,
    CHAR_OPTIMIZERS,
    SCHEDULES,
    CharTrainConfig,
    MarkovDemoConfig,
    default_of,
)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``charrnn`` and its sub-commands."""
    p = sub.add_parser(
        "charrnn",
        help="character-level RNN/LSTM/GRU language models (Lecture 10)",
        description="Train, sample and explain character-level RNN, LSTM and GRU language models.",
    )
    cmds = p.add_subparsers(dest="charrnn_command", metavar="COMMAND")
    cmds.required = True
    _register_train(cmds)
    _register_sample(cmds)
    _register_hello(cmds)
    _register_markov(cmds)
    register_charrnn(cmds)  # the lab: inspect, gradients


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    """``--prime``, ``--length``, ``--temperature`` and ``--seed``: shared with ``ngram sample``."""
    p.add_argument("--prime", default="", help="text to start from (its characters must be in the vocabulary)")
    p.add_argument("--length", type=int, default=500, help="characters to generate (default: 500)")
    p.add_argument("--temperature", type=float, default=1.0, help="softmax temperature; 0 = argmax")
    common.add_seed(p, help=f"random seed of the draws (default {common.DEFAULT_SEED})")


def add_corpus_args(p: argparse.ArgumentParser) -> None:
    """How a text becomes tokens and where it splits: shared with ``ngram train``."""
    d = partial(default_of, CharTrainConfig)
    p.add_argument("--val-fraction", type=float, default=d("val_fraction"),
                   help=f"last fraction of the text for validation (default {d('val_fraction')})")
    p.add_argument("--byte-level", action="store_true", help="tokens are bytes: for binary or non-UTF-8 files")
    p.add_argument("--max-vocab", type=int, default=d("max_vocab"),
                   help=f"refuse a text with more distinct characters than this (binary guard; default {d('max_vocab')})")


# ----------------------------------------------------------------------------- train
def _register_train(cmds: argparse._SubParsersAction[Any]) -> None:
    t = cmds.add_parser(
        "train",
        help="train on a text file (truncated BPTT), with checkpoints and --resume",
        description="Train a char model on TEXT_FILE: the first 90%% trains, the last 10%% validates "
        "(nanoGPT's shakespeare_char split). Writes RUN_DIR/ckpt.pt, metrics.jsonl and loss.png.",
    )
    t.add_argument("text", metavar="TEXT_FILE", help="a UTF-8 text file (any file with --byte-level)")
    common.add_run_dir(t, help="run directory: checkpoint, metrics, plots (default runs/MODEL-TEXT; "
                       "with --resume, the resumed run's directory)")
    common.add_resume(t)
    d = partial(default_of, CharTrainConfig)
    t.add_argument("--model", default=d("model"), metavar="MODEL",
                   help=f"one of {', '.join(CHAR_MODELS)} (the zoo's names; default {d('model')})")
    t.add_argument("--hidden-size", type=int, default=d("hidden_size"), help=f"hidden units per layer (default: {d('hidden_size')})")
    t.add_argument("--num-layers", type=int, default=d("num_layers"), help=f"stacked layers (default: {d('num_layers')})")
    t.add_argument("--dropout", type=float, default=d("dropout"), help="dropout between layers and before the decoder")
    t.add_argument("--embedding-dim", type=int, default=d("embedding_dim"),
                   help="learned embedding size; 0 = one-hot input as in the lecture (default)")
    t.add_argument("--seq-len", type=int, default=d("seq_len"), help=f"BPTT length: characters per chunk (default: {d('seq_len')})")
    t.add_argument("--batch-size", type=int, default=d("batch_size"), help=f"parallel text streams (default: {d('batch_size')})")
    # None, so that --resume can tell "not given" (keep the run's) from a new length.
    t.add_argument("--steps", type=int, default=None, help=f"training steps (default: {d('max_steps')})")
    t.add_argument("--optimizer", choices=CHAR_OPTIMIZERS, default=d("optimizer"))
    t.add_argument("--lr", type=float, default=d("lr"), help=f"peak learning rate (default: {d('lr')})")
    t.add_argument("--min-lr", type=float, default=d("min_lr"), help="learning rate at the end of the cosine decay")
    t.add_argument("--schedule", choices=SCHEDULES, default=d("schedule"))
    t.add_argument("--milestones", default=",".join(str(m) for m in d("milestones")),
                   help="step schedule: fractions of training (default %(default)s)")
    t.add_argument("--gamma", type=float, default=d("gamma"), help="step schedule: factor at each milestone")
    t.add_argument("--warmup", type=int, default=d("warmup_steps"), help="linear warm-up steps")
    t.add_argument("--weight-decay", type=float, default=d("weight_decay"))
    t.add_argument("--grad-clip", type=float, default=d("grad_clip"), help="clip the gradient norm to this (0: off)")
    t.add_argument("--eval-interval", type=int, default=d("eval_interval"), help="validate (and checkpoint) every N steps")
    t.add_argument("--eval-chars", type=int, default=d("eval_chars"), help="validation characters per evaluation (0: all)")
    t.add_argument("--log-interval", type=int, default=d("log_interval"), help="log the training loss every N steps")
    t.add_argument("--sample-chars", type=int, default=d("sample_chars"),
                   help="characters sampled at each evaluation and per temperature at the end (0: none; default %(default)s)")
    t.add_argument("--sample-prime", default=d("sample_prime"), help="text those samples start from")
    add_corpus_args(t)
    t.add_argument("--max-time", type=float, default=None, help="stop after this many seconds of training")
    common.add_seed(t)
    common.add_device(t)
    common.add_threads(t)
    common.add_quiet(t)
    common.add_format(t)
    t.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    import math
    from pathlib import Path

    import torch
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from netanatomy.charlm.checkpoint import CHECKPOINT_NAME
    from netanatomy.charlm.run import cell_of, prepare_run, run_dir_of
    from netanatomy.charlm.train import train
    from netanatomy.devices import pick_device, set_threads
    from netanatomy.errors import UserError
    from netanatomy.training.plots import plot_char_run as plot_run

    cell_of(args.model)  # an old name (lstm) is refused with the new one before any work
    device = pick_device(args.device)
    set_threads(args.threads)
    if args.run_dir:
        run_dir = Path(args.run_dir)
    elif args.resume:
        run_dir = run_dir_of(args.resume)
    else:
        run_dir = Path("runs") / f"{args.model}-{Path(args.text).stem}"
    try:
        milestones = tuple(float(m) for m in args.milestones.split(","))
    except ValueError:
        raise UserError(f"--milestones takes comma-separated fractions such as 0.5,0.75, got {args.milestones!r}") from None
    config = CharTrainConfig(
        model=args.model, hidden_size=args.hidden_size, num_layers=args.num_layers, dropout=args.dropout,
        embedding_dim=args.embedding_dim, val_fraction=args.val_fraction, byte_level=args.byte_level,
        max_vocab=args.max_vocab, seq_len=args.seq_len, batch_size=args.batch_size,
        max_steps=default_of(CharTrainConfig, "max_steps") if args.steps is None else args.steps,
        optimizer=args.optimizer, lr=args.lr, min_lr=args.min_lr, schedule=args.schedule, milestones=milestones,
        gamma=args.gamma, warmup_steps=args.warmup, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
        eval_interval=args.eval_interval, eval_chars=args.eval_chars, log_interval=args.log_interval, seed=args.seed,
        max_time_s=0.0 if args.max_time is None else args.max_time, sample_chars=args.sample_chars,
        sample_prime=args.sample_prime,
    )
    run = prepare_run(args.text, run_dir, config, resume=args.resume, max_steps=args.steps, max_time_s=args.max_time)
    console = Console(stderr=True)
    mc, cfg = run.model_config, run.config
    n_params = sum(p.numel() for p in run.model.parameters())
    if not args.quiet:
        console.print(
            f"{mc.cell.upper()} {mc.num_layers}x{mc.hidden_size}, {n_params:,} parameters, "
            f"vocabulary {run.corpus.vocab.size}, {len(run.corpus.train):,} train / {len(run.corpus.val):,} validation "
            f"symbols, device {device}, {torch.get_num_threads()} threads"
            + (f"; resuming at step {run.start_step}" if run.resume_state else ""))
    progress = Progress(TextColumn("step {task.completed}/{task.total}"), BarColumn(), TextColumn("{task.fields[info]}"),
                        TimeElapsedColumn(), console=console, disable=args.quiet)
    task = progress.add_task("train", total=cfg.max_steps, completed=run.start_step, info="")

    def report(record: dict[str, Any]) -> None:
        if record["kind"] == "train":
            progress.update(task, completed=record["step"],
                            info=f"loss {record['mean_loss']:.3f}  {record['bpc']:.3f} bits/char  "
                                 f"{record['chars_per_s']:,.0f} chars/s")
        elif not args.quiet:
            progress.console.print(f"step {record['step']}: validation {record['val_loss']:.4f} nats/char, "
                                   f"{record['val_bpc']:.4f} bits/char ({record['elapsed_s']:.0f} s of training)")

    try:
        with progress:
            result = train(run.model, run.corpus, cfg, run_dir, device=device, extra_state=run.extra_state,
                           resume_state=run.resume_state, callback=report)
    except KeyboardInterrupt:
        plot_run(run_dir)
        console.print(f"interrupted; checkpoint saved in {run_dir / CHECKPOINT_NAME}. Continue with "
                      f"`netanatomy charrnn train {args.text} --resume {run_dir}`.")
        return 130
    png = plot_run(run_dir)
    ckpt, metrics = run_dir / CHECKPOINT_NAME, run_dir / "metrics.jsonl"
    if args.format == "json":
        print(common.json_text("charrnn_train", {
            "model": f"char_{mc.cell}", "model_config": mc.to_dict(),
            "parameters": n_params, "run_dir": str(run_dir), "steps": result.step, "stopped_early": result.stopped_early,
            "elapsed_s": result.elapsed_s, "train_loss": result.train_loss, "val_loss": result.val_loss,
            "val_bpc": None if result.val_loss is None else result.val_loss / math.log(2),
            "checkpoint": str(ckpt), "metrics": str(metrics), "plot": str(png)}), end="")
        return 0
    val = "n/a" if result.val_loss is None else f"{result.val_loss:.4f} nats/char ({result.val_loss / math.log(2):.4f} bits/char)"
    why = " (time limit)" if result.stopped_early else ""
    print(f"trained {result.step} steps{why} in {result.elapsed_s:.0f} s; validation {val}")
    print(f"checkpoint {ckpt}, metrics {metrics}, loss curve {png}")
    return 0


# ----------------------------------------------------------------------------- sample
def _register_sample(cmds: argparse._SubParsersAction[Any]) -> None:
    s = cmds.add_parser(
        "sample",
        help="generate text from a checkpoint (--explain shows the softmax behind every character)",
        description="Generate text from a trained model; loads on any device (a GPU checkpoint samples on a CPU).",
    )
    s.add_argument("checkpoint", metavar="CKPT", help="a ckpt.pt file or its run directory")
    add_sampling_args(s)
    s.add_argument("--top-k", type=int, default=None, help="sample only among the k most probable characters")
    s.add_argument("--explain", action="store_true",
                   help="per character: the top candidates with their probabilities and the one drawn")
    s.add_argument("--candidates", type=int, default=5, help="candidates shown by --explain (default: 5)")
    common.add_device(s)
    common.add_format(s)
    common.add_output(s)
    s.set_defaults(handler=_sample)


def _sample(args: argparse.Namespace) -> int:
    from netanatomy.charlm.checkpoint import load_model
    from netanatomy.charlm.sample import Step, explain_line, generate
    from netanatomy.devices import pick_device

    device = pick_device(args.device)
    model, vocab, state = load_model(args.checkpoint, device)
    steps: list[Step] = []
    text = generate(model, vocab, args.prime, args.length, temperature=args.temperature, top_k=args.top_k,
                    seed=args.seed, device=device, on_step=steps.append if args.explain else None)
    cfg = state["model_config"]
    if args.format == "json":
        payload: dict[str, Any] = {
            "checkpoint": str(args.checkpoint), "model": f"char_{cfg['cell']}", "step": state["step"],
            "prime": args.prime, "length": args.length, "temperature": args.temperature, "top_k": args.top_k,
            "seed": args.seed, "text": text}
        if args.explain:
            payload["explain"] = [_step_record(s, vocab, args.candidates) for s in steps]
        common.emit(common.json_text("charrnn_sample", payload), args.output)
        return 0
    lines = []
    if args.explain:
        lines += [f"# {cfg['cell'].upper()} {cfg['num_layers']}x{cfg['hidden_size']} at step {state['step']}; "
                  f"temperature {args.temperature}, top-k {args.top_k or 'all'}, seed {args.seed}",
                  "# each line: the character drawn, its probability and rank, then the top candidates of the "
                  "softmax it was drawn from (sampling, not argmax: a lower-ranked character can be drawn)"]
        lines += [explain_line(s, vocab, i, top=args.candidates) for i, s in enumerate(steps)]
        lines.append("# text:")
    lines.append(text)
    common.emit("\n".join(lines), args.output)
    return 0


def _step_record(step: Any, vocab: Any, top: int) -> dict[str, Any]:
    """One generated character for JSON: the draw, its probability and rank, the top candidates."""
    import torch

    order = torch.argsort(step.probs, descending=True, stable=True).tolist()
    return {"drawn": vocab.decode([step.drawn]), "p": float(step.probs[step.drawn]), "rank": order.index(step.drawn) + 1,
            "candidates": [[vocab.decode([i]), float(step.probs[i])] for i in order[:top]]}


# ----------------------------------------------------------------------------- hello, markov
def _register_hello(cmds: argparse._SubParsersAction[Any]) -> None:
    h = cmds.add_parser("hello", help='the lecture\'s toy: a 4-character RNN learns "hello", every matrix shown')
    h.add_argument("--hidden-size", type=int, default=3, help="hidden units (the lecture draws 3)")
    h.add_argument("--steps", type=int, default=300, help="Adagrad steps")
    h.add_argument("--lr", type=float, default=0.1, help="Adagrad learning rate")
    common.add_seed(h)
    h.set_defaults(handler=_hello)


def _hello(args: argparse.Namespace) -> int:
    from netanatomy.charlm.hello import render, train_hello

    print(render(train_hello(hidden_size=args.hidden_size, steps=args.steps, lr=args.lr, seed=args.seed)))
    return 0


def _register_markov(cmds: argparse._SubParsersAction[Any]) -> None:
    m = cmds.add_parser(
        "markov",
        help="the Markov assumption broken: n-grams stay at chance where an LSTM learns",
        description="Synthetic records KEY, GAP random digits, '|', KEY: the character after '|' depends on one "
        "GAP+1 characters back. Compares Kneser-Ney n-grams with an LSTM; writes RUN_DIR/markov.png.",
    )
    common.add_run_dir(m, help="output directory (default: runs/markov)")
    md = partial(default_of, MarkovDemoConfig)
    m.add_argument("--gap", type=int, default=md("gap"), help="random digits between the key and its recall (default %(default)s)")
    m.add_argument("--records", type=int, default=md("records"), help="records in the synthetic text (default %(default)s)")
    m.add_argument("--orders", type=int, nargs="+", default=list(md("orders")), help="n-gram orders to compare (default 3 6 12)")
    m.add_argument("--steps", type=int, default=md("steps"), help="LSTM training steps (default %(default)s)")
    m.add_argument("--hidden-size", type=int, default=md("hidden_size"), help="LSTM hidden units (default %(default)s)")
    common.add_seed(m)
    common.add_threads(m)
    common.add_quiet(m)
    common.add_format(m)
    m.set_defaults(handler=_markov)


def _markov(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from rich.console import Console

    from netanatomy.charlm.markov import MarkovDemoConfig, render, run_demo

    run_dir = args.run_dir or "runs/markov"
    # No --threads: the demo's own choice (one thread, fastest for a model this small).
    threads = {} if args.threads is None else {"threads": args.threads}
    cfg = MarkovDemoConfig(gap=args.gap, records=args.records, orders=tuple(args.orders), steps=args.steps,
                           hidden_size=args.hidden_size, seed=args.seed, **threads)
    console = Console(stderr=True)

    def report(record: dict[str, Any]) -> None:
        if record["kind"] == "val" and not args.quiet:
            console.print(f"LSTM step {record['step']}: loss at the recall {record['recall_loss']:.3f}, "
                          f"over all characters {record['val_loss']:.3f} nats/char")

    result = run_demo(cfg, run_dir, callback=report)
    if args.format == "json":
        print(common.json_text("charrnn_markov", {
            "run_dir": run_dir, "config": {**asdict(cfg), "orders": list(cfg.orders)}, "chance": result.chance,
            "ngram_recall": {str(k): v for k, v in result.ngram_recall.items()},
            "ngram_overall": {str(k): v for k, v in result.ngram_overall.items()},
            "lstm_recall": result.lstm_recall,
            "lstm_curve": [{"step": s, "val_loss": v, "recall_loss": r} for s, v, r in result.lstm_curve]}), end="")
    else:
        print(render(result, cfg, run_dir))
    return 0
