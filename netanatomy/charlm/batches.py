"""Batches for truncated back-propagation through time (TBPTT) over a memory-mapped text.

The training text is cut into ``batch_size`` contiguous streams, one per row of the batch
(as char-rnn does). Step after step, each row reads the next ``seq_len`` characters of its own
stream, so the hidden state left by one chunk is the right starting state for the next: the
trainer carries it across chunks and only stops the gradient there. At the end of an epoch the
streams restart at a new random offset in ``[0, seq_len)`` (so chunk boundaries move between
epochs) and the hidden state is reset.

Each batch copies only ``batch_size x (seq_len + 1)`` tokens out of the memory map.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass
class StreamPosition:
    """Where the batcher is: saved in checkpoints so that a resumed run reads the same chunks."""

    epoch: int = 0
    chunk: int = 0
    offset: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "chunk": self.chunk, "offset": self.offset}


class TBPTTBatches:
    """Consecutive (inputs, targets) chunks of ``batch_size`` parallel streams of ``tokens``."""

    def __init__(self, tokens: np.ndarray, batch_size: int, seq_len: int, generator: torch.Generator) -> None:
        self.tokens = tokens
        self.seq_len = seq_len
        self.generator = generator
        # Each stream needs one full chunk plus the next target and room for the random offset.
        self.batch_size = max(1, min(batch_size, (len(tokens) - 1) // (2 * seq_len)))
        self.stream_len = (len(tokens) - 1) // self.batch_size
        self.starts = np.arange(self.batch_size) * self.stream_len
        self.position = StreamPosition()
        self.position.offset = self._draw_offset()

    def _draw_offset(self) -> int:
        return int(torch.randint(0, self.seq_len, (1,), generator=self.generator).item())

    def chunks_per_epoch(self, offset: int) -> int:
        return (self.stream_len - offset) // self.seq_len

    def next(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """The next (inputs, targets) pair, each batch_size x seq_len; the flag says "new epoch"
        (the caller must then reset the hidden state, since the streams jumped)."""
        pos = self.position
        if pos.chunk >= self.chunks_per_epoch(pos.offset):
            pos.epoch, pos.chunk, pos.offset = pos.epoch + 1, 0, self._draw_offset()
        starts_epoch = pos.chunk == 0
        first = pos.offset + pos.chunk * self.seq_len
        rows = np.stack([self.tokens[s + first : s + first + self.seq_len + 1] for s in self.starts])
        chunk = torch.from_numpy(rows.astype(np.int64))
        pos.chunk += 1
        return chunk[:, :-1], chunk[:, 1:], starts_epoch

    def state_dict(self) -> dict[str, Any]:
        return {"position": self.position.to_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position = StreamPosition(**state["position"])
        self.generator.set_state(state["generator"])


def eval_streams(tokens: np.ndarray, batch_size: int, seq_len: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The validation text as consecutive chunks of parallel streams (the last chunk may be short).

    ``batch_size`` streams of equal length cover all but fewer than ``batch_size`` tokens.
    """
    n = len(tokens) - 1
    rows = max(1, min(batch_size, n // seq_len))
    length = n // rows
    starts = np.arange(rows) * length
    for first in range(0, length, seq_len):
        width = min(seq_len, length - first)
        block = np.stack([tokens[s + first : s + first + width + 1] for s in starts]).astype(np.int64)
        t = torch.from_numpy(block)
        yield t[:, :-1], t[:, 1:]
