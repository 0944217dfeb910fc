"""CIFAR-10 batches are read with an unpickler that allows only what the official files hold.

The oracle of the legit cases is the array and labels written into the file; the malicious files
must be refused with a one-line UserError and leave no trace of the code they carry.
"""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from netanatomy.errors import UserError
from netanatomy.training.datasets import load_dataset, read_cifar_batch


def _py2_str(b: bytes) -> bytes:
    """A Python 2 ``str`` as cPickle writes it (SHORT_BINSTRING / BINSTRING); read back as bytes."""
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b


def _py2_int(n: int) -> bytes:
    return b"K" + bytes([n]) if n < 256 else b"M" + struct.pack("<H", n) if n < 65536 else b"J" + struct.pack("<i", n)


def py2_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """What Python 2's ``cPickle.dump(batch, f, 2)`` with numpy 1.x writes: the official files' format.

    The array is ``numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), 'b')``, then its state
    ``(1, shape, numpy.dtype('u1', 0, 1) with state (3, '|', None, None, None, -1, -1, 0), False, raw)``.
    """
    rows, cols = data.shape
    dtype = (b"cnumpy\ndtype\n" + _py2_str(b"u1") + _py2_int(0) + _py2_int(1) + b"\x87R"
             + b"(" + _py2_int(3) + _py2_str(b"|") + b"NNN" + b"J\xff\xff\xff\xff" * 2 + _py2_int(0) + b"tb")
    array = (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + _py2_int(0) + b"\x85" + _py2_str(b"b")
             + b"\x87R" + b"(" + _py2_int(1) + _py2_int(rows) + _py2_int(cols) + b"\x86" + dtype + b"\x89"
             + _py2_str(data.tobytes()) + b"tb")
    items = [(b"batch_label", _py2_str(b"training batch 1 of 5")), (b"labels", b"](" + b"".join(map(_py2_int, labels)) + b"e"),
             (b"data", array), (b"filenames", b"](" + _py2_str(b"a.png") * rows + b"e")]
    return b"\x80\x02}(" + b"".join(_py2_str(k) + v for k, v in items) + b"u."


def _batch(n: int = 3, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), [int(v) for v in rng.integers(0, 10, size=n)]


def test_the_official_python2_format_loads(tmp_path: Path) -> None:
    data, labels = _batch()
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_batch(data, labels))
    assert pickle.loads(path.read_bytes(), encoding="bytes")[b"labels"] == labels  # the format is right
    x, y = read_cifar_batch(path)
    assert np.array_equal(x.reshape(len(labels), -1), data) and y.tolist() == labels


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python3_pickles_of_the_same_dict_load(tmp_path: Path, protocol: int) -> None:
    data, labels = _batch(seed=protocol)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"batch_label": b"x", b"labels": labels, b"data": data}, protocol=protocol))
    x, y = read_cifar_batch(path)
    assert np.array_equal(x.reshape(len(labels), -1), data) and y.tolist() == labels


class _RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


class _Evaluates:
    def __reduce__(self) -> tuple[Any, ...]:
        return (eval, ("__import__('os').system('touch /tmp/netanatomy-should-not-exist')",))


def _malicious(kind: str, marker: Path) -> bytes:
    if kind == "os.system":
        return pickle.dumps({b"data": _RunsACommand(marker), b"labels": [1]}, protocol=2)
    if kind == "eval":
        return pickle.dumps({b"labels": _Evaluates()}, protocol=4)
    if kind == "codec":  # the allowed _codecs.encode, asked for another codec than latin1
        return b"\x80\x02}(U\x04data" + b"c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86Ru."
    assert kind == "numpy.load"  # a numpy function that is not a constructor
    return b"\x80\x02}(U\x04datacnumpy\nload\nX\x03\x00\x00\x00x.py\x85Ru."


@pytest.mark.parametrize("kind", ["os.system", "eval", "codec", "numpy.load"])
def test_a_malicious_batch_is_refused_and_runs_nothing(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "pwned"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data, labels = _batch()
        (tmp_path / name).write_bytes(py2_batch(data, labels))
    (tmp_path / "data_batch_3").write_bytes(_malicious(kind, marker))
    with pytest.raises(UserError) as info:
        load_dataset("cifar10", tmp_path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"refusing '{tmp_path / 'data_batch_3'}'")
    assert not marker.exists() and not Path("/tmp/netanatomy-should-not-exist").exists()


def test_the_cli_refuses_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from netanatomy.cli.main import main

    marker = tmp_path / "pwned"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (tmp_path / name).write_bytes(_malicious("os.system", marker))
    assert main(["train", "resnet20", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("posix.system" in err or "os.system" in err)
    assert not marker.exists()
