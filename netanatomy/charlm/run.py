"""Setting up a char-model training run: a new one from a text, or the continuation of a saved one.

What ``netanatomy charrnn train`` does before its progress bar starts, as a library function: read
the checkpoint to resume (its configs and vocabulary win over the command line, except the
stopping rules), encode the text with that vocabulary, and build the model with the run's seed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from netanatomy.charlm.checkpoint import checkpoint_path, load_checkpoint
from netanatomy.charlm.corpus import Corpus, Vocabulary, load_corpus
from netanatomy.errors import UserError
from netanatomy.training.config import CHAR_MODELS, CharTrainConfig
from netanatomy.zoo.charrnn import CharRNN, CharRNNConfig, build_char_model


def cell_of(model: str) -> str:
    """The cell of the zoo model ``model``; the bare cell names of earlier versions are refused with the new name."""
    if model in CHAR_MODELS:
        return model.removeprefix("char_")
    if f"char_{model}" in CHAR_MODELS:
        raise UserError(f"--model {model} is now called char_{model} (the zoo's name); use --model char_{model}")
    raise UserError(f"unknown char model {model!r}; use one of {', '.join(CHAR_MODELS)}")


@dataclass
class CharRun:
    """Everything :func:`netanatomy.charlm.train.train` needs, and where it came from."""

    model: CharRNN
    corpus: Corpus
    config: CharTrainConfig
    model_config: CharRNNConfig
    run_dir: Path
    #: saved beside the weights, so that sampling rebuilds the model and its vocabulary exactly.
    extra_state: dict[str, Any]
    #: the checkpoint being continued (None for a new run).
    resume_state: dict[str, Any] | None = None

    @property
    def start_step(self) -> int:
        return int(self.resume_state["step"]) if self.resume_state else 0


def run_dir_of(resume: str | os.PathLike[str]) -> Path:
    """The run directory of ``--resume PATH`` (PATH itself, or the directory of the checkpoint PATH)."""
    p = Path(resume)
    return p if p.is_dir() else p.parent


def prepare_run(
    text: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    config: CharTrainConfig,
    *,
    resume: str | os.PathLike[str] | None = None,
    max_steps: int | None = None,
    max_time_s: float | None = None,
) -> CharRun:
    """A new run (``resume is None``) or the exact continuation of the run saved at ``resume``.

    Args:
        text: the training text.
        run_dir: where the checkpoint, metrics and plots go (the corpus is encoded under it).
        config: the settings of a new run, model and text handling included (ignored on resume:
            the saved ones win).
        resume: a checkpoint or its run directory; only ``max_steps`` and ``max_time_s`` may then
            change, since anything else would make the continuation differ from the run it continues.
    """
    run_dir = Path(run_dir)
    resume_state: dict[str, Any] | None = None
    vocab: Vocabulary | None = None
    model_config: CharRNNConfig | None = None
    if resume is not None:
        resume_state = load_checkpoint(checkpoint_path(resume))
        config = CharTrainConfig.from_dict(resume_state["config"])
        if max_steps is not None:
            config.max_steps = max_steps
        if max_time_s is not None:
            config.max_time_s = max_time_s
        model_config = CharRNNConfig(**resume_state["model_config"])
        vocab = Vocabulary.from_dict(resume_state["vocab"])
        if resume_state["step"] >= config.max_steps:
            raise UserError(f"{resume} already ran {resume_state['step']} of {config.max_steps} steps; "
                            "pass a larger --steps to go on")
    corpus = load_corpus(
        text,
        run_dir / "data",
        byte_level=config.byte_level,
        max_vocab=config.max_vocab,
        val_fraction=config.val_fraction,
        vocab=vocab,
        min_train=2 * config.seq_len + 2,
        min_val=2 if config.val_fraction > 0 else 0,  # val_fraction 0: train on everything, no validation
    )
    if resume_state is not None and corpus.vocab.to_dict() != resume_state["vocab"]:
        raise UserError(f"{text} does not fit the vocabulary of the run in {resume}; resume with the same text")
    if model_config is None:
        model_config = CharRNNConfig(**config.model_config(corpus.vocab.size))
    torch.manual_seed(config.seed)  # the initial weights follow the seed too
    model = build_char_model(model_config)
    extra = {"model_config": model_config.to_dict(), "vocab": corpus.vocab.to_dict(), "text": str(text)}
    return CharRun(model, corpus, config, model_config, run_dir, extra, resume_state)
