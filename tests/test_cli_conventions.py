"""One set of conventions for every sub-command (the README's "Conventions" table).

The parsers are walked recursively (``charrnn train``, ``ngram eval``, ...): each shared flag a
command has must be spelled, typed and defaulted exactly as ``netanatomy.cli.common`` defines it
(the reference is a parser built by common.py's own functions), no short option may mean two
things, and every command that reports results offers ``-f/--format`` with ``json``. The JSON of
cheap commands is parsed and checked against hand-derived or published figures.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from netanatomy.cli import common
from netanatomy.cli.main import GROUPS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]

#: Commands that report no result a program would read: they fetch a file or print a lesson.
NO_RESULT = {("data", "shakespeare"): "writes a file and says where", ("charrnn", "hello"): "prints the lecture's toy",
             ("report",): "writes one HTML page (-o FILE.html)"}
#: Old spellings that no command may use any more (the README lists what replaced each).
RETIRED = {"--out": "--run-dir or -o/--output", "--no-progress": "-q/--quiet", "--brief": "-q/--quiet", "-c": "--columns/--checkpoint"}


def _reference() -> dict[str, argparse.Action]:
    """Each shared flag as common.py builds it, keyed by its long option."""
    p = argparse.ArgumentParser(add_help=False)
    for add in (common.add_output, common.add_run_dir, common.add_resume, common.add_quiet, common.add_seed,
                common.add_device, common.add_threads, common.add_format, common.add_checkpoint, common.add_lang):
        add(p)
    return {next(o for o in a.option_strings if o.startswith("--")): a for a in p._actions}


def commands() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every runnable sub-command, by its path of names (recursing into nested sub-parsers)."""
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found[path] = parser
        for action in subs:
            for name, child in action.choices.items():
                walk(child, (*path, name))

    walk(build_parser(), ())
    return found


COMMANDS = commands()


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def test_the_walk_finds_nested_commands() -> None:
    assert {("summary",), ("charrnn", "train"), ("ngram", "eval"), ("data", "shakespeare"), ("experiment",)} <= set(COMMANDS)
    assert len(COMMANDS) >= 16


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_shared_flags_match_common(path: tuple[str, ...]) -> None:
    reference = _reference()
    for action in _options(COMMANDS[path]):
        long = next((o for o in action.option_strings if o.startswith("--")), None)
        assert long is not None, f"{' '.join(path)}: {action.option_strings} has no long form"
        for retired, new in RETIRED.items():
            assert retired not in action.option_strings, f"{' '.join(path)} still has {retired}; use {new}"
        ref = reference.get(long)
        if ref is None:
            continue
        where = f"{' '.join(path)} {long}"
        assert sorted(action.option_strings) == sorted(ref.option_strings), where
        assert type(action) is type(ref) and action.type is ref.type and action.nargs == ref.nargs, where
        assert action.required == ref.required, where
        if long == "--format":
            # The formats differ (csv/md only where tabular; text for prose), the rest does not.
            choices = list(action.choices or ())
            assert "json" in choices and action.default == choices[0] in ("table", "text"), where
            assert set(choices) <= set(common.FORMATS_TABULAR) | set(common.FORMATS_PROSE), where
        elif long != "--output":  # -o's default is the command's own file (erf.png) or standard output
            assert action.default == ref.default and action.choices == ref.choices, where


def test_no_short_option_means_two_things() -> None:
    meaning: dict[str, dict[str, list[str]]] = {}
    for path, parser in COMMANDS.items():
        for action in _options(parser):
            long = next(o for o in action.option_strings if o.startswith("--"))
            for short in (o for o in action.option_strings if not o.startswith("--")):
                meaning.setdefault(short, {}).setdefault(long, []).append(" ".join(path))
    clashes = {s: m for s, m in meaning.items() if len(m) > 1}
    assert not clashes, f"short options with several meanings: {clashes}"
    assert set(meaning["-o"]) == {"--output"} and set(meaning["-q"]) == {"--quiet"} and set(meaning["-f"]) == {"--format"}


@pytest.mark.parametrize("path", sorted(p for p in COMMANDS if p not in NO_RESULT), ids=" ".join)
def test_result_commands_offer_json(path: tuple[str, ...]) -> None:
    fmt = next((a for a in _options(COMMANDS[path]) if "--format" in a.option_strings), None)
    assert fmt is not None and "-f" in fmt.option_strings, f"{' '.join(path)} has no -f/--format"
    assert fmt.choices is not None and "json" in fmt.choices


def test_one_handler_style() -> None:
    """Each command's handler is a private function of a cli module; each cli module is reachable from GROUPS."""
    import ast
    import importlib

    assert all(g.startswith("netanatomy.cli.") and callable(importlib.import_module(g).register) for g in GROUPS)
    cli_dir = ROOT / "netanatomy" / "cli"
    helpers = {f"netanatomy.cli.{p.stem}" for p in cli_dir.glob("*.py")} - set(GROUPS) - {
        "netanatomy.cli.__init__", "netanatomy.cli.main", "netanatomy.cli.common"}
    imported = {node.module for p in cli_dir.glob("*.py") for node in ast.walk(ast.parse(p.read_text()))
                if isinstance(node, ast.ImportFrom) and node.module}
    assert helpers <= imported, f"cli modules that no command group uses (add them to GROUPS): {helpers - imported}"
    for path, parser in COMMANDS.items():
        handler = parser.get_default("handler")
        assert callable(handler) and handler.__module__.startswith("netanatomy.cli."), path
        assert handler.__module__ not in ("netanatomy.cli.main", "netanatomy.cli.common"), path
        assert handler.__name__.startswith("_") and handler.__name__ != "<lambda>", path


def test_training_datasets_listed_once() -> None:
    from netanatomy.cli.train import DATASETS
    from netanatomy.training.datasets import DATASETS as LIBRARY

    assert DATASETS == LIBRARY


@pytest.mark.parametrize("path", [(), *sorted(COMMANDS)], ids=lambda p: " ".join(p) or "netanatomy")
def test_help_does_not_import_torch(path: tuple[str, ...]) -> None:
    code = ("import sys\nfrom netanatomy.cli.main import main\n"
            f"try:\n    main({[*list(path), '--help']!r})\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "usage: netanatomy" in proc.stdout and proc.stdout.strip().endswith("NO TORCH"), proc.stdout[-300:]


# --------------------------------------------------------------------------- JSON of cheap commands
def _documented_fields(kind: str) -> set[str]:
    """The field names the README's JSON table lists for ``kind``."""
    import re

    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.strip().startswith(f"| `{kind}` |"):
            return set(re.findall(r"`(\w+)`", line.split("|")[2]))
    pytest.fail(f"the README's JSON table has no row for {kind!r}")


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    """Run a command with -f json: one object, the schema version, and only fields the README documents."""
    assert main(list(argv)) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema_version"] == common.SCHEMA_VERSION
    undocumented = set(data) - {"schema_version", "kind"} - _documented_fields(data["kind"])
    assert not undocumented, f"{data['kind']} JSON fields missing from the README's table: {undocumented}"
    return data


def test_summary_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "summary", "conv3-64*3", "--input", "1x3x32x32", "-f", "json")
    assert data["kind"] == "summary"
    # By hand: 3·3·3·64 + 64, then twice 3·3·64·64 + 64.
    assert data["totals"]["params"] == 1792 + 2 * 36928


def test_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "models", "--family", "alexnet", "-f", "json")
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name["alexnet"]["params"] == 61_100_840  # torchvision's published count


def test_compare_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "compare", "conv3-64", "conv3-64*2", "--input", "1x3x8x8", "-f", "json")
    a, b = data["models"]
    assert (a["model"], a["params"], b["params"]) == ("conv3-64", 1792, 1792 + 36928)
    assert a["macs"] == 8 * 8 * 3 * 3 * 3 * 64  # one MAC per weight per output position (bias not counted)
    assert (a["output_receptive_field"], b["output_receptive_field"]) == ("3", "5")
    assert main(["compare", "conv3-64", "conv3-64*2", "--input", "1x3x8x8", "-f", "csv"]) == 0
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["params"]) for r in rows] == [a["params"], b["params"]]


def test_rf_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "rf", "conv3-64*3", "--input", "1x3x32x32", "--unit", "0,0", "-f", "json")
    # Three stacked 3x3 stride-1 convs: r = 1 + 2 + 2 + 2 = 7, j = 1, P = 1 + 1 + 1 = 3.
    assert data["kind"] == "rf" and data["field"]["size"] == [7, 7]
    assert data["field"]["jump"] == [1, 1] and data["field"]["padding"] == [3, 3]
    assert data["unit"]["box"] == [[-3, 3], [-3, 3]]  # unit 0 starts at -P and spans r pixels


def test_rf_verify_with_nothing_to_check_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Upsampling has a fractional jump (1/2): no exact field, so the probe has nothing to check.
    Saying "0/0 layers agree" and exiting 0 would pass a check that never ran."""
    src = tmp_path / "up.py"
    src.write_text("import torch.nn as nn\ndef build():\n    return nn.Sequential(nn.Upsample(scale_factor=2))\n")
    assert main(["rf", f"{src}:build", "--input", "1x1x4x4", "--verify"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("netanatomy: error: nothing to check") and "approximate" in err and err.count("\n") == 1


def test_ngram_eval_json_matches_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "t.txt"
    text.write_text("abcab" * 40)  # 200 characters: the last 10% = 20 validate
    model = tmp_path / "m.npz"
    train = _json(capsys, "ngram", "train", str(text), "--order", "2", "-o", str(model), "-f", "json")
    assert train["validation"]["chars"] == 20 and train["train_chars"] == 180 and train["vocab_size"] == 3
    data = _json(capsys, "ngram", "eval", str(model), str(text), "-f", "json")
    assert data["chars"] == 20 and math.isclose(data["bits_per_char"], data["nats_per_char"] / math.log(2))
    assert math.isclose(data["nats_per_char"], train["validation"]["nats_per_char"])
    assert main(["ngram", "eval", str(model), str(text)]) == 0
    assert f"{data['nats_per_char']:.4f} nats/char" in capsys.readouterr().out


def test_charrnn_train_and_sample_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "t.txt"
    text.write_text("hello world " * 40)
    run = tmp_path / "run"
    trained = _json(capsys, "charrnn", "train", str(text), "--run-dir", str(run), "-q", "--steps", "2", "--seq-len", "8",
                    "--batch-size", "2", "--hidden-size", "8", "--num-layers", "1", "--model", "char_gru", "-f", "json")
    assert trained["steps"] == 2 and trained["model"] == "char_gru" and Path(trained["checkpoint"]).is_file()
    sample = _json(capsys, "charrnn", "sample", str(run), "--prime", "he", "--length", "7", "--explain",
                   "--candidates", "8", "-f", "json")
    assert sample["text"].startswith("he") and len(sample["text"]) == 2 + 7
    assert "".join(s["drawn"] for s in sample["explain"]) == sample["text"][2:]
    # 8 candidates = the whole vocabulary ('hello world ' has 8 distinct characters): the softmax sums to 1.
    assert all(math.isclose(sum(p for _, p in s["candidates"]), 1.0, abs_tol=1e-6) for s in sample["explain"])
    # The same seed gives the same text in the table format.
    assert main(["charrnn", "sample", str(run), "--prime", "he", "--length", "7"]) == 0
    assert capsys.readouterr().out == sample["text"] + "\n"


def test_old_char_model_name_says_the_new_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "t.txt"
    text.write_text("hello world " * 40)
    assert main(["charrnn", "train", str(text), "--model", "lstm", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "char_lstm" in err


def _readme_commands() -> list[str]:
    """Every `netanatomy ...` command in the README: lines of ```bash blocks, `$ ` lines of ```console ones."""
    lines, block = [], None
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            block = line[3:].strip() if block is None else None
            continue
        if block == "console" and not line.startswith("$ "):
            continue  # output, not a command
        text = line.removeprefix("$ ").split("  #")[0].strip()
        if block in ("bash", "console") and text.startswith("netanatomy "):
            lines.append(text)
    return lines


def test_every_readme_command_parses() -> None:
    """The README shows only flags that exist (what changed is in its Conventions table)."""
    import shlex

    commands = _readme_commands()
    assert len(commands) >= 15
    parser = build_parser()
    for line in commands:
        try:
            parser.parse_args(shlex.split(line, comments=True)[1:])
        except SystemExit:
            pytest.fail(f"README command does not parse: {line}")


def test_train_predict_experiment_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With -f json, standard output holds one JSON object; the figures are those of the files the run wrote."""
    import csv

    run = tmp_path / "run"
    data = _json(capsys, "train", "resnet20", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "64",
                 "--limit", "128", "--run-dir", str(run), "-q", "-f", "json")
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert data["kind"] == "train" and len(data["history"]) == len(rows) == 1
    assert math.isclose(data["best_val_acc"], float(rows[0]["val_acc"]), rel_tol=1e-6)
    assert Path(data["checkpoints"]["last"]).is_file()

    from PIL import Image

    Image.fromarray(np.full((12, 12), 200, dtype=np.uint8)).save(tmp_path / "x.png")
    pred = _json(capsys, "predict", data["checkpoints"]["last"], str(tmp_path / "x.png"), "--top-k", "2", "-f", "json")
    (p,) = pred["predictions"]
    assert len(p["classes"]) == 2 and p["probabilities"] == sorted(p["probabilities"], reverse=True)
    assert main(["predict", data["checkpoints"]["last"], str(tmp_path / "x.png"), "--top-k", "2"]) == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path / 'x.png'}: " + ", ".join(
        f"{c} {100 * q:.1f}%" for c, q in zip(p["classes"], p["probabilities"]))

    exp = _json(capsys, "experiment", "bottleneck", "--run-dir", str(tmp_path / "exp"), "-f", "json")
    assert exp["report_markdown"] == (tmp_path / "exp" / "bottleneck.md").read_text()
    assert {"bottleneck.md", "bottleneck.png"} <= set(exp["files"])
