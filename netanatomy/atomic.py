"""Atomic file writes: a reader never sees a half-written file (temp file, then rename)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_with(path: str | os.PathLike[str], writer: Callable[[IO[bytes]], Any], suffix: str = "") -> None:
    """Call ``writer`` on a binary file object and move the result onto ``path`` atomically."""
    with atomic_path(path, suffix=suffix) as tmp, open(tmp, "wb") as f:
        writer(f)
        f.flush()
        os.fsync(f.fileno())


def torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to ``path`` atomically (checkpoints are never left half-written)."""
    import torch

    write_with(path, lambda f: torch.save(obj, f))


def savefig(fig: Any, path: str | os.PathLike[str], **kw: Any) -> None:
    """Save a matplotlib figure atomically; the format follows ``path``'s suffix."""
    target = Path(path)
    fmt = target.suffix.lstrip(".") or "png"
    write_with(target, lambda f: fig.savefig(f, format=fmt, **kw), suffix=target.suffix)
