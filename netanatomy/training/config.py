"""The settings of a training run, one dataclass per trainer: the single source of every default.

``ImageTrainConfig`` (``netanatomy train``: a zoo CNN on an image data set) and
``CharTrainConfig`` (``netanatomy charrnn train``: a character model with truncated BPTT) are
plain dataclasses; the command line reads its defaults from them with :func:`default_of`, the
trainers read them, and every checkpoint stores its run's config as a dict (``to_dict``), so a
resumed run continues with exactly the settings it began with (nanoGPT's rule: one place).

Only the standard library is imported here: ``netanatomy --help`` builds its parsers from these
defaults without importing torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

from netanatomy.errors import UserError

#: Learning-rate schedules of :func:`netanatomy.training.schedule.lr_factor`.
SCHEDULES: tuple[str, ...] = ("cosine", "step", "constant")
#: Formats of the metrics file (:mod:`netanatomy.training.metrics`).
METRICS_FORMATS: tuple[str, ...] = ("csv", "jsonl")
#: Optimizers of the image trainer.
IMAGE_OPTIMIZERS: tuple[str, ...] = ("sgd", "adamw")
#: Optimizers of the char trainer; Adagrad is the one min-char-rnn (and the lecture's toy) uses.
CHAR_OPTIMIZERS: tuple[str, ...] = ("adamw", "adam", "adagrad")
#: The zoo's character models (``netanatomy.zoo.charrnn``), by the zoo's names.
CHAR_MODELS: tuple[str, ...] = ("char_lstm", "char_gru", "char_rnn")

# Defaults that depend on the optimizer: He et al. 2016 §4.2 (SGD: lr 0.1, momentum 0.9,
# weight decay 1e-4); AdamW: Loshchilov & Hutter 2019 with PyTorch's default decay 0.01.
IMAGE_OPTIMIZER_DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"lr": 0.1, "weight_decay": 1e-4},
    "adamw": {"lr": 1e-3, "weight_decay": 1e-2},
}

C = TypeVar("C")


def default_of(config_cls: type[Any], name: str) -> Any:
    """The default of field ``name`` of a config dataclass (what argparse should show).

    >>> default_of(CharTrainConfig, "seq_len")
    128
    """
    for f in fields(config_cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise KeyError(f"{config_cls.__name__}.{name} has no default")
    raise KeyError(f"{config_cls.__name__} has no field {name!r}")


def _choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise UserError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


def _at_least_one(cfg: Any, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(cfg, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")


def _schedule_checks(cfg: Any) -> None:
    _choice(cfg.schedule, SCHEDULES, "schedule")
    if any(not 0.0 <= m <= 1.0 for m in cfg.milestones):
        raise UserError(f"--milestones must be fractions of training in [0, 1], got {list(cfg.milestones)}")
    if cfg.gamma <= 0:
        raise UserError(f"--gamma must be positive, got {cfg.gamma}")


class _DictMixin:
    """``to_dict`` / ``from_dict``: the weights_only-safe form stored in checkpoints."""

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        """Rebuild from ``to_dict``'s output; keys of other versions are ignored, missing ones
        take today's defaults (a checkpoint written before a field existed still loads)."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known})


@dataclass
class ImageTrainConfig(_DictMixin):
    """A CNN trained on an image data set (``netanatomy train``, the experiments)."""

    model: str = "resnet20"
    dataset: str = "mnist"
    data_dir: str | None = None
    epochs: int = 10
    #: The *global* batch: under DDP each of the N processes takes batch_size / N.
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float | None = None  # None: the optimizer's default (IMAGE_OPTIMIZER_DEFAULTS)
    momentum: float = 0.9
    weight_decay: float | None = None  # None: the optimizer's default
    schedule: str = "cosine"
    #: Step schedule: multiply by ``gamma`` at these fractions of training (He et al. §4.2).
    milestones: tuple[float, ...] = (0.5, 0.75)
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    augment: bool = True
    #: Padding of the random crop; None: H/8 (4 pixels for 32x32, as He et al. §4.2).
    crop_padding: int | None = None
    val_fraction: float = 0.1
    limit: int | None = None
    image_size: int | None = None
    seed: int = 0
    out_dir: str = "runs/train"
    metrics_format: str = "csv"
    device: str = "auto"
    #: GPU only: bf16 autocast, channels_last memory format, optional torch.compile.
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    sync_batchnorm: bool = False
    #: Rank 0 shows a rich progress bar / prints one line per epoch.
    progress: bool = True
    log: bool = True
    save: bool = True

    def resolved(self) -> ImageTrainConfig:
        """A copy with the optimizer-dependent defaults filled in, after validating choices."""
        _choice(self.optimizer, IMAGE_OPTIMIZERS, "optimizer")
        _choice(self.metrics_format, METRICS_FORMATS, "metrics format")
        out = dataclasses.replace(self, milestones=tuple(self.milestones))
        _schedule_checks(out)
        _at_least_one(out, ("epochs", "batch_size"))
        d = IMAGE_OPTIMIZER_DEFAULTS[self.optimizer]
        out.lr = d["lr"] if self.lr is None else self.lr
        out.weight_decay = d["weight_decay"] if self.weight_decay is None else self.weight_decay
        return out


@dataclass
class CharTrainConfig(_DictMixin):
    """A character language model trained with truncated BPTT (``netanatomy charrnn train``)."""

    # What to train: a zoo char model (char-rnn's defaults: 2 layers of 128, Karpathy 2015).
    model: str = "char_lstm"
    hidden_size: int = 128
    num_layers: int = 2
    dropout: float = 0.0
    #: 0 = one-hot input as in the lecture; > 0 = a learned embedding of that size.
    embedding_dim: int = 0
    # The text: the last ``val_fraction`` validates (nanoGPT's shakespeare_char split).
    val_fraction: float = 0.1
    byte_level: bool = False
    #: Refuse a text with more distinct characters than this (a guard against binary files).
    max_vocab: int = 1024
    # Optimisation.
    seq_len: int = 128
    batch_size: int = 64
    max_steps: int = 2000
    optimizer: str = "adamw"
    lr: float = 2e-3
    #: Cosine decay goes from ``lr`` down to ``min_lr`` at ``max_steps`` (after the warm-up).
    min_lr: float = 1e-4
    schedule: str = "cosine"
    milestones: tuple[float, ...] = (0.5, 0.75)
    gamma: float = 0.1
    warmup_steps: int = 0
    weight_decay: float = 0.0
    #: Clip the global gradient norm (Pascanu et al., 2013); 0 disables.
    grad_clip: float = 5.0
    eval_interval: int = 200
    #: Validation characters per evaluation; 0 = the whole validation split.
    eval_chars: int = 0
    log_interval: int = 10
    seed: int = 0
    #: Stop (with a checkpoint) after this many seconds of training; 0 = no limit.
    max_time_s: float = 0.0
    #: Characters sampled at every evaluation (temperature 1, seed ``seed``, prime
    #: ``sample_prime``) and per temperature in the table at the end; 0 = no samples.
    sample_chars: int = 200
    #: Text the samples start from; "" = one symbol drawn with the seed.
    sample_prime: str = ""
    #: Temperatures of the table stored at the end of the run (``temperatures.json``).
    sample_temperatures: tuple[float, ...] = (0.5, 1.0, 1.5)

    def __post_init__(self) -> None:
        _choice(self.model, CHAR_MODELS, "char model")
        _choice(self.optimizer, CHAR_OPTIMIZERS, "optimizer")
        self.milestones = tuple(self.milestones)
        self.sample_temperatures = tuple(self.sample_temperatures)
        _schedule_checks(self)
        _at_least_one(self, ("seq_len", "batch_size", "max_steps", "eval_interval", "log_interval"))
        if self.lr <= 0:
            raise UserError(f"--lr must be positive, got {self.lr}")
        if self.sample_chars < 0 or any(t <= 0 for t in self.sample_temperatures):
            raise UserError("sample length must be >= 0 and sample temperatures > 0")

    @property
    def cell(self) -> str:
        """The recurrent cell of ``model``: ``lstm``, ``gru`` or ``rnn``."""
        return self.model.removeprefix("char_")

    def model_config(self, vocab_size: int) -> dict[str, Any]:
        """The zoo's ``CharRNNConfig`` fields of this run's model, for a vocabulary of that size."""
        return {"cell": self.cell, "vocab_size": vocab_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "dropout": self.dropout, "embedding_dim": self.embedding_dim}


#: The cells ``experiment recurrent`` compares.
RECURRENT_CELLS: tuple[str, ...] = ("rnn", "gru", "lstm")


@dataclass
class RecurrentConfig:
    """One run of the experiment; every field has the default the CLI shows."""

    text: str
    out_dir: str = "runs/experiment-recurrent"
    cells: tuple[str, ...] = RECURRENT_CELLS
    #: Hidden size of the reference cell (the LSTM when it takes part); the others are solved.
    hidden_size: int = 128
    num_layers: int = 1
    #: Equal steps (the default) or, with ``max_time_s`` > 0, equal seconds (``steps`` then caps it).
    steps: int = 1000
    max_time_s: float = 0.0
    seq_len: int = 64
    batch_size: int = 32
    lr: float = 2e-3
    #: Lags of the gradient-flow measurement (sequences of this length), over ``flow_batch`` sequences.
    lags: int = 100
    flow_batch: int = 16
    sample_chars: int = 300
    temperature: float = 0.8
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        unknown = [c for c in self.cells if c not in RECURRENT_CELLS]
        if unknown or not self.cells:
            raise UserError(f"unknown cell(s) {unknown or '(none given)'}; choose from {', '.join(RECURRENT_CELLS)}")
        for name in ("hidden_size", "num_layers", "steps", "seq_len", "batch_size", "lags", "flow_batch"):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_time_s < 0:
            raise UserError(f"--max-time must be >= 0, got {self.max_time_s}")


@dataclass
class MarkovDemoConfig:
    """``netanatomy charrnn markov``: texts whose next character repeats a key seen ``gap``
    characters earlier; n-grams of ``orders`` against a small LSTM."""

    gap: int = 20
    records: int = 4000
    orders: tuple[int, ...] = (3, 6, 12)
    hidden_size: int = 64
    steps: int = 2000
    seq_len: int = 64
    batch_size: int = 32
    lr: float = 1e-2
    eval_interval: int = 50
    seed: int = 0
    #: A model this small runs fastest on one thread (more threads mostly wait on each other).
    threads: int = 1
    #: The keys the demo's records start with (8 of them: chance is ln 8 nats).
    keys: str = "abcdefgh"

