"""A real photograph at the model's input size, to draw receptive fields on.

scikit-learn ships two photographs with its package data (``china.jpg``, a temple, and
``flower.jpg``, 427x640 each), so no download is needed. The picture is centre-cropped to the
input's aspect ratio, resized to exactly H x W pixels (one image pixel = one input pixel, so a
field box in input coordinates lands on the right pixels) and embedded as a small JPEG data URI.
"""

from __future__ import annotations

import base64
import importlib.util
import io
from pathlib import Path

from netanatomy.errors import UserError

PHOTOS = ("china.jpg", "flower.jpg")


def photo_data_uri(height: int, width: int, name: str = "china.jpg", quality: int = 80) -> str:
    """The photograph ``name`` cropped and resized to ``height`` x ``width``, as a JPEG data URI."""
    from PIL import Image

    img = Image.open(_sample_image_path(name)).convert("RGB")
    src_w, src_h = img.size
    # Centre crop to the target aspect ratio, then resize (no distortion).
    target = width / height
    if src_w / src_h > target:
        w = round(src_h * target)
        box = ((src_w - w) // 2, 0, (src_w - w) // 2 + w, src_h)
    else:
        h = round(src_w / target)
        box = (0, (src_h - h) // 2, src_w, (src_h - h) // 2 + h)
    img = img.crop(box).resize((width, height), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _sample_image_path(name: str) -> Path:
    """Where scikit-learn keeps ``name`` (what ``sklearn.datasets.load_sample_image`` reads),
    found without importing scikit-learn, which takes a second."""
    if name not in PHOTOS:
        raise UserError(f"unknown photograph {name!r}; choose {' or '.join(PHOTOS)}")
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise UserError("scikit-learn is not installed; it ships the photographs (pip install scikit-learn)")
    path = Path(spec.origin).parent / "datasets" / "images" / name
    if not path.exists():
        raise UserError(f"scikit-learn's sample photograph {path} is missing; reinstall scikit-learn")
    return path


def png_data_uri(data: bytes) -> str:
    """PNG bytes as a data URI."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
