"""Sane limits on what a user may ask the analyzer to build and capture.

Shapes are analysed on meta tensors, so a huge input costs nothing until a number overflows; a
spec, though, builds one module per layer, and ``conv3-64*99999999`` would run for minutes before
failing. Each limit is far beyond any architecture of the lectures (ResNet-1202 has 1,202 layers
built from blocks, not a flat spec) and is checked before anything is built.
"""

from __future__ import annotations

from collections.abc import Sequence

from netanatomy.errors import UserError

MAX_SPEC_LAYERS = 1000  # layers of a spec, repeats expanded
MAX_SPEC_NUMBER = 1_000_000  # any number in a spec item: channels, kernel, stride, padding, repeat
MAX_INPUTS = 16  # inputs of one forward
MAX_INPUT_DIMS = 8  # batch included; conv3d inputs have 5
MAX_INPUT_ELEMENTS = 2**40  # per input: 4 TiB of float32, e.g. 1024x3x16384x16384 is within


def check_input_sizes(sizes: Sequence[Sequence[int]]) -> None:
    """Raise a one-line :class:`UserError` when the inputs are beyond the limits above."""
    if len(sizes) > MAX_INPUTS:
        raise UserError(f"{len(sizes)} inputs is more than the {MAX_INPUTS} netanatomy accepts")
    for size in sizes:
        text = "x".join(map(str, size))
        if len(size) > MAX_INPUT_DIMS:
            raise UserError(f"input {text[:60]} has {len(size)} dimensions; at most {MAX_INPUT_DIMS} are accepted")
        elements = 1
        for n in size:
            elements *= n
        if elements > MAX_INPUT_ELEMENTS:
            raise UserError(f"input {text} has {elements:.3g} elements, more than the {MAX_INPUT_ELEMENTS:.3g} "
                            "netanatomy accepts; use a smaller batch or image size")
