"""Test-wide settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import matplotlib
import pytest
import torch

# Two pytest-xdist workers share the machine's 2 cores: one intra-op thread each, otherwise the
# workers' thread pools fight and small forward passes take 100x longer.
torch.set_num_threads(1)
matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Keep every test at one thread, also after a CLI call that sets --threads."""
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(1)
