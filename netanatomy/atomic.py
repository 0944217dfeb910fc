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
        # mkstemp creates the file private (0600); give it the mode any new file would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
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


def torch_load(path: str | os.PathLike[str], hint: str = "") -> Any:
    """``torch.load`` with ``weights_only=True`` onto the CPU (a GPU checkpoint loads anywhere);
    a missing, corrupt or foreign file is a one-line user error (``hint`` says how to get one)."""
    import torch

    from netanatomy.errors import UserError

    p = Path(path)
    if not p.is_file():
        raise UserError(f"no checkpoint at {str(p)!r}" + (f"; {hint}" if hint else ""))
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling, zip and format errors all mean "not our checkpoint"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "Weights only load failed" in first:
            # Loading arbitrary pickles runs code; a file that needs that is not ours to open.
            first = "it holds Python objects that torch.load(weights_only=True) refuses to unpickle"
        raise UserError(f"{str(p)!r} is not a readable checkpoint ({first[:120]})") from None
