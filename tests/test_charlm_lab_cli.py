"""`charrnn inspect`, `charrnn gradients` and `experiment recurrent` end to end: the totals equal
what `charrnn train` and `ngram eval` print, the page is self-contained, bad input is one line."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from netanatomy.cli.main import main

LINES = (
    'FIRST CITIZEN:\nWe are accounted poor citizens, the patricians good.\n\n'
    'SECOND CITIZEN:\nWould you proceed (especially) against Caius Marcius?\n\n'
    'ALL:\n"Against him first: he\'s a very dog to the commonalty."\n\n'
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained LSTM run (2 layers, so that layer names are exercised) on a short text."""
    d = tmp_path_factory.mktemp("lab")
    text = d / "text.txt"
    text.write_text(LINES * 40, encoding="utf-8")
    argv = ["charrnn", "train", str(text), "--run-dir", str(d / "run"), "--quiet", "--steps", "12", "--seq-len", "16",
            "--batch-size", "4", "--hidden-size", "12", "--num-layers", "2", "--eval-interval", "6"]
    assert main(argv) == 0
    return d


def _last_val(run_dir: Path) -> float:
    recs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return float([r for r in recs if r["kind"] == "val"][-1]["val_loss"])


def _printed_nats(out: str) -> float:
    m = re.search(r"([0-9.]+) nats/char", out)
    assert m, out
    return float(m.group(1))


def test_inspect_totals_equal_train_and_ngram_eval(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, kn = run / "text.txt", run / "kn4.npz"
    assert main(["ngram", "train", str(text), "--order", "4", "-o", str(kn)]) == 0
    train_out = capsys.readouterr().out
    assert main(["ngram", "eval", str(kn), str(text)]) == 0
    ngram_eval = _printed_nats(capsys.readouterr().out)
    page = run / "lab.html"
    argv = ["charrnn", "inspect", str(run / "run" / "ckpt.pt"), "--ngram", str(kn), "--chars", "300",
            "--html", str(page), "-f", "json", "--unit", "l1.c3"]
    assert main(argv) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["schema_version"] == 1 and got["kind"] == "charrnn.inspect"
    val = got["validation"]
    assert val["model_nats_per_char"] == pytest.approx(_last_val(run / "run"), rel=1e-6)  # float32 sums, summed in another order
    assert val["ngram_nats_per_char"] == pytest.approx(ngram_eval, abs=5e-5)  # printed to 4 decimals
    # Without --ngram, a 4-gram trained on the run's training split gives `ngram train`'s figure.
    assert main(["charrnn", "inspect", "--checkpoint", str(run / "run"), "--order", "4", "--chars", "50", "-f", "json"]) == 0
    again = json.loads(capsys.readouterr().out)["validation"]
    assert again["ngram_nats_per_char"] == pytest.approx(_printed_nats(train_out.split("validation")[1]), abs=5e-5)
    # The passage figures are the means of the per-character ones.
    p = got["passage"]
    assert p["scored"] == 299 == len(p["model_bits"])
    assert p["model_bits_per_char"] == pytest.approx(sum(p["model_bits"]) / 299)
    html = page.read_text(encoding="utf-8")
    for outside in ("http://", "https://", "<script", "src=", "<link", "@import"):
        assert outside not in html  # self-contained: nothing is fetched
    assert html.count("top 5:") == 2 * 3 * 299  # both models' candidates on every scored character, 3 views
    assert "l1.c3" in html and "inside_brackets" in html


def test_inspect_table_lists_the_feature_search(run: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "summary.txt"
    assert main(["charrnn", "inspect", str(run / "run"), "--order", "3", "--chars", "200", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "validation split: LSTM" in text and "as `ngram eval`" in text
    for feature in ("inside_quotes", "position_in_line", "after_newline", "uppercase", "vowel", "digit", "punctuation"):
        assert feature in text
    assert "digit             absent from the passage" in text  # the text has no digits


def test_inspect_bad_input(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def fails(argv: list[str], *needles: str) -> None:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("netanatomy: error: ") and err.count("\n") == 1, err
        for n in needles:
            assert n in err, err

    bad = tmp_path / "bad.txt"
    bad.write_text("We are\naccounted 42 poor", encoding="utf-8")
    ckpt = str(run / "run" / "ckpt.pt")
    fails(["charrnn", "inspect", ckpt, "--text", str(bad)], "'4' at 2:11 (offset 17)", "'2' at 2:12 (offset 18)")
    fails(["charrnn", "inspect", ckpt, "--unit", "c99"], "does not exist")
    other = tmp_path / "other.txt"
    other.write_text("0123456789 " * 50, encoding="utf-8")
    assert main(["ngram", "train", str(other), "--order", "2", "-o", str(tmp_path / "other.npz")]) == 0
    capsys.readouterr()
    fails(["charrnn", "inspect", ckpt, "--ngram", str(tmp_path / "other.npz")], "another vocabulary")
    # A checkpoint of another kind: a CNN run's, written by the image trainer's own code.
    from netanatomy.training.checkpoint import save_checkpoint

    cnn = tmp_path / "cnn.pt"
    save_checkpoint({"config": {"model": "resnet20"}, "model": {}}, cnn, kind="image-classifier")
    fails(["charrnn", "inspect", str(cnn)], "kind image-classifier", "not char-lm")
    fails(["charrnn", "gradients", str(cnn)], "kind image-classifier", "not char-lm")
    fails(["charrnn", "gradients", "--model", "char_lstmm"], "char_lstm")
    fails(["charrnn", "inspect"], "give a checkpoint")


def test_gradients_from_a_checkpoint_trained_and_at_init(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "g.png"
    argv = ["charrnn", "gradients", str(run / "run"), "--lags", "30", "--batch-size", "3", "-o", str(png), "-f", "json"]
    assert main(argv) == 0
    got = json.loads(capsys.readouterr().out)
    labels = [m["label"] for m in got["models"]]
    assert labels[0].startswith("LSTM trained") and labels[1] == "LSTM init"
    for m in got["models"]:
        assert len(m["dh"]) == len(m["dc"]) == 30 and all(v > 0 for v in m["dh"])
        assert m["dh_over_lag1"]["25"] == pytest.approx(m["dh"][25] / m["dh"][1])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gradients_of_three_cells_at_one_budget(golden: Callable[[str, str], None], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["charrnn", "gradients", "--hidden-size", "16", "--lags", "30", "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    golden("charrnn_gradients.txt", out)
    assert "RNN init: W_hh layer 0: spectral radius" in out


def test_recurrent_experiment_on_a_small_text(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exp"
    argv = ["experiment", "recurrent", "--text", str(run / "text.txt"), "--steps", "4", "--hidden-size", "10",
            "--seq-len", "16", "--batch-size", "4", "--lags", "20", "--run-dir", str(out), "--device", "cpu"]
    assert main(argv) == 0
    report = (out / "recurrent.md").read_text(encoding="utf-8")
    assert report in capsys.readouterr().out
    assert "equal steps: 4 each" in report
    data = json.loads((out / "recurrent.json").read_text(encoding="utf-8"))
    cells = {c["cell"]: c for c in data["cells"]}
    assert set(cells) == {"rnn", "gru", "lstm"}
    for cell, c in cells.items():
        # The figure reported is the run's own last validation record.
        assert c["val_nats_per_char"] == pytest.approx(_last_val(out / cell), rel=1e-12)
        assert c["val_bits_per_char"] == pytest.approx(c["val_nats_per_char"] / math.log(2))
        assert f"| {cell.upper()} | {c['hidden_size']} | {c['params']:,} |" in report
        assert len(c["flow_trained"]["dh"]) == 20 and c["sample"]
    counts = [c["params"] for c in cells.values()]
    assert (max(counts) - min(counts)) / max(counts) < 0.05  # one parameter budget
    assert cells["rnn"]["spectrum_init"] and not cells["lstm"]["spectrum_init"]
    for png in ("gradient_flow.png", "bits_per_char.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_recurrent_experiment_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "t.txt"
    text.write_text(LINES * 10, encoding="utf-8")
    assert main(["experiment", "recurrent", "--text", str(text), "--cells", "rnn,tcn", "--run-dir", str(tmp_path / "o")]) == 2
    assert "unknown cell(s) ['tcn']" in capsys.readouterr().err


def test_recurrent_experiment_needs_a_text(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETANATOMY_CACHE", str(tmp_path))  # no shakespeare.txt fetched there
    assert main(["experiment", "recurrent", "--run-dir", str(tmp_path / "o")]) == 2
    assert "--text FILE" in capsys.readouterr().err


def test_recurrent_experiment_defaults_are_its_own_not_the_image_trainers() -> None:
    """`experiment` shares --batch-size and --lr with the CNN experiments; when they are not given,
    the recurrent one uses its own defaults (32 text streams, AdamW 2e-3), not 128 images."""
    from netanatomy.cli.main import build_parser

    args = build_parser().parse_args(["experiment", "recurrent"])
    assert args.batch_size is None and args.lr is None and args.hidden_size == 128 and args.seq_len == 64
    from netanatomy.training.config import RecurrentConfig, default_of

    assert (default_of(RecurrentConfig, "batch_size"), default_of(RecurrentConfig, "lr")) == (32, 2e-3)
    cnn = build_parser().parse_args(["experiment", "gap"])
    from netanatomy.cli.train import train_config

    assert train_config(cnn, "resnet20", "runs/x").batch_size == 128
