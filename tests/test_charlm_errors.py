"""Bad inputs: one line on stderr, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from netanatomy.cli.main import main


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("netanatomy: error: ") and err.count("\n") == 1, err
    for n in needles:
        assert n in err, err
    return err


def _train(path: Path, out: Path, *extra: str) -> list[str]:
    return ["charrnn", "train", str(path), "--run-dir", str(out), "--quiet", "--steps", "2", "--seq-len", "8",
            "--batch-size", "2", "--hidden-size", "8", "--num-layers", "1", *extra]


def test_non_utf8_names_the_byte_offset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "latin1.txt"
    f.write_bytes("héllo wörld ".encode() * 10 + b"caf\xe9 au lait" + b" more text" * 10)
    offset = len("héllo wörld ".encode() * 10) + 3  # the byte 0xe9, counted by hand
    _fails(_train(f, tmp_path / "r"), capsys, f"byte offset {offset}", "0xe9", "--byte-level")


def test_non_utf8_trains_in_byte_level_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bin.dat"
    f.write_bytes(bytes(range(256)) * 4)
    assert main(_train(f, tmp_path / "r", "--byte-level")) == 0
    assert "trained 2 steps" in capsys.readouterr().out


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "empty.txt"
    f.write_text("")
    _fails(_train(f, tmp_path / "r"), capsys, "is empty")


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails(_train(tmp_path / "nope.txt", tmp_path / "r"), capsys, "no such file")


def test_too_short_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "short.txt"
    f.write_text("hello world\n")
    _fails(_train(f, tmp_path / "r"), capsys, "too short", "--seq-len")


def test_absurd_vocabulary_is_taken_as_binary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "many.txt"
    f.write_text("".join(chr(0x4E00 + i) for i in range(3000)), encoding="utf-8")  # 3,000 distinct CJK characters
    _fails(_train(f, tmp_path / "r"), capsys, "binary", "--byte-level", "--max-vocab")


def test_nul_bytes_are_taken_as_binary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "nul.txt"
    f.write_bytes(b"abc\x00def" * 100)
    _fails(_train(f, tmp_path / "r"), capsys, "NUL", "--byte-level")


def test_resume_without_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "t.txt"
    f.write_text("some text " * 50)
    _fails(_train(f, tmp_path / "r", "--resume", str(tmp_path / "r")), capsys, "no checkpoint")


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    f = tmp_path / "t.txt"
    f.write_text("abcabcabd " * 50)
    assert main(_train(f, tmp_path / "run")) == 0
    return tmp_path / "run"


def test_prime_outside_vocabulary_lists_the_characters(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    _fails(["charrnn", "sample", str(trained), "--prime", "abxyz"], capsys, "'x'", "'y'", "'z'", "vocabulary")


@pytest.mark.parametrize(("flag", "value", "needle"), [("--temperature", "-1", "--temperature"),
                                                        ("--top-k", "0", "--top-k"),
                                                        ("--length", "-5", "--length")])
def test_bad_sampling_options(trained: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, needle: str) -> None:
    capsys.readouterr()
    _fails(["charrnn", "sample", str(trained), "--prime", "ab", flag, value], capsys, needle)


def test_corrupt_and_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    _fails(["charrnn", "sample", str(bad)], capsys, "not a readable checkpoint")
    _fails(["charrnn", "sample", str(tmp_path / "none.pt")], capsys, "no checkpoint")


def test_cuda_asked_without_cuda(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this check is about machines without CUDA")
    capsys.readouterr()
    _fails(["charrnn", "sample", str(trained), "--device", "cuda"], capsys, "CUDA is not available")


def test_ngram_order_too_high_and_bad_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "t.txt"
    f.write_text("".join(chr(ord("a") + i % 26) + chr(ord("A") + i % 26) for i in range(400)))  # 52 symbols
    # 52**12 > 2**63: the n-gram keys would overflow int64.
    _fails(["ngram", "train", str(f), "--order", "12"], capsys, "too high")
    junk = tmp_path / "m.npz"
    junk.write_bytes(b"junk")
    _fails(["ngram", "eval", str(junk), str(f)], capsys, "cannot read n-gram model")
