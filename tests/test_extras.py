"""Optional extras: a command that lacks one names it in one line (exit code 2)."""

from __future__ import annotations

import argparse
import importlib

import pytest

from netanatomy import errors
from netanatomy.errors import MissingExtraError, UserError, extra_for, require_extra

cli_main = importlib.import_module("netanatomy.cli.main")  # the module (netanatomy.cli.main is also a function)


def test_require_extra_returns_the_module_when_installed() -> None:
    import numpy

    errors.EXTRAS["demo"] = ("numpy",)
    try:
        assert require_extra("demo", module="numpy") is numpy
    finally:
        del errors.EXTRAS["demo"]


def test_a_missing_extra_is_a_user_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(errors.EXTRAS, "report", ("netanatomy_no_such_module",))
    with pytest.raises(MissingExtraError) as info:
        require_extra("report", module="netanatomy_no_such_module.sub")
    assert isinstance(info.value, UserError)
    assert str(info.value) == ("this needs netanatomy_no_such_module, which comes with the [report] extra: "
                               "pip install 'netanatomy[report]' (or 'netanatomy[all]')")


def test_a_module_outside_its_extra_is_our_bug() -> None:
    with pytest.raises(ValueError, match="not listed"):
        require_extra("train", module="numpy")


def test_extra_for_reads_the_top_level_module() -> None:
    assert extra_for("matplotlib.pyplot") == extra_for("PIL") == extra_for("sklearn.datasets") == "train"
    assert extra_for("torchvision") is None


def test_cli_turns_a_missing_extra_module_into_one_line(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # a code path that imports an extra's module without require_extra() still gets the one line
    def handler(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'mlxtend'", name="mlxtend")

    def other(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'zzz'", name="zzz")

    class Parser:  # stands for the real parser: parsing gives the handler under test
        def __init__(self, fn: object) -> None:
            self.fn = fn

        def parse_args(self, argv: object) -> argparse.Namespace:
            return argparse.Namespace(handler=self.fn, debug=False)

    def parser_with(fn: object) -> Parser:
        return Parser(fn)

    monkeypatch.setattr(cli_main, "build_parser", lambda: parser_with(handler))
    assert cli_main.main(["models"]) == 2
    err = capsys.readouterr().err
    assert err == "netanatomy: error: this needs mlxtend, which comes with the [train] extra: " \
                  "pip install 'netanatomy[train]' (or 'netanatomy[all]')\n"
    monkeypatch.setattr(cli_main, "build_parser", lambda: parser_with(other))
    assert cli_main.main(["models"]) == 1  # not an extra's module: an internal error
    assert "internal error: ModuleNotFoundError" in capsys.readouterr().err
