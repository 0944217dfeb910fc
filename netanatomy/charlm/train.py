"""Training loop: truncated back-propagation through time, knowing nothing of the model.

The model is any ``nn.Module`` whose ``forward(idx, h)`` returns ``(logits, h)``; the loop
carries ``h`` from one chunk to the next (detached, which is what makes the back-propagation
"truncated": gradients flow through ``seq_len`` steps, the state through the whole text).

Everything a run needs to continue is in the checkpoint: weights, optimizer and scheduler
state, step, RNG states, the batcher's position and the carried hidden state, and the
running loss sums of the current log interval; so ``resume`` reproduces the losses of an
uninterrupted run exactly (same device, same thread count). Config, schedule, checkpoint format,
metrics log and plots are the training core's (:mod:`netanatomy.training`), shared with the image
trainer; the corpus, the batches, the hidden state and the samples are this trainer's own.

At each evaluation the run samples text from a fixed seed and prime, so that its metrics show
the text going from noise to words; at the end it stores the temperature table.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netanatomy.atomic import write_text
from netanatomy.charlm.batches import TBPTTBatches, eval_streams
from netanatomy.charlm.checkpoint import CHECKPOINT_NAME, save_checkpoint
from netanatomy.charlm.corpus import Corpus
from netanatomy.charlm.sample import TemperatureSample, generate, temperature_table
from netanatomy.training.checkpoint import capture_rng, restore_rng
from netanatomy.training.config import CharTrainConfig
from netanatomy.training.metrics import MetricsLogger, metrics_path
from netanatomy.training.schedule import build_scheduler

#: Optimizers by name: the classes behind :data:`netanatomy.training.config.CHAR_OPTIMIZERS`.
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "adagrad": torch.optim.Adagrad,
}
#: The earlier name of :class:`CharTrainConfig`, kept for callers of this module.
TrainConfig = CharTrainConfig
LN2 = math.log(2.0)
#: The temperature table of a finished run, in its run directory.
TEMPERATURES_NAME = "temperatures.json"


Hidden = Any  # a tensor or a tuple of tensors (the LSTM's (h, c))


def detach_hidden(h: Hidden) -> Hidden:
    """Stop the gradient at the chunk boundary but keep the state (truncated BPTT)."""
    if h is None:
        return None
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(detach_hidden(x) for x in h)


def _hidden_to(h: Hidden, device: torch.device | str) -> Hidden:
    if h is None:
        return None
    if isinstance(h, torch.Tensor):
        return h.to(device)
    return tuple(_hidden_to(x, device) for x in h)


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy in nats per character over every position of every row."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction=reduction)


@torch.no_grad()
def evaluate(model: nn.Module, tokens: Any, batch_size: int, seq_len: int, device: torch.device) -> float:
    """Mean loss in nats per character on ``tokens``, the hidden state carried through it."""
    was_training = model.training
    model.eval()
    try:
        total, count, h = 0.0, 0, None
        for x, y in eval_streams(tokens, batch_size, seq_len):
            logits, h = model(x.to(device), h)
            total += float(sequence_loss(logits, y.to(device), reduction="sum"))
            count += y.numel()
        return total / max(1, count)
    finally:
        model.train(was_training)


@dataclass
class TrainResult:
    step: int
    train_loss: float
    val_loss: float | None
    elapsed_s: float
    stopped_early: bool
    #: Samples at 0.5, 1.0, 1.5 (``cfg.sample_temperatures``) with their entropy per character,
    #: made at the end of the run (also in ``RUN_DIR/temperatures.json``); empty without samples.
    temperature_table: list[TemperatureSample] = field(default_factory=list)


def train(
    model: nn.Module,
    corpus: Corpus,
    cfg: CharTrainConfig,
    run_dir: str | Path,
    *,
    device: torch.device,
    extra_state: dict[str, Any],
    resume_state: dict[str, Any] | None = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
    extra_eval: Callable[[nn.Module], dict[str, float]] | None = None,
) -> TrainResult:
    """Train ``model`` on ``corpus`` with truncated BPTT, writing metrics and checkpoints.

    Args:
        model: forward ``(idx, h) -> (logits, h)``; moved to ``device``.
        corpus: memory-mapped tokens with their train/validation split.
        cfg: the hyper-parameters.
        run_dir: gets ``metrics.jsonl`` (one JSON record per log/eval), ``ckpt.pt`` and, at the
            end, ``temperatures.json``. ``elapsed_s`` in the records is training time
            (evaluation excluded); ``wall_s`` counts everything since the run began, ``cpu_s``
            the CPU time of this process (all threads; on a shared machine it says what the run
            would take on idle cores). Every ``val`` record holds a ``sample``: ``cfg.sample_chars``
            characters after ``cfg.sample_prime`` at temperature 1, always with the seed
            ``cfg.seed``, so that the samples of successive evaluations differ only by what the
            model has learned (noise, then words, then verse).
        device: where to train.
        extra_state: stored as-is in every checkpoint (the model config, the vocabulary).
        resume_state: a loaded checkpoint to continue from exactly.
        callback: called with every metrics record (progress bars, printing).
        extra_eval: more validation figures (e.g. the loss at chosen positions), computed at
            every evaluation (in eval mode, without gradients) and added to its record.
    """
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    if cfg.sample_chars:
        corpus.vocab.encode(cfg.sample_prime)  # a prime outside the vocabulary fails now, not at the first evaluation
    if resume_state is None:
        torch.manual_seed(cfg.seed)
    model.to(device).train()
    kwargs: dict[str, Any] = {"lr": cfg.lr}
    if cfg.weight_decay:
        kwargs["weight_decay"] = cfg.weight_decay
    optimizer = OPTIMIZERS[cfg.optimizer](model.parameters(), **kwargs)
    scheduler = build_scheduler(optimizer, cfg.max_steps, cfg.schedule, cfg.warmup_steps, cfg.milestones, cfg.gamma,
                                min_factor=min(cfg.min_lr, cfg.lr) / cfg.lr)
    batches = TBPTTBatches(corpus.train, cfg.batch_size, cfg.seq_len, torch.Generator().manual_seed(cfg.seed))

    step, elapsed, wall, cpu, h = 0, 0.0, 0.0, 0.0, None
    loss_sum, loss_count, best_val = 0.0, 0, math.inf
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        batches.load_state_dict(resume_state["data_position"])
        restore_rng(resume_state["rng"])
        h = _hidden_to(resume_state["hidden"], device)
        step, elapsed = int(resume_state["step"]), float(resume_state["elapsed_s"])
        wall, cpu = float(resume_state["wall_s"]), float(resume_state["cpu_s"])
        loss_sum, loss_count = float(resume_state["loss_sum"]), int(resume_state["loss_count"])
        best_val = float(resume_state["best_val_loss"])

    # A fresh run starts a fresh log; a resumed one drops the records written after its
    # checkpoint (a run killed outright logged steps it now redoes).
    log = MetricsLogger(metrics_path(run, "jsonl"), "step", resume_at=None if resume_state is None else step)

    def emit(record: dict[str, Any]) -> None:
        log.log(record)
        if callback is not None:
            callback(record)

    def checkpoint() -> None:
        save_checkpoint(
            {
                **extra_state,
                "config": cfg.to_dict(),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "data_position": batches.state_dict(),
                "rng": capture_rng(),
                "hidden": h,
                "step": step,
                "elapsed_s": elapsed,
                "wall_s": time.perf_counter() - wall_start,
                "cpu_s": cpu + time.process_time() - cpu_start,
                "loss_sum": loss_sum,
                "loss_count": loss_count,
                "best_val_loss": best_val,
            },
            run / CHECKPOINT_NAME,
        )

    last_train = math.nan
    val_loss: float | None = None
    stopped = False
    chars_in_interval, t_interval = 0, time.perf_counter()
    t_start = time.perf_counter() - elapsed
    wall_start = time.perf_counter() - wall
    cpu_start = time.process_time()
    # Ctrl-C only raises a flag; the loop saves a checkpoint at the next step boundary, so the
    # saved state is never that of a half-done step and --resume stays exact.
    interrupted = threading.Event()
    restore = None
    if threading.current_thread() is threading.main_thread():
        restore = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.set())
    try:
        while step < cfg.max_steps:
            if interrupted.is_set():
                checkpoint()
                raise KeyboardInterrupt
            x, y, new_epoch = batches.next()
            if new_epoch:
                h = None  # the streams jumped: the carried state no longer belongs to them
            x, y = x.to(device), y.to(device)
            logits, h = model(x, h)
            loss = sequence_loss(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            h = detach_hidden(h)
            step += 1
            last_train = float(loss.item())
            loss_sum += last_train
            loss_count += 1
            chars_in_interval += y.numel()
            elapsed = time.perf_counter() - t_start

            if step % cfg.log_interval == 0 or step == cfg.max_steps:
                now = time.perf_counter()
                mean = loss_sum / loss_count
                emit({
                    "kind": "train", "step": step, "loss": last_train, "mean_loss": mean,
                    "bpc": mean / LN2, "lr": scheduler.get_last_lr()[0],
                    "chars_per_s": chars_in_interval / max(1e-9, now - t_interval), "elapsed_s": elapsed,
                })
                loss_sum, loss_count, chars_in_interval, t_interval = 0.0, 0, 0, now
            out_of_time = cfg.max_time_s > 0 and elapsed >= cfg.max_time_s
            if step % cfg.eval_interval == 0 or step == cfg.max_steps or out_of_time:
                val_tokens = corpus.val[: cfg.eval_chars + 1] if cfg.eval_chars else corpus.val
                t_eval = time.perf_counter()
                if len(val_tokens) >= 2:
                    val_loss = evaluate(model, val_tokens, cfg.batch_size, cfg.seq_len, device)
                    best_val = min(best_val, val_loss)
                    record = {"kind": "val", "step": step, "val_loss": val_loss, "val_bpc": val_loss / LN2,
                              "elapsed_s": elapsed, "wall_s": time.perf_counter() - wall_start,
                              "cpu_s": cpu + time.process_time() - cpu_start}
                    if extra_eval is not None:
                        model.eval()
                        with torch.no_grad():
                            record.update(extra_eval(model))
                        model.train()
                    if cfg.sample_chars:
                        # Its own generator, seeded the same each time: the training RNG is
                        # untouched (resume stays exact) and only the weights change the text.
                        record["sample"] = generate(model, corpus.vocab, cfg.sample_prime, cfg.sample_chars,
                                                    temperature=1.0, seed=cfg.seed, device=device)
                    emit(record)
                # Evaluation time is not training time: keep it out of the clock and the rate.
                t_start += time.perf_counter() - t_eval
                t_interval += time.perf_counter() - t_eval
                checkpoint()
            if out_of_time:
                stopped = True
                break
    finally:
        if restore is not None:
            signal.signal(signal.SIGINT, restore)
    table = write_temperature_table(model, corpus, cfg, run, step, device) if cfg.sample_chars else []
    return TrainResult(step=step, train_loss=last_train, val_loss=val_loss, elapsed_s=elapsed, stopped_early=stopped,
                       temperature_table=table)


def write_temperature_table(
    model: nn.Module, corpus: Corpus, cfg: CharTrainConfig, run_dir: str | Path, step: int, device: torch.device
) -> list[TemperatureSample]:
    """The temperature table of ``model`` (:func:`~netanatomy.charlm.sample.temperature_table`
    with the run's prime, length and seed), written to ``RUN_DIR/temperatures.json``."""
    table = temperature_table(model, corpus.vocab, cfg.sample_prime, cfg.sample_chars,
                              temperatures=cfg.sample_temperatures, seed=cfg.seed, device=device)
    payload = {"step": step, "prime": cfg.sample_prime, "length": cfg.sample_chars, "seed": cfg.seed,
               "samples": [row.to_dict() for row in table]}
    write_text(Path(run_dir) / TEMPERATURES_NAME, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return table


def read_temperature_table(run_dir: str | Path) -> list[TemperatureSample]:
    """The table a finished run stored (``[]`` when it has none)."""
    p = Path(run_dir) / TEMPERATURES_NAME
    if not p.is_file():
        return []
    return [TemperatureSample(**row) for row in json.loads(p.read_text(encoding="utf-8"))["samples"]]
