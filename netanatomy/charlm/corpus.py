"""Text corpora for the character models: vocabulary, UTF-8 checks, byte-level mode, splits.

A text file is encoded once into a ``.npy`` array of token ids (uint8 when the vocabulary has
at most 256 symbols, uint16 otherwise) next to the run, and memory-mapped from then on: a file
of hundreds of MB trains without a copy of the corpus per step, and without holding it in RAM.
The file is read in chunks, so even the first encoding never holds the whole text as a str.

The vocabulary is built from the whole file given for training (train and validation parts),
so that validation never meets an unknown character; it is stored with the model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netanatomy.atomic import atomic_path, write_text
from netanatomy.errors import UserError

#: Default validation fraction: the last 10% of the text, as nanoGPT's shakespeare_char does.
VAL_FRACTION = 0.1
#: A UTF-8 file with more distinct characters than this is almost surely not text.
MAX_VOCAB = 1024
_CHUNK_BYTES = 1 << 24  # 16 MiB per read


@dataclass(frozen=True)
class Vocabulary:
    """Characters (sorted by code point) or, in byte-level mode, the 256 byte values."""

    #: The characters; None in byte-level mode (ids are byte values: any file, no UTF-8 needed).
    chars: tuple[str, ...] | None

    @classmethod
    def byte_level(cls) -> Vocabulary:
        return cls(chars=None)

    @property
    def is_byte_level(self) -> bool:
        return self.chars is None

    @property
    def size(self) -> int:
        return 256 if self.chars is None else len(self.chars)

    @property
    def dtype(self) -> type[np.unsignedinteger[Any]]:
        return np.uint8 if self.size <= 256 else np.uint16

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``; characters outside the vocabulary raise a UserError naming them."""
        if self.chars is None:
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        index = {c: i for i, c in enumerate(self.chars)}
        missing = sorted({c for c in text if c not in index})
        if missing:
            shown = ", ".join(repr(c) for c in missing[:20])
            raise UserError(
                f"{len(missing)} character(s) not in the model's vocabulary: {shown}; "
                "use only characters of the training text"
            )
        return np.array([index[c] for c in text], dtype=np.int64)

    def decode(self, ids: Any) -> str:
        """Text of a sequence of ids (byte-level: invalid UTF-8 shows as U+FFFD)."""
        ids = [int(i) for i in ids]
        if self.chars is None:
            return bytes(ids).decode("utf-8", errors="replace")
        return "".join(self.chars[i] for i in ids)

    def symbol(self, i: int) -> str:
        """A printable name of token ``i`` (for tables): 'a', '\\n', ' ' or a byte 0x0a."""
        if self.chars is None:
            ch = chr(i) if 32 <= i < 127 else None
            return repr(ch) if ch else f"0x{i:02x}"
        return repr(self.chars[i])

    def to_dict(self) -> dict[str, Any]:
        return {"byte_level": self.chars is None, "chars": list(self.chars or [])}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocabulary:
        return cls.byte_level() if d.get("byte_level") else cls(chars=tuple(d["chars"]))


def _utf8_chunks(path: Path) -> Iterator[str]:
    """Decode ``path`` chunk by chunk; the first invalid byte raises a UserError with its offset."""
    offset = 0
    pending = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(_CHUNK_BYTES)
            data = pending + block
            if not data:
                return
            cut = len(data)
            if block:
                # Cut before an incomplete multi-byte sequence at the end (at most 3 bytes back):
                # back off over continuation bytes (10xxxxxx) to the lead byte.
                back = 0
                while back < min(3, len(data)) and (data[cut - 1 - back] & 0xC0) == 0x80:
                    back += 1
                if back < len(data) and data[cut - 1 - back] >= 0xC0:
                    cut -= back + 1
            head, pending = data[:cut], data[cut:]
            try:
                text = head.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UserError(
                    f"{path} is not UTF-8 text: invalid byte 0x{head[exc.start]:02x} at byte offset "
                    f"{offset + exc.start}; convert it to UTF-8 (e.g. iconv) or train with --byte-level"
                ) from None
            offset += len(head)
            yield text
            if not block:  # the last read: `pending` was empty, everything is decoded
                return


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def build_vocabulary(path: str | os.PathLike[str], *, byte_level: bool = False, max_vocab: int = MAX_VOCAB) -> Vocabulary:
    """Scan ``path`` once and return its character vocabulary (checks UTF-8, emptiness, binaries).

    Args:
        path: a text file.
        byte_level: use the 256 byte values instead (accepts any file, even binary).
        max_vocab: more distinct characters than this is taken as a binary file.
    """
    p = _existing(path)
    if byte_level:
        return Vocabulary.byte_level()
    seen = np.zeros(0, dtype=np.uint32)
    for text in _utf8_chunks(p):
        seen = np.union1d(seen, np.unique(_codepoints(text)))
        if len(seen) > max_vocab:
            break
    if len(seen) > max_vocab:
        raise UserError(
            f"{p} has more than {max_vocab} distinct characters, which looks like a binary file; "
            "train with --byte-level (or raise --max-vocab for a script with many characters)"
        )
    if 0 in seen:
        raise UserError(f"{p} contains NUL characters, which looks like a binary file; train with --byte-level")
    return Vocabulary(chars=tuple(chr(int(c)) for c in seen))


def _existing(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"no such file: {p}")
    if p.stat().st_size == 0:
        raise UserError(f"{p} is empty; give a text file with some characters in it")
    return p


def encode_file(path: str | os.PathLike[str], vocab: Vocabulary, out: str | os.PathLike[str]) -> np.ndarray:
    """Encode ``path`` into the ``.npy`` file ``out`` (written atomically) and memory-map it."""
    p = _existing(path)
    n = p.stat().st_size if vocab.is_byte_level else sum(len(t) for t in _utf8_chunks(p))
    with atomic_path(out, suffix=".npy") as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=vocab.dtype, shape=(n,))
        if vocab.is_byte_level:
            with open(p, "rb") as f:
                pos = 0
                while block := f.read(_CHUNK_BYTES):
                    arr[pos : pos + len(block)] = np.frombuffer(block, dtype=np.uint8)
                    pos += len(block)
        else:
            table = np.array([ord(c) for c in vocab.chars or ()], dtype=np.uint32)
            pos = 0
            for text in _utf8_chunks(p):
                cps = _codepoints(text)
                ids = np.searchsorted(table, cps)
                if len(ids) and (ids.max() >= len(table) or not np.array_equal(table[ids], cps)):
                    bad = sorted({chr(int(c)) for c in np.setdiff1d(cps, table)})
                    raise UserError(f"{p} has characters outside the vocabulary: {bad[:20]}")
                arr[pos : pos + len(ids)] = ids
                pos += len(ids)
        arr.flush()
        del arr
    return np.load(out, mmap_mode="r")


@dataclass(frozen=True)
class Corpus:
    """A memory-mapped token array split into contiguous train and validation parts."""

    vocab: Vocabulary
    tokens: np.ndarray
    n_train: int

    @property
    def train(self) -> np.ndarray:
        return self.tokens[: self.n_train]

    @property
    def val(self) -> np.ndarray:
        return self.tokens[self.n_train :]


def split_point(n: int, val_fraction: float) -> int:
    """Index where validation starts: the first ``1 - val_fraction`` of the text trains (nanoGPT)."""
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    return int(n * (1.0 - val_fraction))


def load_corpus(
    path: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    *,
    byte_level: bool = False,
    max_vocab: int = MAX_VOCAB,
    val_fraction: float = VAL_FRACTION,
    vocab: Vocabulary | None = None,
    min_train: int = 2,
    min_val: int = 2,
) -> Corpus:
    """The corpus of ``path``, encoded once into ``cache_dir`` and memory-mapped.

    Args:
        path: the UTF-8 text (any file with ``byte_level``).
        cache_dir: where ``tokens.npy`` and ``tokens.json`` go (a run directory's ``data/``);
            reused while the source file's size and modification time are unchanged.
        byte_level: tokens are bytes; the way to train on binary or non-UTF-8 files.
        max_vocab: the binary-file guard of :func:`build_vocabulary`.
        val_fraction: the last fraction of the text is the validation split.
        vocab: a vocabulary to reuse (when resuming); the file must fit it.
        min_train: the fewest training tokens that make sense (sequence length + 1).
        min_val: the fewest validation tokens (0 to allow no validation).
    """
    p = _existing(path)
    cache = Path(cache_dir)
    stat = p.stat()
    key = {"source": str(p.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "byte_level": byte_level}
    meta_path, npy_path = cache / "tokens.json", cache / "tokens.npy"
    tokens: np.ndarray | None = None
    if meta_path.is_file() and npy_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("key") == key:
            cached_vocab = Vocabulary.from_dict(meta["vocab"])
            if vocab is None or cached_vocab == vocab:
                vocab = cached_vocab
                tokens = np.load(npy_path, mmap_mode="r")
    if tokens is None:
        vocab = vocab or build_vocabulary(p, byte_level=byte_level, max_vocab=max_vocab)
        tokens = encode_file(p, vocab, npy_path)
        write_text(meta_path, json.dumps({"key": key, "vocab": vocab.to_dict()}))
    assert vocab is not None
    n_train = split_point(len(tokens), val_fraction)
    if n_train < min_train or len(tokens) - n_train < min_val:
        raise UserError(
            f"{p} is too short: {len(tokens)} symbols give {n_train} for training and "
            f"{len(tokens) - n_train} for validation, but this run needs at least {min_train} and "
            f"{min_val}; use a longer text or a shorter --seq-len"
        )
    return Corpus(vocab=vocab, tokens=tokens, n_train=n_train)
