"""Handlers of the ``netanatomy charrnn`` commands (imported only when one runs)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from netanatomy.charlm.checkpoint import CHECKPOINT_NAME, load_checkpoint
from netanatomy.charlm.corpus import Vocabulary, load_corpus
from netanatomy.charlm.train import TrainConfig, train
from netanatomy.devices import pick_device
from netanatomy.errors import UserError
from netanatomy.training.plots import plot_char_run as plot_run
from netanatomy.zoo.charrnn import CharRNNConfig, build_char_model


def _train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        model=f"char_{args.model}",
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        dropout=args.dropout,
        embedding_dim=args.embedding_dim,
        val_fraction=args.val_fraction,
        byte_level=args.byte_level,
        max_vocab=args.max_vocab,
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        max_steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        min_lr=args.min_lr,
        schedule=args.schedule,
        warmup_steps=args.warmup,
        weight_decay=args.weight_decay,
        grad_clip=args.grad_clip,
        eval_interval=args.eval_interval,
        eval_chars=args.eval_chars,
        log_interval=args.log_interval,
        seed=args.seed,
        max_time_s=args.max_time,
    )


def train_command(args: argparse.Namespace) -> int:
    """``netanatomy charrnn train``."""
    console = Console(stderr=True)
    out = Path(args.out)
    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    resume_state: dict[str, Any] | None = None
    if args.resume:
        resume_state = load_checkpoint(out / CHECKPOINT_NAME)
        cfg = TrainConfig.from_dict(resume_state["config"])
        # Only the stopping rules may change on resume (to train longer); anything else would
        # make the continuation differ from the run it continues.
        if args.steps_given:
            cfg.max_steps = args.steps
        if args.max_time_given:
            cfg.max_time_s = args.max_time
        model_cfg = CharRNNConfig(**resume_state["model_config"])
        vocab = Vocabulary.from_dict(resume_state["vocab"])
        if resume_state["step"] >= cfg.max_steps:
            raise UserError(f"{out} already ran {resume_state['step']} of {cfg.max_steps} steps; pass a larger --steps to go on")
    else:
        cfg = _train_config(args)
        vocab = None
    corpus = load_corpus(
        args.text,
        out / "data",
        byte_level=args.byte_level,
        max_vocab=args.max_vocab,
        val_fraction=args.val_fraction,
        vocab=vocab,
        min_train=2 * cfg.seq_len + 2,
        min_val=2 if args.val_fraction > 0 else 0,  # --val-fraction 0: train on everything, no validation
    )
    if resume_state is not None and corpus.vocab.to_dict() != resume_state["vocab"]:
        raise UserError(f"{args.text} does not fit the vocabulary of the run in {out}; resume with the same text")
    if resume_state is None:
        model_cfg = CharRNNConfig(
            cell=args.model,
            vocab_size=corpus.vocab.size,
            hidden_size=args.hidden_size,
            num_layers=args.num_layers,
            dropout=args.dropout,
            embedding_dim=args.embedding_dim,
        )
    torch.manual_seed(cfg.seed)  # the initial weights follow --seed too
    model = build_char_model(model_cfg)
    n_params = sum(p.numel() for p in model.parameters())
    console.print(
        f"{model_cfg.cell.upper()} {model_cfg.num_layers}x{model_cfg.hidden_size}, {n_params:,} parameters, "
        f"vocabulary {corpus.vocab.size}, {len(corpus.train):,} train / {len(corpus.val):,} validation "
        f"symbols, device {device}, {torch.get_num_threads()} threads"
        + (f"; resuming at step {resume_state['step']}" if resume_state else "")
    )
    progress = Progress(
        TextColumn("step {task.completed}/{task.total}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        disable=args.quiet,
    )
    task = progress.add_task("train", total=cfg.max_steps, completed=resume_state["step"] if resume_state else 0, info="")

    def report(record: dict[str, Any]) -> None:
        if record["kind"] == "train":
            progress.update(
                task,
                completed=record["step"],
                info=f"loss {record['mean_loss']:.3f}  {record['bpc']:.3f} bits/char  {record['chars_per_s']:,.0f} chars/s",
            )
        else:
            progress.console.print(
                f"step {record['step']}: validation {record['val_loss']:.4f} nats/char, "
                f"{record['val_bpc']:.4f} bits/char ({record['elapsed_s']:.0f} s of training)"
            )

    extra = {"model_config": model_cfg.to_dict(), "vocab": corpus.vocab.to_dict(), "text": str(args.text)}
    try:
        with progress:
            result = train(model, corpus, cfg, out, device=device, extra_state=extra, resume_state=resume_state,
                           callback=report)
    except KeyboardInterrupt:
        plot_run(out)
        console.print(f"interrupted; checkpoint saved in {out / CHECKPOINT_NAME}. Continue with the same "
                      f"command plus --resume.")
        return 130
    png = plot_run(out)
    val = "n/a" if result.val_loss is None else f"{result.val_loss:.4f} nats/char ({result.val_loss / math.log(2):.4f} bits/char)"
    why = " (time limit)" if result.stopped_early else ""
    print(f"trained {result.step} steps{why} in {result.elapsed_s:.0f} s; validation {val}")
    print(f"checkpoint {out / CHECKPOINT_NAME}, metrics {out / 'metrics.jsonl'}, loss curve {png}")
    return 0


def sample_command(args: argparse.Namespace) -> int:
    """``netanatomy charrnn sample``."""
    from netanatomy.charlm.checkpoint import load_model
    from netanatomy.charlm.sample import explain_line, generate

    device = pick_device(args.device)
    model, vocab, state = load_model(args.checkpoint, device)
    if args.explain:
        cfg = state["model_config"]
        print(f"# {cfg['cell'].upper()} {cfg['num_layers']}x{cfg['hidden_size']} at step {state['step']}; "
              f"temperature {args.temperature}, top-k {args.top_k or 'all'}, seed {args.seed}")
        print("# each line: the character drawn, its probability and rank, then the top candidates of the "
              "softmax it was drawn from (sampling, not argmax: a lower-ranked character can be drawn)")
    steps: list[str] = []

    def explain(step: Any) -> None:
        steps.append(explain_line(step, vocab, len(steps), top=args.candidates))

    text = generate(model, vocab, args.prime, args.length, temperature=args.temperature, top_k=args.top_k,
                    seed=args.seed, device=device, on_step=explain if args.explain else None)
    if args.explain:
        print("\n".join(steps))
        print("# text:")
    print(text)
    return 0


def hello_command(args: argparse.Namespace) -> int:
    """``netanatomy charrnn hello``."""
    from netanatomy.charlm.hello import render, train_hello

    print(render(train_hello(hidden_size=args.hidden_size, steps=args.steps, lr=args.lr, seed=args.seed)))
    return 0


def markov_command(args: argparse.Namespace) -> int:
    """``netanatomy charrnn markov``."""
    from netanatomy.charlm.markov import MarkovDemoConfig, render, run_demo

    cfg = MarkovDemoConfig(gap=args.gap, records=args.records, orders=tuple(args.orders), steps=args.steps,
                           hidden_size=args.hidden_size, seed=args.seed, threads=args.threads)
    console = Console(stderr=True)

    def report(record: dict[str, Any]) -> None:
        if record["kind"] == "val" and not args.quiet:
            console.print(f"LSTM step {record['step']}: loss at the recall {record['recall_loss']:.3f}, "
                          f"over all characters {record['val_loss']:.3f} nats/char")

    result = run_demo(cfg, args.out, callback=report)
    print(render(result, cfg, args.out))
    return 0
