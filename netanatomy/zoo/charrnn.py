"""Character-level recurrent language models (CS231n Lecture 10; Karpathy's char-rnn).

One model, three cells, chosen by data (``CELLS``): the vanilla RNN
``h_t = tanh(W_hh h_{t-1} + W_xh x_t)`` with ``y_t = W_hy h_t``, the LSTM (Hochreiter &
Schmidhuber, 1997) and the GRU (Cho et al., 2014). The recurrence is torch's own ``nn.RNN`` /
``nn.LSTM`` / ``nn.GRU`` so that the analyzer recognises the per-gate weights, and the decoder
``W_hy`` is an ``nn.Linear``.

Input: ``idx`` of shape (batch, seq_len), int64 character indices. ``forward(idx, h=None)``
returns ``(logits, h)``: logits (batch, seq_len, vocab_size) and the final hidden state (a
tensor for RNN/GRU, an ``(h, c)`` tuple for the LSTM) to carry into the next chunk (truncated
back-propagation through time). ``h=None`` starts from zeros.

Encoder: ``embedding_dim > 0`` uses a learned ``nn.Embedding``; ``embedding_dim`` 0/None feeds
the one-hot vector ``x_t`` as in the lecture, computed by the parameter-free :class:`OneHot`
(``F.one_hot(idx).float()``), so the parameter count is exactly that of the recurrence and the
decoder, with the lecture's ``W_xh`` being the RNN's ``weight_ih_l0``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netanatomy.errors import UserError
from netanatomy.zoo.registry import ModelCard, Paper, model_table, register_model

#: The hidden state of one cell type: a tensor (RNN, GRU) or the LSTM's (h, c) pair.
Hidden = torch.Tensor | tuple[torch.Tensor, torch.Tensor]

#: Cell name -> (torch module, extra keyword arguments, paper). Variants are data.
CELLS: dict[str, tuple[Callable[..., nn.Module], dict[str, Any], Paper]] = {
    "rnn": (nn.RNN, {"nonlinearity": "tanh"}, Paper("Elman", 1990, "Finding Structure in Time")),
    "lstm": (nn.LSTM, {}, Paper("Hochreiter & Schmidhuber", 1997, "Long Short-Term Memory")),
    "gru": (nn.GRU, {}, Paper("Cho et al.", 2014, "Learning Phrase Representations using RNN Encoder-Decoder")),
}


@dataclass
class CharRNNConfig:
    """Everything needed to rebuild a char model; saved (as a dict) inside every checkpoint."""

    cell: str = "lstm"
    vocab_size: int = 65
    hidden_size: int = 128
    num_layers: int = 2
    dropout: float = 0.0
    #: 0 (or None) = one-hot input as in the lecture; > 0 = learned embedding of that size.
    embedding_dim: int = 0

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise UserError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        self.embedding_dim = int(self.embedding_dim or 0)
        for name in ("vocab_size", "hidden_size", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class OneHot(nn.Module):
    """The lecture's one-hot input x_t: parameter-free, so it adds nothing to the counts."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return F.one_hot(idx, self.num_classes).float()

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}"


class CharRNN(nn.Module):
    """Encoder (one-hot or embedding) -> stacked RNN/LSTM/GRU -> linear decoder W_hy."""

    def __init__(self, config: CharRNNConfig) -> None:
        super().__init__()
        self.config = config
        rnn_cls, extra, _ = CELLS[config.cell]
        input_size = config.embedding_dim or config.vocab_size
        self.encoder: nn.Module = (
            nn.Embedding(config.vocab_size, config.embedding_dim)
            if config.embedding_dim
            else OneHot(config.vocab_size)
        )
        # torch applies `dropout` between stacked layers only; the extra Dropout below also
        # regularises the last layer's output, as char-rnn does (Zaremba et al., 2014).
        self.rnn = rnn_cls(
            input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
            **extra,
        )
        self.drop = nn.Dropout(config.dropout)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)  # the lecture's W_hy

    def forward(self, idx: torch.Tensor, h: Hidden | None = None) -> tuple[torch.Tensor, Hidden]:
        """Scores for the next character at every position, and the hidden state to carry on."""
        x = self.encoder(idx)  # N x T x (vocab_size or embedding_dim)
        out, h = self.rnn(x, h)  # N x T x hidden_size
        logits = self.decoder(self.drop(out))  # N x T x vocab_size
        return logits, h


def _char_model(cell: str, **kwargs: Any) -> CharRNN:
    return CharRNN(CharRNNConfig(cell=cell, **kwargs))


MODELS = model_table(
    "charrnn",
    input_size=(1, 100),
    input_dtype=torch.int64,
    spatial=False,
    models={
        "char_rnn": ModelCard("Vanilla (tanh) character RNN of Lecture 10, one-hot input, linear decoder W_hy.",
                              paper=CELLS["rnn"][2]),
        "char_lstm": ModelCard("LSTM character model (char-rnn), one-hot input, linear decoder.", paper=CELLS["lstm"][2]),
        "char_gru": ModelCard("GRU character model, one-hot input, linear decoder.", paper=CELLS["gru"][2]),
    },
)


# The builders' defaults follow char-rnn's (rnn_size 128, num_layers 2) and tiny-shakespeare's 65 characters.


@register_model
def char_rnn(
    vocab_size: int = 65, hidden_size: int = 128, num_layers: int = 2, dropout: float = 0.0, embedding_dim: int | None = 0
) -> CharRNN:
    """Vanilla RNN char model: h_t = tanh(W_hh h_{t-1} + W_xh x_t + b), y_t = W_hy h_t + b_y."""
    return _char_model("rnn", vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers,
                       dropout=dropout, embedding_dim=embedding_dim or 0)


@register_model
def char_lstm(
    vocab_size: int = 65, hidden_size: int = 128, num_layers: int = 2, dropout: float = 0.0, embedding_dim: int | None = 0
) -> CharRNN:
    """LSTM char model: input, forget, cell and output gates per layer."""
    return _char_model("lstm", vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers,
                       dropout=dropout, embedding_dim=embedding_dim or 0)


@register_model
def char_gru(
    vocab_size: int = 65, hidden_size: int = 128, num_layers: int = 2, dropout: float = 0.0, embedding_dim: int | None = 0
) -> CharRNN:
    """GRU char model: reset and update gates and a candidate state per layer."""
    return _char_model("gru", vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers,
                       dropout=dropout, embedding_dim=embedding_dim or 0)


def build_char_model(config: CharRNNConfig | dict[str, Any]) -> CharRNN:
    """Rebuild a char model from its config (as stored in a checkpoint)."""
    cfg = config if isinstance(config, CharRNNConfig) else CharRNNConfig(**config)
    return CharRNN(cfg)
