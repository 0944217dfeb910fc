"""Sane limits: specs and input sizes beyond them are refused at once, in one line, exit code 2."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from netanatomy.analysis.loading import parse_input_size
from netanatomy.analysis.spec import build_from_spec
from netanatomy.analysis.summary import summary
from netanatomy.capture.limits import (
    MAX_INPUT_DIMS,
    MAX_INPUT_ELEMENTS,
    MAX_INPUTS,
    MAX_SPEC_LAYERS,
    MAX_SPEC_NUMBER,
)
from netanatomy.cli.main import main
from netanatomy.errors import UserError


@pytest.mark.parametrize(("argv", "needle"), [
    (["summary", "conv3-64*99999999"], "more than 1,000 layers"),
    (["summary", "conv3-64*600,relu*401"], "more than 1,000 layers"),
    (["summary", "conv3-64*" + "9" * 5000], "more than 1,000 layers"),
    (["summary", "conv3-99999999"], "99999999 is more than the 1,000,000"),
    (["summary", "fc-10000000"], "10000000 is more than"),
    (["summary", "relu", "--input", "x".join(["1"] * (MAX_INPUT_DIMS + 1))], "at most 8 are accepted"),
    (["summary", "relu", "--input", "1024x3x65536x65536"], "more than the 1.1e+12"),
    (["summary", "relu", "--input", "1x" + "9" * 5000], "malformed input size"),
    (["rf", "vgg16", "--input", "1x3x9999999x9999999"], "more than the 1.1e+12"),
], ids=["repeat", "total", "huge-repeat", "channels", "fc", "dims", "elements", "digits", "rf"])
def test_beyond_a_limit_is_one_line_exit_2_at_once(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    start = time.perf_counter()
    assert main(argv) == 2
    assert time.perf_counter() - start < 30  # not minutes; nothing is built (generous: 2 shared cores)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err


def test_a_spec_at_the_limits_still_builds() -> None:
    stack = build_from_spec(f"relu*{MAX_SPEC_LAYERS}", (1, 3, 8, 8))
    assert len(stack) == MAX_SPEC_LAYERS
    stack = build_from_spec(f"fc-{MAX_SPEC_NUMBER}", (1, 1, 1, 1))
    assert isinstance(stack[1], nn.Linear) and stack[1].out_features == MAX_SPEC_NUMBER
    with pytest.raises(UserError, match="more than 1,000 layers"):
        build_from_spec(f"relu*{MAX_SPEC_LAYERS},relu", (1, 3, 8, 8))


def test_input_limits_hold_for_the_python_api_too() -> None:
    model = nn.ReLU()
    with pytest.raises(UserError, match="dimensions"):
        summary(model, (1,) * (MAX_INPUT_DIMS + 1))
    with pytest.raises(UserError, match="elements"):
        summary(model, (MAX_INPUT_ELEMENTS + 1,))
    class Many(nn.Module):  # a forward that takes any number of inputs: only the limit refuses
        def forward(self, *xs: torch.Tensor) -> torch.Tensor:
            return torch.stack(xs).sum(0)

    with pytest.raises(UserError, match="inputs"):
        summary(Many(), [(1,)] * (MAX_INPUTS + 1))
    assert summary(model, (2**20, 2**20)).totals.input_bytes == 4 * 2**40  # at the element limit: fine


def test_parse_input_size_at_the_limits() -> None:
    assert parse_input_size("x".join(["1"] * MAX_INPUT_DIMS)) == [(1,) * MAX_INPUT_DIMS]
