"""A real photograph at the model's input size, to draw receptive fields on.

scikit-learn ships two photographs with its package data (``china.jpg``, a temple, and
``flower.jpg``, 427x640 each), so no download is needed. The picture is centre-cropped to the
input's aspect ratio, resized to exactly H x W pixels (one image pixel = one input pixel, so a
field box in input coordinates lands on the right pixels) and embedded as a small JPEG data URI.
"""

from __future__ import annotations

import base64
import io

PHOTOS = ("china.jpg", "flower.jpg")


def photo_data_uri(height: int, width: int, name: str = "china.jpg", quality: int = 80) -> str:
    """The photograph ``name`` cropped and resized to ``height`` x ``width``, as a JPEG data URI."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    arr = load_sample_image(name)
    img = Image.fromarray(arr)
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


def png_data_uri(data: bytes) -> str:
    """PNG bytes as a data URI."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
