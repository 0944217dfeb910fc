"""``netanatomy report`` without a browser: what the page embeds, against independent references.

The browser tests (test_html_browser.py) check what the page shows; these check the document it
draws from: the CLI's own JSON, captures at other batch sizes, the papers' connectivity, the
receptive-field engine's public API, and the files a run leaves behind.
"""

from __future__ import annotations

import html.parser
import json
import re
from pathlib import Path

import pytest
import torch

from netanatomy.cli.main import main
from netanatomy.html.catalogue import messages
from netanatomy.html.graphview import build_view
from netanatomy.html.payload import model_payload

MESSAGES = messages()

ASSETS = Path(__file__).parents[1] / "netanatomy" / "html" / "assets"


def page_document(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="netanatomy-data">(.*?)</script>', text, re.S)
    assert m, "the page has no embedded document"
    return json.loads(m.group(1))


def test_page_embeds_exactly_the_summary_json(tmp_path: Path) -> None:
    # Oracle: the document `netanatomy summary --format json` prints for the same model.
    assert main(["summary", "resnet20", "-b", "4", "--format", "json", "-o", str(tmp_path / "s.json")]) == 0
    assert main(["report", "resnet20", "-b", "4", "-o", str(tmp_path / "r.html")]) == 0
    doc = page_document(tmp_path / "r.html")
    assert doc["kind"] == "models" and len(doc["models"]) == 1
    oracle = json.loads((tmp_path / "s.json").read_text())
    assert oracle.pop("schema_version") == 1 and oracle.pop("kind") == "summary"  # the envelope of every command's JSON
    assert doc["models"][0]["summary"] == oracle
    assert doc["models"][0]["batch"] == 4


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_batch_slope_predicts_a_capture_at_another_batch(mode: str) -> None:
    from netanatomy import create_model
    from netanatomy.analysis.summary import summary

    model = create_model("resnet20", device="meta")
    p = model_payload(model, [(2, 3, 32, 32)], mode=mode, name="resnet20")
    # Oracle: an independent capture at batch 9.
    at9 = summary(model, (9, 3, 32, 32), mode=mode).totals
    t = p["summary"]["totals"]
    for key in ("saved_bytes", "forward_activation_bytes", "input_bytes"):
        assert t[key] + 7 * p["per_sample"][key] == getattr(at9, key)


def _in_edges(view, key: str) -> int:
    return sum(1 for (_, b) in view.edges if b == key)


def _graph_of(name: str):
    from netanatomy import create_model
    from netanatomy.analysis.summary import summary

    s = summary(create_model(name, device="meta"), (1, 3, 224, 224), receptive_fields=False)
    return build_view(s.graph, {r.name for r in s.layers if r.is_leaf}, None)


def test_graph_draws_googlenet_inception_as_four_branches() -> None:
    # Szegedy et al. 2015, Table 1 / Fig. 2(b): nine Inception modules, each concatenating four branches.
    view = _graph_of("googlenet")
    cats = [k for k, (row, label, _) in view.nodes.items() if label == "cat" and row.startswith("inception")]
    assert len(cats) == 9
    assert all(_in_edges(view, k) == 4 for k in cats)


def test_graph_draws_resnet50_shortcuts_as_merges() -> None:
    # He et al. 2016, Table 1: ResNet-50 has 3 + 4 + 6 + 3 bottleneck blocks, each ending in x + F(x).
    view = _graph_of("resnet50")
    adds = [k for k, (_, label, _) in view.nodes.items() if label == "add"]
    assert len(adds) == 16
    assert all(_in_edges(view, k) == 2 for k in adds)


def test_graph_draws_densenet_concatenations() -> None:
    # Huang et al. 2017, eq. 2: layer l of a dense block reads the maps of all l preceding layers
    # (x_0 ... x_{l-1}); DenseNet-121 has blocks of 6, 12, 24 and 16 layers.
    view = _graph_of("densenet121")
    for block, n in enumerate((6, 12, 24, 16), start=1):
        for layer in range(1, n + 1):
            row = f"features.denseblock{block}.denselayer{layer}"
            cats = [k for k, (r, label, _) in view.nodes.items() if r == row and label == "cat"]
            if layer == 1:
                assert cats == []  # one input: nothing to concatenate
            else:
                assert len(cats) == 1 and _in_edges(view, cats[0]) == layer


def test_svg_has_a_clickable_element_per_node(tmp_path: Path) -> None:
    assert main(["report", "googlenet", "-o", str(tmp_path / "g.html")]) == 0
    doc = page_document(tmp_path / "g.html")
    for view in doc["models"][0]["graph"]:
        ids = set(re.findall(r'<g id="([^"]+)" class="node', view["svg"]))
        assert ids == set(view["rows"])


def test_receptive_field_boxes_are_the_engines() -> None:
    from netanatomy import create_model
    from netanatomy.receptive.engine import receptive_field

    model = create_model("resnet18", device="meta")
    p = model_payload(model, [(1, 3, 224, 224)], name="resnet18")
    local = [lf for lf in p["rf"]["layers"] if "box" in lf]
    assert len(local) > 40
    for lf in local[:: max(1, len(local) // 12)]:
        # Oracle: the engine's public API for that layer and unit (as `netanatomy rf --unit`).
        r = receptive_field(model, (1, 3, 224, 224), lf["name"])
        assert [[float(a), float(b)] for a, b in r.unit_box(lf["unit"])] == lf["box"]
        assert [[float(a), float(b)] for a, b in r.clipped_box(lf["unit"])] == lf["clipped_box"]
        assert lf["size"] == [float(s) for s in r.size]
    assert p["rf"]["default"] == receptive_field(model, (1, 3, 224, 224)).layer == "layer4"


def test_photo_is_at_the_input_size() -> None:
    import base64
    import io

    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_sample_image

    from netanatomy.html.photo import photo_data_uri

    uri = photo_data_uri(100, 160, "flower.jpg")
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert img.format == "JPEG" and img.size == (160, 100)
    # Oracle: scikit-learn's own loader, centre-cropped (427x640 -> 400x640 at 10:16) and resized
    # the same way; JPEG costs a few grey levels on average.
    ref = Image.fromarray(load_sample_image("flower.jpg")).crop((0, 13, 640, 413)).resize((160, 100), Image.Resampling.LANCZOS)
    def mean_diff(a: Image.Image) -> float:
        return float(np.abs(np.asarray(img, dtype=float) - np.asarray(a, dtype=float)).mean())

    assert mean_diff(ref) < 6
    assert mean_diff(ref.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) > 3 * mean_diff(ref)  # the check can tell


class _Refs(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href", "xlink:href", "action", "data") and v is not None:
                self.urls.append(v)


def test_page_is_self_contained(tmp_path: Path) -> None:
    assert main(["report", "conv3-8*2,M,fc-10", "--input", "1x3x16x16", "-o", str(tmp_path / "p.html")]) == 0
    text = (tmp_path / "p.html").read_text(encoding="utf-8")
    refs = _Refs()
    refs.feed(text)
    assert "link" not in refs.tags and refs.urls == []
    assert "default-src 'none'" in text  # the browser refuses any fetch
    doc = page_document(tmp_path / "p.html")
    for view in doc["models"][0]["graph"]:
        inner = _Refs()
        inner.feed(view["svg"])
        assert all(u.startswith("data:") for u in inner.urls)
    assert doc["models"][0]["photo"].startswith("data:image/jpeg;base64,")


def test_catalogue_covers_every_label_in_both_languages() -> None:
    js = (ASSETS / "report.js").read_text(encoding="utf-8")
    used = set(re.findall(r'\bL\("([a-z_0-9]+)"', js)) | set(re.findall(r'\bt\("([a-z_0-9]+)"', js))
    used |= set(re.findall(r'"(w_[a-z]+|m_[a-z]+)"', js))
    from netanatomy.html import runs

    for specs in (runs._CLASSIFIER_CHARTS, runs._CHAR_CHARTS):
        for _, title, fields, _ in specs:
            used |= {title, *(label for _, label, _ in fields)}
    keys = {k.removeprefix("report.") for k in MESSAGES}
    assert used - keys == set()
    hangul = re.compile("[\uac00-\ud7a3]")
    for key, texts in MESSAGES.items():
        assert texts["en"] and texts["ko"], key
        if key not in ("report.flops", "report.col_macs"):
            assert hangul.search(texts["ko"]), f"{key} has no Korean"


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["report", "resnet20"]) == 2
    assert "-o FILE.html" in capsys.readouterr().err
    assert main(["report", "resnett20", "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "resnet20" in err
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "x.html")]) == 2
    assert "no netanatomy run" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "ckpt.pt").write_bytes(b"not a checkpoint")
    assert main(["report", str(foreign), "-o", str(tmp_path / "x.html")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    (foreign / "ckpt.pt").unlink()
    (foreign / "notes.md").write_text("# notes\n")
    (foreign / "notes.png").write_bytes(b"\x89PNG")
    (foreign / "metrics.jsonl").write_text("{not json\n")
    assert main(["report", str(foreign), "-o", str(tmp_path / "x.html")]) == 2
    assert "cannot read the metrics" in capsys.readouterr().err
    for p in foreign.iterdir():
        p.unlink()
    foreign.rmdir()
    # Without Graphviz: one line saying how to install it, and the old page left as it was.
    (tmp_path / "old.html").write_text("old")
    monkeypatch.setattr("netanatomy.html.graphview.shutil.which", lambda name: None)
    assert main(["report", "resnet20", "-o", str(tmp_path / "old.html")]) == 2
    assert "apt-get install graphviz" in capsys.readouterr().err
    assert (tmp_path / "old.html").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.html"]  # no temporary file left


def test_classifier_run_page(tmp_path: Path) -> None:
    from netanatomy.training.trainer import TrainConfig, train

    run = tmp_path / "run"
    torch.manual_seed(0)
    train(TrainConfig(model="resnet20", dataset="synthetic", epochs=2, batch_size=64, out_dir=str(run),
                      progress=False, log=False, device="cpu"))
    assert main(["report", str(run), "-o", str(tmp_path / "run.html")]) == 0
    doc = page_document(tmp_path / "run.html")
    r = doc["run"]
    assert doc["kind"] == "run" and r["kind"] == "classifier"
    ckpt = torch.load(run / "best.pt", weights_only=True)
    matrix = r["confusion"]["matrix"]
    total = sum(map(sum, matrix))
    correct = sum(matrix[i][i] for i in range(len(matrix)))
    # Oracle: the trainer's own validation accuracy of the epoch it saved as best.pt.
    assert correct / total == pytest.approx(ckpt["best_val_acc"], abs=1e-9)
    assert r["confusion"]["classes"] == ["horizontal", "vertical", "diagonal", "antidiagonal"]
    assert len(r["misclassified"]) == min(24, total - correct)
    for m in r["misclassified"]:
        assert m["top3"][0][0] != m["true"] and m["image"].startswith("data:image/png;base64,")
    # Curves: the metrics file's numbers.
    rows = (run / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    val_loss = [float(line.split(",")[header.index("val_loss")]) for line in rows[1:]]
    loss = next(c for c in r["charts"] if c["id"] == "loss")
    assert [p[1] for p in next(s for s in loss["series"] if s["name"] == "val_loss")["points"]] == pytest.approx(val_loss, rel=1e-6)


def test_char_and_experiment_run_pages(tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("hello world, the quick brown fox jumps over the lazy dog.\n" * 40)
    assert main(["charrnn", "train", str(text), "--model", "char_gru", "--hidden-size", "16", "--num-layers", "1",
                 "--seq-len", "10", "--batch-size", "4", "--steps", "6", "--log-interval", "2", "--eval-interval", "3",
                 "--quiet", "--threads", "1", "--run-dir", str(tmp_path / "char")]) == 0
    assert main(["report", str(tmp_path / "char"), "-o", str(tmp_path / "char.html"), "--lang", "ko"]) == 0
    doc = page_document(tmp_path / "char.html")
    r = doc["run"]
    assert doc["lang"] == "ko" and r["kind"] == "char"
    # Oracle: the temperature table the run itself stored, and the samples in its metrics.
    stored = json.loads((tmp_path / "char" / "temperatures.json").read_text())["samples"]
    assert [s["temperature"] for s in r["samples"]] == [s["temperature"] for s in stored] == [0.5, 1.0, 1.5]
    assert [(s["text"], s["entropy_bits"]) for s in r["samples"]] == [(s["text"], s["entropy_bits"]) for s in stored]
    alphabet = set(text.read_text())
    assert all(set(s["text"]) <= alphabet for s in r["samples"])
    records = [json.loads(line) for line in (tmp_path / "char" / "metrics.jsonl").read_text().splitlines()]
    assert r["samples_over_training"] == [{"step": x["step"], "text": x["sample"]} for x in records if x.get("sample")]
    assert len(r["samples_over_training"]) == 2  # evaluations at steps 3 and 6
    bpc = next(c for c in r["charts"] if c["id"] == "bpc")
    assert len(next(s for s in bpc["series"] if s["name"] == "val_bpc")["points"]) == sum(1 for x in records if "val_bpc" in x)

    from netanatomy.training.experiments.bottleneck import run_bottleneck

    run_bottleneck(tmp_path / "exp")
    assert main(["report", str(tmp_path / "exp"), "-o", str(tmp_path / "exp.html")]) == 0
    r = page_document(tmp_path / "exp.html")["run"]
    assert r["kind"] == "experiment" and r["experiments"][0]["name"] == "bottleneck"
    assert "854,196,224" in r["experiments"][0]["html"] and r["experiments"][0]["figures"][0].startswith("data:image/png")


def test_erf_heatmap_is_embedded_at_the_input_size(tmp_path: Path) -> None:
    import base64
    import io

    from PIL import Image

    from netanatomy.receptive.engine import receptive_field

    assert main(["report", "conv3-8*4", "--input", "1x3x21x21", "--erf", "-o", str(tmp_path / "e.html")]) == 0
    m = page_document(tmp_path / "e.html")["models"][0]
    erf = m["erf"]
    assert erf["layer"] == m["rf"]["default"] == "3"  # the fourth convolution
    img = Image.open(io.BytesIO(base64.b64decode(erf["png"].split(",", 1)[1])))
    assert img.size == (21, 21)
    # The centre unit of a 21x21 map of stride-1 'same' convs is centred on input pixel (10, 10),
    # and its theoretical field is 1 + 4·2 = 9 pixels; the ERF's 95% radius lies within it
    # (Luo et al. 2016: the effective field is a fraction of the theoretical one).
    assert erf["centre"] == [10.0, 10.0]
    r = receptive_field(_spec_model(), (1, 3, 21, 21))
    assert float(r.size[0]) == 9 and 0 < erf["radius_95"] <= 4.5


def _spec_model():
    from netanatomy.analysis.loading import resolve_model

    return resolve_model("conv3-8*4", [(1, 3, 21, 21)], {}).model


def test_embedded_json_cannot_close_its_script_element() -> None:
    from netanatomy.html.page import json_for_script

    data = {"name": "</script><script>alert(1)</script><!-- x", "svg": "<svg><g></g></svg>", "ko": "수용 영역"}
    text = json_for_script(data)
    assert "</" not in text and "<!--" not in text
    assert json.loads(text) == data  # the same document (JSON.parse reads the same grammar)


def test_unknown_language_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "resnet20", "-o", str(tmp_path / "r.html"), "--lang", "fr"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no language 'fr'" in err and "Languages: en, ko" in err
    assert not (tmp_path / "r.html").exists()


def test_report_takes_the_same_model_options_as_summary(tmp_path: Path) -> None:
    """Token inputs with their dtype, builder arguments and the batch override mean the same in both."""
    argv = ["char_gru", "--input", "3x7:int64", "-a", "hidden_size=24", "-b", "5"]
    assert main(["summary", *argv, "--format", "json", "-o", str(tmp_path / "s.json")]) == 0
    assert main(["report", *argv, "-o", str(tmp_path / "r.html")]) == 0
    oracle = json.loads((tmp_path / "s.json").read_text())
    del oracle["schema_version"], oracle["kind"]
    page = page_document(tmp_path / "r.html")["models"][0]["summary"]
    assert page == oracle and page["input_sizes"] == [[5, 7]] and page["input_dtypes"] == ["int64"]
