"""Test-wide settings, and the golden-file fixture.

Golden files hold what users see (printed tables, explanations, reports) under ``tests/golden/``.
Every run compares against them; they are rewritten only with ``pytest --update-golden``, so a
change in output shows up as a reviewed diff (torchinfo's habit).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

# Two pytest-xdist workers share the machine's 2 cores: one intra-op thread each, otherwise the
# workers' thread pools fight and small forward passes take 100x longer.
torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")  # plots without a screen (matplotlib is in the [train] extra)

GOLDEN_DIR = Path(__file__).parent / "golden"

# pytester runs this very conftest in a throw-away session, to show that the golden fixture can fail.
pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/* from the current output instead of comparing")


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Keep every test at one thread, also after a CLI call that sets --threads."""
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(1)


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """``golden(name, text)``: compare ``text`` with ``tests/golden/name``, or rewrite it on --update-golden."""
    update = bool(request.config.getoption("--update-golden"))

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        if not path.exists():
            pytest.fail(f"golden file {path} is missing: run pytest --update-golden and review the new file")
        expected = path.read_text(encoding="utf-8")
        if text != expected:
            diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True), text.splitlines(keepends=True),
                                                fromfile=f"golden/{name}", tofile="current output", n=2))
            pytest.fail(f"output differs from golden/{name} (pytest --update-golden rewrites it after review):\n{diff}")

    return check
