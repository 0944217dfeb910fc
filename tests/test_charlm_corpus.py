"""Corpus: UTF-8 in chunks, memory-mapped tokens, the nanoGPT split, the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netanatomy.charlm import corpus as corpus_mod
from netanatomy.charlm.corpus import Vocabulary, load_corpus
from netanatomy.errors import UserError

TEXT = "Ünïcødé ✓ text — with 𝄞 four-byte and ascii.\n" * 30


def test_chunked_decoding_keeps_multibyte_characters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus_mod, "_CHUNK_BYTES", 7)  # chunk edges fall inside characters
    f = tmp_path / "u.txt"
    f.write_text(TEXT, encoding="utf-8")
    c = load_corpus(f, tmp_path / "cache", val_fraction=0.1)
    assert isinstance(c.tokens, np.memmap) and c.tokens.dtype == np.uint8
    assert c.vocab.chars == tuple(sorted(set(TEXT)))
    assert c.vocab.decode(c.tokens) == TEXT
    n = len(TEXT)
    assert len(c.train) == int(n * 0.9) and len(c.val) == n - int(n * 0.9)  # nanoGPT: data[:int(n*0.9)]


def test_invalid_byte_offset_with_small_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus_mod, "_CHUNK_BYTES", 5)
    head = "ab✓cd✓e".encode()
    f = tmp_path / "bad.txt"
    f.write_bytes(head + b"\xff" + b"tail")
    with pytest.raises(UserError, match=f"byte offset {len(head)}"):
        load_corpus(f, tmp_path / "cache")


def test_truncated_final_character(tmp_path: Path) -> None:
    f = tmp_path / "cut.txt"
    f.write_bytes(b"abcdef" + "✓".encode()[:2])
    with pytest.raises(UserError, match="byte offset 6"):
        load_corpus(f, tmp_path / "cache")


def test_cache_is_reused_and_refreshed(tmp_path: Path) -> None:
    f = tmp_path / "t.txt"
    f.write_text("hello world, " * 20)
    cache = tmp_path / "cache"
    load_corpus(f, cache)
    mtime = (cache / "tokens.npy").stat().st_mtime_ns
    load_corpus(f, cache)
    assert (cache / "tokens.npy").stat().st_mtime_ns == mtime  # not encoded twice
    f.write_text("goodbye moon! " * 20)
    c = load_corpus(f, cache)
    assert c.vocab.decode(c.tokens) == "goodbye moon! " * 20


def test_byte_level_round_trip(tmp_path: Path) -> None:
    data = bytes(range(256)) + "héllo".encode()
    f = tmp_path / "b.bin"
    f.write_bytes(data)
    c = load_corpus(f, tmp_path / "cache", byte_level=True)
    assert c.vocab.size == 256 and bytes(np.asarray(c.tokens)) == data


def test_large_vocabulary_uses_uint16(tmp_path: Path) -> None:
    text = "".join(chr(0x4E00 + i) for i in range(300)) * 3
    f = tmp_path / "cjk.txt"
    f.write_text(text, encoding="utf-8")
    c = load_corpus(f, tmp_path / "cache")
    assert c.tokens.dtype == np.uint16 and c.vocab.decode(c.tokens) == text


def test_vocabulary_encode_and_dict_round_trip() -> None:
    v = Vocabulary(chars=tuple("abc"))
    assert v.encode("cab").tolist() == [2, 0, 1]
    assert Vocabulary.from_dict(v.to_dict()) == v
    with pytest.raises(UserError, match="'z'"):
        v.encode("abz")
