"""The image-classifier training loop: knows nothing of the model it trains, only of images and labels.

``train(ImageTrainConfig(...))`` builds the zoo model for the data set (``num_classes`` and
``in_channels`` from the data, the architecture's body unchanged), trains it with SGD+momentum or
AdamW under a warm-up + cosine/step schedule, evaluates on the validation split each epoch, and
writes (rank 0 only) ``last.pt`` / ``best.pt`` checkpoints, ``metrics.csv`` (or ``.jsonl``) and
``curves.png`` into ``out_dir``. ``resume=`` continues a run exactly where its last checkpoint
left it: same weights, optimizer moments, schedule position, RNG streams and data order.
Config, schedule, checkpoint format, metrics log and plots are the training core's, shared with
the char-model trainer (see :mod:`netanatomy.training`); what is this trainer's own is here.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DistributedSampler, TensorDataset

from netanatomy.errors import UserError
from netanatomy.training import checkpoint as ckpt
from netanatomy.training.augment import Augment
from netanatomy.training.config import IMAGE_OPTIMIZERS as OPTIMIZERS
from netanatomy.training.config import METRICS_FORMATS, ImageTrainConfig
from netanatomy.training.datasets import DatasetInfo, load_dataset
from netanatomy.training.distributed import (
    DistContext,
    all_reduce_sum,
    init_distributed,
    unwrap,
    wrap_model,
)
from netanatomy.training.metrics import MetricsLogger, metrics_path
from netanatomy.training.schedule import SCHEDULES, build_scheduler

__all__ = ["METRICS_FORMATS", "OPTIMIZERS", "SCHEDULES", "ImageTrainConfig", "TrainConfig", "TrainResult", "train"]
#: The earlier name of :class:`~netanatomy.training.config.ImageTrainConfig`, kept for callers.
TrainConfig = ImageTrainConfig


@dataclass
class TrainResult:
    """What a run leaves behind in memory (the files are in ``config.out_dir``)."""

    model: nn.Module
    info: DatasetInfo
    config: ImageTrainConfig
    #: One dict per epoch: epoch, lr, train_loss, train_acc, val_loss, val_acc, images_per_s, ...
    history: list[dict[str, float]] = field(default_factory=list)
    #: Training loss of every step of this process's run (rank 0), for fine-grained curves.
    step_losses: list[float] = field(default_factory=list)
    diverged: bool = False
    #: False on the DDP ranks other than 0 (which write nothing).
    is_main: bool = True


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


EpochCallback = Callable[[int, dict[str, float]], None]
# Weight of each auxiliary classifier's loss in GoogLeNet (Szegedy et al. 2015, §5: 0.3).
AUX_LOSS_WEIGHT = 0.3


def classification_loss(output: Any, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, loss)``: cross-entropy, plus the weighted auxiliary losses when the model
    returns a tuple (main logits first, as GoogLeNet's training-mode outputs)."""
    if isinstance(output, torch.Tensor):
        return output, F.cross_entropy(output, y)
    main, *aux = output
    loss = F.cross_entropy(main, y)
    for a in aux:
        loss = loss + AUX_LOSS_WEIGHT * F.cross_entropy(a, y)
    return main, loss


@torch.no_grad()
def evaluate(model: nn.Module, data: TensorDataset, batch_size: int = 512) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` (in eval mode, no augmentation) on ``data``."""
    x, y = data.tensors
    device = next(model.parameters()).device
    sums = _eval_sums(model, x, y, device, contextlib.nullcontext, channels_last=False, batch_size=batch_size)
    loss, correct, n = sums.tolist()
    return loss / max(n, 1), correct / max(n, 1)


def _eval_sums(
    model: nn.Module,
    x_all: torch.Tensor,
    y_all: torch.Tensor,
    device: torch.device,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]],
    channels_last: bool,
    batch_size: int = 512,
) -> torch.Tensor:
    """(loss sum, correct, count) over the images, in eval mode; the model's mode is restored."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    try:
        for i in range(0, len(y_all), batch_size):
            x = x_all[i : i + batch_size].to(device)
            y = y_all[i : i + batch_size].to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast():
                logits = model(x)
            sums[0] += F.cross_entropy(logits.float(), y, reduction="sum").double()
            sums[1] += (logits.argmax(1) == y).sum().double()
            sums[2] += len(y)
    finally:
        model.train(was_training)
    return sums
Data = tuple[TensorDataset, TensorDataset, DatasetInfo]


def train(
    config: ImageTrainConfig,
    *,
    model: nn.Module | None = None,
    data: Data | None = None,
    resume: str | Path | None = None,
    on_epoch_end: EpochCallback | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``config.dataset``.

    Args:
        config: the run's settings; on resume the checkpoint's settings win, except ``epochs``,
            ``out_dir`` and the presentation (``progress``, ``log``, ``save``).
        model: a module to train instead of building ``config.model`` from the zoo (tests,
            experiments with modified heads); it must take the data set's images.
        data: ``(train, val, info)`` already loaded (experiments share one copy between runs).
        resume: a checkpoint written by this trainer; the run continues exactly from it.
        on_epoch_end: called as ``fn(epoch, metrics)`` after each epoch's checkpoint is written.

    Raises:
        TrainingDiverged: the loss became NaN/inf (the last good checkpoint stays on disk).
    """
    state: dict[str, Any] | None = None
    if resume is not None:
        state = ckpt.load_checkpoint(resume, kind=ckpt.IMAGE)
        saved = ImageTrainConfig.from_dict(state["config"])
        if config.model != saved.model:
            raise UserError(
                f"checkpoint {str(resume)!r} is of model {saved.model!r}, not {config.model!r}; "
                f"resume it with `netanatomy train {saved.model} --resume ...`"
            )
        # The run's own settings win, so that it continues as it began; only the length, the
        # output directory and the presentation may change (e.g. train for more epochs).
        saved.epochs, saved.out_dir = config.epochs, config.out_dir
        saved.progress, saved.log, saved.save = config.progress, config.log, config.save
        config = saved
    cfg = config.resolved()
    ctx = init_distributed(cfg.device)
    if cfg.batch_size % ctx.world_size:
        raise UserError(f"--batch-size {cfg.batch_size} is not divisible by the {ctx.world_size} processes")
    torch.manual_seed(cfg.seed)  # weight initialisation: identical on every rank

    train_set, val_set, info = data if data is not None else load_dataset(
        cfg.dataset, cfg.data_dir, val_fraction=cfg.val_fraction, seed=cfg.seed,
        image_size=cfg.image_size, limit=cfg.limit,
    )  # fmt: skip
    if model is None:
        from netanatomy.zoo.registry import create_model

        model_kwargs: dict[str, Any] = {"num_classes": info.num_classes, "in_channels": info.in_channels}
        model = create_model(cfg.model, **model_kwargs)
    else:
        model_kwargs = {}
    run = _Run(cfg, ctx, model, model_kwargs, train_set, val_set, info, state, resume)
    return run.fit(on_epoch_end)


class _Run:
    """One training run's state; ``fit`` is the loop."""

    def __init__(
        self,
        cfg: ImageTrainConfig,
        ctx: DistContext,
        model: nn.Module,
        model_kwargs: dict[str, Any],
        train_set: TensorDataset,
        val_set: TensorDataset,
        info: DatasetInfo,
        state: dict[str, Any] | None,
        resume_path: str | Path | None,
    ) -> None:
        self.cfg, self.ctx, self.info, self.model_kwargs = cfg, ctx, info, model_kwargs
        dev = ctx.device
        self.cuda = dev.type == "cuda"
        self.out = Path(cfg.out_dir)
        x_train, self.y_train = train_set.tensors
        self.x_val, self.y_val = val_set.tensors
        # Small sets live on the GPU for the whole run: no host-to-device copy per step.
        self.data_on_device = self.cuda and x_train.nelement() * x_train.element_size() < 2**31
        if self.data_on_device:
            x_train, self.y_train = x_train.to(dev), self.y_train.to(dev)
        self.x_train = x_train
        self.local_batch = cfg.batch_size // ctx.world_size

        model = model.to(dev)
        if self.cuda and cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.bare = model
        if state is not None:
            ckpt.load_model_state(self.bare, state, resume_path or "")
        self.model = wrap_model(model, ctx, cfg.sync_batchnorm)
        if self.cuda and cfg.compile:
            # DDP first, then compile (the order TorchDynamo's DDP support expects).
            self.model = torch.compile(self.model)  # type: ignore[assignment]

        assert cfg.lr is not None and cfg.weight_decay is not None  # set by resolved()
        params = self.bare.parameters()
        if cfg.optimizer == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
                params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
        else:
            self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        # DistributedSampler gives every epoch a permutation seeded by (seed, epoch): the data
        # order is a pure function of the epoch, identical on resume and across ranks.
        self.sampler: DistributedSampler[Any] = DistributedSampler(
            train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=cfg.seed
        )
        self.steps_per_epoch = math.ceil(len(self.sampler) / self.local_batch)
        total = cfg.epochs * self.steps_per_epoch
        warmup = round(cfg.warmup_epochs * self.steps_per_epoch)
        self.scheduler = build_scheduler(self.optimizer, total, cfg.schedule, warmup, cfg.milestones, cfg.gamma)
        pad = cfg.crop_padding if cfg.crop_padding is not None else max(1, info.image_size[0] // 8)
        self.augment = Augment(padding=pad, hflip=info.hflip) if cfg.augment else None
        # The normalised value of a black pixel, what crop padding shows (see Augment).
        self.fill = -torch.tensor(info.mean) / torch.tensor(info.std)
        self.aug_gen = torch.Generator()
        self.start_epoch, self.history, self.best_acc = 0, [], -1.0
        self.metrics: MetricsLogger | None = None
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            ckpt.restore_rng(state["rng"], {"augment": self.aug_gen})
            self.start_epoch = int(state["epoch"])
            self.history = [dict(h) for h in state["history"]]
            self.best_acc = float(state.get("best_val_acc", -1.0))
            order = state.get("data_position", {})
            if int(order.get("num_train", len(train_set))) != len(train_set):
                raise UserError("the data set differs from the checkpoint's (another size); resume with the same data")

    # ---- the loop ----------------------------------------------------------------------------

    def fit(self, on_epoch_end: EpochCallback | None) -> TrainResult:
        cfg, ctx = self.cfg, self.ctx
        result = TrainResult(self.bare, self.info, cfg, self.history, is_main=ctx.is_main)
        t_run = time.perf_counter()
        with self._progress() as bar:
            for epoch in range(self.start_epoch, cfg.epochs):
                t0 = time.perf_counter()
                loss, acc, n = self._train_epoch(epoch, bar, result.step_losses)
                t_train = time.perf_counter() - t0
                if not math.isfinite(loss):
                    result.diverged = True
                    raise TrainingDiverged(self._diverged_message(epoch))
                val_loss, val_acc = self.evaluate()
                prev_elapsed = self.history[-1]["elapsed_s"] if self.history else 0.0
                metrics = {
                    "epoch": epoch + 1,
                    "lr": self.optimizer.param_groups[0]["lr"],
                    "train_loss": loss,
                    "train_acc": acc,
                    "val_loss": val_loss,
                    "val_acc": val_acc,
                    "images_per_s": n / t_train,
                    "epoch_time_s": time.perf_counter() - t0,
                    "elapsed_s": prev_elapsed + time.perf_counter() - t0,
                }
                self.history.append(metrics)
                self._end_of_epoch(epoch, metrics, bar)
                if on_epoch_end is not None:
                    on_epoch_end(epoch, metrics)
        if ctx.is_main and cfg.save and self.history:
            from netanatomy.training.plots import plot_training_curves

            plot_training_curves(self.history, self.out / "curves.png", f"{cfg.model} on {cfg.dataset}")
        result.history = self.history
        if ctx.is_main and cfg.log:
            print(f"trained in {time.perf_counter() - t_run:.1f}s", flush=True)
        return result

    def _train_epoch(self, epoch: int, bar: Any, step_losses: list[float]) -> tuple[float, float, int]:
        cfg, ctx = self.cfg, self.ctx
        self.model.train()
        self.sampler.set_epoch(epoch)
        # Augmentation draws are seeded per (seed, epoch, rank), like the data order: each rank
        # crops differently, and a resumed (or re-launched) run repeats them exactly.
        self.aug_gen.manual_seed(((cfg.seed * 1_000_003 + epoch) * 1_009 + ctx.rank) % 2**63)
        order = torch.tensor(list(iter(self.sampler)), dtype=torch.int64)
        if self.data_on_device:
            order = order.to(ctx.device)
        # Sums kept as tensors: no host sync per step on a GPU (loss*n, correct, n).
        sums = torch.zeros(3, dtype=torch.float64, device=ctx.device)
        losses: list[torch.Tensor] = []  # kept as tensors until the epoch ends: no GPU sync
        check_every = 1 if not self.cuda else 50  # a finiteness check syncs the GPU
        task = None
        if bar is not None:
            total = len(order) * ctx.world_size
            task = bar.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=total, loss=float("nan"), acc=0.0)
        for step, i in enumerate(range(0, len(order), self.local_batch)):
            idx = order[i : i + self.local_batch]
            x = self.x_train[idx].to(ctx.device, non_blocking=True)
            y = self.y_train[idx].to(ctx.device, non_blocking=True)
            if self.augment is not None:
                x = self.augment(x, self.aug_gen, self.fill)
            if self.cuda and cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                logits, loss = classification_loss(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            with torch.no_grad():
                batch = torch.stack(
                    [loss.detach().double() * len(y), (logits.argmax(1) == y).sum().double(),
                     torch.tensor(float(len(y)), dtype=torch.float64, device=x.device)]
                )  # fmt: skip
                sums += batch
            losses.append(loss.detach())
            # Under DDP every rank must reach the epoch's all-reduce, so only single-process
            # runs stop mid-epoch; distributed runs check the reduced sums below.
            if not ctx.distributed and step % check_every == 0 and not bool(torch.isfinite(sums[0])):
                break
            if task is not None:
                bar.update(task, advance=len(y) * ctx.world_size)
                if step % 10 == 0:
                    s = sums.tolist()
                    bar.update(task, loss=s[0] / s[2], acc=100 * s[1] / s[2])
        if ctx.is_main and losses:
            step_losses.extend(torch.stack(losses).float().tolist())
        all_reduce_sum(sums, ctx)
        total_loss, correct, n = sums.tolist()
        if task is not None:
            bar.remove_task(task)
        return total_loss / n, correct / n, int(n)

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """Validation loss and accuracy; each rank takes every world_size-th image."""
        ctx = self.ctx
        x, y = self.x_val[ctx.rank :: ctx.world_size], self.y_val[ctx.rank :: ctx.world_size]
        # The bare module: no DDP hooks in evaluation, each rank scores its own share.
        sums = _eval_sums(self.bare, x, y, ctx.device, self._autocast, self.cuda and self.cfg.channels_last)
        all_reduce_sum(sums, ctx)
        loss, correct, n = sums.tolist()
        return loss / max(n, 1), correct / max(n, 1)

    # ---- files -------------------------------------------------------------------------------

    def _end_of_epoch(self, epoch: int, m: dict[str, float], bar: Any) -> None:
        cfg = self.cfg
        if not self.ctx.is_main:
            return
        if cfg.log:
            line = (
                f"epoch {epoch + 1}/{cfg.epochs}  loss {m['train_loss']:.4f}  acc {100 * m['train_acc']:.2f}%  "
                f"val_loss {m['val_loss']:.4f}  val_acc {100 * m['val_acc']:.2f}%  lr {m['lr']:.4g}  "
                f"{m['images_per_s']:.0f} img/s  {m['epoch_time_s']:.1f}s"
            )
            bar.console.print(line, highlight=False) if bar else print(line, flush=True)
        if not cfg.save:
            return
        is_best = m["val_acc"] > self.best_acc
        self.best_acc = max(self.best_acc, m["val_acc"])
        state = self._state(epoch + 1)
        ckpt.save_checkpoint(state, self.out / "last.pt", ckpt.IMAGE)
        if is_best:
            ckpt.save_checkpoint(state, self.out / "best.pt", ckpt.IMAGE)
        self._metrics().log(self.history[-1])

    def _state(self, epochs_done: int) -> dict[str, Any]:
        return {
            "model_name": self.cfg.model,
            "model_kwargs": dict(self.model_kwargs),
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": epochs_done,
            "step": epochs_done * self.steps_per_epoch,
            "rng": ckpt.capture_rng({"augment": self.aug_gen}),
            "data_position": {
                "sampler": "DistributedSampler(shuffle=True)",
                "seed": self.cfg.seed,
                "next_epoch": epochs_done,
                "world_size": self.ctx.world_size,
                "num_train": len(self.y_train),
            },
            "config": self.cfg.to_dict(),
            "preprocess": self.info.to_dict(),
            "history": [dict(h) for h in self.history],
            "best_val_acc": self.best_acc,
        }

    def _metrics(self) -> MetricsLogger:
        # Opened at the first write: a fresh run replaces an old file; a resumed one rewrites it
        # from the checkpoint's history (so it holds exactly the run's epochs, never a duplicate
        # line from before an interruption), then both append one line per epoch.
        if self.metrics is None:
            done = self.history[:-1]
            self.metrics = MetricsLogger(metrics_path(self.out, self.cfg.metrics_format), "epoch",
                                         history=done if done else None)
        return self.metrics

    def _diverged_message(self, epoch: int) -> str:
        last = self.out / "last.pt"
        kept = (
            f"the last good checkpoint is {last} (epoch {self.history[-1]['epoch']:.0f})"
            if self.cfg.save and self.history
            else "no checkpoint was written before"
        )
        return (
            f"training diverged in epoch {epoch + 1} (loss is NaN/inf); {kept}; "
            "lower --lr or add --warmup-epochs"
        )

    # ---- helpers -----------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.cuda and self.cfg.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def _progress(self) -> Iterator[Any]:
        if not (self.ctx.is_main and self.cfg.progress):
            yield None
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        class _Throughput(TextColumn):
            def __init__(self) -> None:
                super().__init__("")

            def render(self, task: Any) -> Any:
                from rich.text import Text

                speed = task.speed
                return Text(f"{speed:,.0f} img/s" if speed else "- img/s")

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]:.1f}%"),
            _Throughput(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=True,
        ) as progress:
            yield progress


