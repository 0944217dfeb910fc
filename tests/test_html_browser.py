"""``netanatomy report`` pages in a real browser: Debian's chromium, headless, driven by selenium.

Why selenium: Debian ships ``chromium`` with a matching ``chromedriver``, so the tests drive the
very browser installed on the machine with a small pure-Python client; playwright would bring
its own driver runtime (Node) for the same checks. One browser session serves the whole module.

Every check has an oracle outside the page: the CLI's ``summary``/``compare --format json``
output and its text table's cell renderer (numbers), the receptive-field engine's public API
(boxes), fresh captures at other batch sizes (the memory calculator), and the catalogue (labels).
The network is blocked in the browser and the page must load without one console message.
A screenshot of each page is written to ``$NETANATOMY_SCREENSHOT_DIR`` (default: a temporary
folder); ``NETANATOMY_SCREENSHOT_DIR=docs/img pytest tests/test_html_browser.py`` refreshes the
README's pictures.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netanatomy.analysis.records import LayerRecord
from netanatomy.cli.main import main
from netanatomy.html.catalogue import messages
from netanatomy.report import units
from netanatomy.report.columns import COLUMNS, Column

MESSAGES = messages()

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
MODELS = ("vgg16", "resnet50", "googlenet")
COMPARED = ("vgg16", "resnet50")
BUDGET = "4 GiB"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # CI must fail, not skip, when the browser is missing (scripts/test.sh installs it).
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not (Path(exe).exists() or shutil.which(Path(exe).name)):
            pytest.fail(f"{exe} is missing: install Debian's chromium and chromium-driver (scripts/test.sh does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1366,900", "--hide-scrollbars",
                "--disable-dev-shm-usage", "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER if Path(CHROMEDRIVER).exists() else shutil.which("chromedriver")),
                              options=options)
    # No network at all: every request is blocked and the connection reported offline.
    driver.execute_cdp_cmd("Network.enable", {})
    # (every scheme that reaches beyond the file; the page's own data: pictures stay readable)
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions",
                           {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Each page, with the CLI's JSON of the same model (the oracle)."""
    out = tmp_path_factory.mktemp("pages")
    result: dict[str, tuple[Path, dict[str, Any]]] = {}
    for name in MODELS:
        assert main(["report", name, "-o", str(out / f"{name}.html")]) == 0
        assert main(["summary", name, "--format", "json", "-o", str(out / f"{name}.json")]) == 0
        result[name] = (out / f"{name}.html", json.loads((out / f"{name}.json").read_text()))
    assert main(["report", *COMPARED, "-o", str(out / "compare.html")]) == 0
    result["compare"] = (out / "compare.html", {})
    return result


def screenshot_dir() -> Path:
    d = Path(os.environ.get("NETANATOMY_SCREENSHOT_DIR") or Path(os.environ.get("TMPDIR", "/tmp")) / "netanatomy-shots")
    d.mkdir(parents=True, exist_ok=True)
    return d


def save_screenshot(driver: Any, name: str, height: int = 1100, full: bool = True) -> Path:
    """The top of the page (``full``) or the current view, at laptop width, as a small palette PNG."""
    from PIL import Image

    if full:
        driver.execute_script("window.scrollTo(0, 0);")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 1366, "height": height, "deviceScaleFactor": 1, "mobile": False})
        time.sleep(0.2)
    png = driver.get_screenshot_as_png()
    if full:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128)
    path = screenshot_dir() / f"report-{name}.png"
    img.save(path, optimize=True)
    return path


def load(driver: Any, path: Path) -> None:
    driver.get_log("browser")  # drop messages of the previous page
    driver.get(path.as_uri())
    driver.execute_script("return document.readyState")
    assert driver.find_element("css selector", "#app header h1")


def console_messages(driver: Any) -> list[dict[str, Any]]:
    return list(driver.get_log("browser"))


def set_value(driver: Any, css: str, text: str) -> None:
    box = driver.find_element("css selector", css)
    driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));", box, text)


def record(d: dict[str, Any]) -> LayerRecord:
    return LayerRecord(**{**d, "input_shapes": [tuple(s) for s in d["input_shapes"]],
                          "output_shapes": [tuple(s) for s in d["output_shapes"]]})


# ---- model pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_page_loads_offline_without_console_messages(browser: Any, pages: dict, name: str) -> None:
    load(browser, pages[name][0])
    assert console_messages(browser) == []
    # Nothing was fetched from the network: every resource is the page's own data: URIs.
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert all(u.startswith("data:") for u in urls), urls
    # The photograph decodes under the page's content policy, at the model's input size.
    size = browser.execute_async_script("""
        var done = arguments[0], doc = JSON.parse(document.getElementById('netanatomy-data').textContent);
        var img = new Image(); img.onload = function () { done([img.naturalHeight, img.naturalWidth]); };
        img.onerror = function () { done(null); }; img.src = doc.models[0].photo;""")
    assert size == [224, 224]
    # VGG16's whole table fits a taller picture: memory in the first convolutions, parameters in fc6.
    save_screenshot(browser, name, 1800 if name == "vgg16" else 1100)


@pytest.mark.parametrize("name", MODELS)
def test_numbers_shown_equal_the_cli_json(browser: Any, pages: dict, name: str) -> None:
    path, data = pages[name]
    load(browser, path)
    t = data["totals"]
    cards = {"card-params": (t["params"], units.count), "card-macs": (t["macs"], units.si), "card-flops": (t["flops"], units.si),
             "card-fwd": (t["forward_activation_bytes"], units.nbytes), "card-saved": (t["saved_bytes"], units.nbytes),
             "card-train": (t["training_memory"]["total"], units.nbytes)}
    for css, (value, fmt) in cards.items():
        e = browser.find_element("id", css)
        assert int(e.get_attribute("data-value")) == value and e.text == fmt(value), css
    # Every row at full depth: each cell as the text table (the CLI's own cell renderer) writes it.
    set_value(browser, "#depth", "-1")
    browser.execute_script("var s = document.getElementById('depth'); s.value = '-1'; s.dispatchEvent(new Event('change'));")
    rows = browser.execute_script("""
        return Array.from(document.querySelectorAll('#layer-table tbody tr')).map(function (tr) {
          var c = tr.querySelectorAll('td');
          return [tr.dataset.name, tr.dataset.folded, c[1].textContent, c[2].textContent, c[3].textContent,
                  c[4].textContent, c[5].textContent, c[6].textContent, c[7].textContent]; });""")
    layers = [record(d) for d in data["layers"] if not (d["depth"] == 0 and d["children"])]
    assert [r[0] for r in rows] == [rec.name for rec in layers]
    columns = (Column.OUTPUT, Column.PARAMS, Column.FORMULA, Column.MACS, Column.ACTIVATIONS, Column.SAVED, Column.RF)
    for row, rec in zip(rows, layers):
        folded = rec.is_leaf
        assert row[1] == ("1" if folded else "0")
        expected = [COLUMNS[c].cell(rec, folded) for c in columns]
        assert row[2:] == expected, rec.name


def _node_and_row(browser: Any) -> list[tuple[str, str]]:
    """(node id, row name) of the drawn graph's module nodes."""
    return browser.execute_script("""
        var doc = JSON.parse(document.getElementById('netanatomy-data').textContent);
        var ids = Array.from(document.querySelectorAll('#graph g.node')).map(function (g) { return g.id; });
        var m = doc.models[0], out = [];
        var views = m.graph; var view = null;
        views.forEach(function (v) { if (ids.every(function (i) { return i in v.rows; }) && Object.keys(v.rows).length === ids.length) view = v; });
        ids.forEach(function (i) { if (view.rows[i]) out.push([i, view.rows[i]]); });
        return out;""")


@pytest.mark.parametrize("name", MODELS)
def test_clicking_a_graph_node_selects_its_row_and_back(browser: Any, pages: dict, name: str) -> None:
    load(browser, pages[name][0])
    pairs = _node_and_row(browser)
    assert len(pairs) > 5
    for node, row in (pairs[1], pairs[len(pairs) // 2]):
        el = browser.find_element("css selector", f"#graph g[id='{node}'] text")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
        el.click()
        selected = browser.find_elements("css selector", "#layer-table tr.sel")
        assert [tr.get_attribute("data-name") for tr in selected] == [row]
    # And the reverse: a row selects its node.
    node, row = pairs[2]
    tr = browser.find_element("css selector", f"#layer-table tr[data-name='{row}']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", tr)
    tr.click()
    assert [g.get_attribute("id") for g in browser.find_elements("css selector", "#graph g.node.sel")] == [node]


RF_LAYERS = {"vgg16": ["features.4", "features.16", "features.30"], "resnet50": ["conv1", "layer4", "layer2"],
             "googlenet": ["maxpool1", "inception3a", "inception5b"]}


@pytest.mark.parametrize("name", MODELS)
def test_selected_layer_draws_the_engines_box(browser: Any, pages: dict, name: str) -> None:
    from netanatomy import create_model
    from netanatomy.receptive.engine import receptive_field

    load(browser, pages[name][0])
    model = create_model(name, device="meta")
    for layer in RF_LAYERS[name]:
        tr = browser.find_element("css selector", f"#layer-table tr[data-name='{layer}']")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", tr)
        tr.click()
        r = receptive_field(model, (1, 3, 224, 224), layer)
        unit = tuple(int(u) // 2 for u in r.field.units)  # the centre unit
        for css, box in (("#rf-rect", r.unit_box(unit)), ("#rf-seen", r.clipped_box(unit))):
            rect = browser.find_element("css selector", css)
            (r0, r1), (c0, c1) = box  # type: ignore[misc]
            got = [float(rect.get_attribute(a)) for a in ("x", "y", "width", "height")]
            # pixel i covers [i, i + 1): the box of pixels c0..c1 is c1 - c0 + 1 wide
            assert got == [float(c0), float(r0), float(c1 - c0 + 1), float(r1 - r0 + 1)], (layer, css)
    if name == "resnet50":
        browser.execute_script("document.getElementById('graph').scrollIntoView({block: 'start'});")
        save_screenshot(browser, f"{name}-rf", 900, full=False)


@pytest.mark.parametrize("name", MODELS)
def test_batch_control_and_largest_batch(browser: Any, pages: dict, name: str, tmp_path: Path) -> None:
    load(browser, pages[name][0])
    set_value(browser, "#batch", "7")
    # Oracle: the CLI at batch 7.
    assert main(["summary", name, "-b", "7", "--format", "json", "-o", str(tmp_path / "b7.json")]) == 0
    t7 = json.loads((tmp_path / "b7.json").read_text())["totals"]
    for css, value in (("mem-total", t7["training_memory"]["total"]), ("mem-fwd", t7["forward_activation_bytes"]),
                       ("mem-saved", t7["saved_bytes"])):
        e = browser.find_element("id", css)
        assert int(e.get_attribute("data-value")) == value and e.text == units.nbytes(value), css
    set_value(browser, "#budget", BUDGET)
    n = int(browser.find_element("id", "fits-batch").get_attribute("data-value"))
    from netanatomy import create_model
    from netanatomy.analysis.summary import summary

    model = create_model(name, device="meta")
    fits = [summary(model, (b, 3, 224, 224), receptive_fields=False).totals.training_memory("adam")["total"] for b in (n, n + 1)]
    assert fits[0] <= 4 * 2**30 < fits[1]


def test_switching_to_korean_changes_the_labels(browser: Any, pages: dict) -> None:
    load(browser, pages["resnet50"][0])
    label = browser.find_element("css selector", "#card-params").find_element("xpath", "preceding-sibling::div")
    assert label.text == MESSAGES["report.params"]["en"]
    value = browser.find_element("id", "card-params").text
    browser.find_element("id", "lang-ko").click()
    assert browser.execute_script("return document.documentElement.lang") == "ko"
    label = browser.find_element("css selector", "#card-params").find_element("xpath", "preceding-sibling::div")
    assert label.text == MESSAGES["report.params"]["ko"]
    headers = [th.text.strip(" ▲▼") for th in browser.find_elements("css selector", "#layer-table th")]
    assert headers[0] == MESSAGES["report.col_layer"]["ko"] and headers[1] == MESSAGES["report.col_output"]["ko"]
    assert browser.find_element("id", "card-params").text == value  # the numbers stay
    assert console_messages(browser) == []
    save_screenshot(browser, "resnet50-ko", 900)
    browser.find_element("id", "lang-en").click()
    assert browser.find_element("css selector", "#layer-table th").text.startswith(MESSAGES["report.col_layer"]["en"])


def test_sorting_and_folding(browser: Any, pages: dict) -> None:
    load(browser, pages["vgg16"][0])
    browser.find_element("css selector", "#layer-table th[data-col='params']").click()
    names = [tr.get_attribute("data-name") for tr in browser.find_elements("css selector", "#layer-table tbody tr")]
    # VGG's parameters sit in the first fully connected layer (25088·4096 + 4096).
    assert names[0] == "classifier.0"
    browser.execute_script("var s = document.getElementById('depth'); s.value = '1'; s.dispatchEvent(new Event('change'));")
    names = [tr.get_attribute("data-name") for tr in browser.find_elements("css selector", "#layer-table tbody tr")]
    assert names == ["classifier", "features", "avgpool"]  # still sorted by parameters, folded to depth 1


# ---- comparison and training run -----------------------------------------------------------------


def test_comparison_page(browser: Any, pages: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load(browser, pages["compare"][0])
    assert console_messages(browser) == []
    capsys.readouterr()
    assert main(["compare", *COMPARED, "--format", "json"]) == 0
    keys = {"Parameters": "params", "Trainable": "trainable_params", "MACs": "macs", "FLOPs (2 x MACs)": "flops",
            "Parameter memory": "param_bytes", "Forward activations": "forward_activation_bytes",
            "Saved for backward": "saved_bytes", "Training memory (adam)": "training_memory_bytes", "Input": "input",
            "Output RF": "output_receptive_field"}
    oracle = {m["model"]: {label: m[key] for label, key in keys.items()} for m in json.loads(capsys.readouterr().out)["models"]}
    fmt = {"Parameters": units.count, "Trainable": units.count, "MACs": units.si, "FLOPs (2 x MACs)": units.si,
           "Parameter memory": units.nbytes, "Forward activations": units.nbytes, "Saved for backward": units.nbytes,
           "Training memory (adam)": units.nbytes, "Input": str, "Output RF": str}
    for label, f in fmt.items():
        for model in COMPARED:
            cell = browser.find_element("css selector", f"#compare-table tr[data-row='{label}'] td[data-model='{model}']")
            assert cell.text == f(oracle[model][label]), (label, model)
    for model in COMPARED:
        dot = browser.find_element("css selector", f"#scatter circle[data-name='{model}']")
        assert int(dot.get_attribute("data-params")) == oracle[model]["Parameters"]
        assert int(dot.get_attribute("data-macs")) == oracle[model]["MACs"]
    save_screenshot(browser, "compare", 1000)
    browser.find_element("css selector", "button.tab[data-model='1']").click()
    assert browser.find_element("css selector", "#model h2").text == COMPARED[1]
    assert int(browser.find_element("id", "card-params").get_attribute("data-value")) == oracle[COMPARED[1]]["Parameters"]


def test_training_run_page(browser: Any, tmp_path: Path) -> None:
    from netanatomy.training.trainer import TrainConfig, train

    train(TrainConfig(model="resnet20", dataset="synthetic", epochs=3, batch_size=64, out_dir=str(tmp_path / "run"),
                      progress=False, log=False, device="cpu"))
    assert main(["report", str(tmp_path / "run"), "-o", str(tmp_path / "run.html")]) == 0
    load(browser, tmp_path / "run.html")
    assert console_messages(browser) == []
    paths = browser.find_elements("css selector", "#chart-loss path[data-series]")
    assert sorted(p.get_attribute("data-series") for p in paths) == ["train_loss", "val_loss"]
    assert all(p.get_attribute("data-n") == "3" for p in paths)  # one point per epoch
    cells = browser.find_elements("css selector", "#confusion td[data-value]")
    assert len(cells) == 16
    import torch

    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    total = sum(int(c.get_attribute("data-value")) for c in cells)
    diag = sum(int(cells[5 * i].get_attribute("data-value")) for i in range(4))
    assert diag / total == pytest.approx(best["best_val_acc"])  # the trainer's own validation accuracy
    assert len(browser.find_elements("css selector", "#misclassified .thumb")) == min(24, total - diag)
    browser.find_element("id", "lang-ko").click()
    assert browser.find_element("css selector", "h2").text == MESSAGES["report.curves"]["ko"]
    browser.find_element("id", "lang-en").click()
    save_screenshot(browser, "run", 1000)


def test_a_container_row_selects_its_cluster_and_back(browser: Any, pages: dict) -> None:
    load(browser, pages["resnet50"][0])  # folded at depth 2: layer2's blocks are drawn inside a box
    tr = browser.find_element("css selector", "#layer-table tr[data-name='layer2']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", tr)
    tr.click()
    assert [g.get_attribute("id") for g in browser.find_elements("css selector", "#graph g.sel")] == ["klayer2"]
    label = browser.find_element("css selector", "#graph g#klayer3 > text")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", label)
    label.click()
    assert [tr.get_attribute("data-name") for tr in browser.find_elements("css selector", "#layer-table tr.sel")] == ["layer3"]


def test_a_sequence_model_page_has_no_receptive_fields(browser: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "char_lstm", "-o", str(tmp_path / "lstm.html")]) == 0
    capsys.readouterr()
    assert main(["summary", "char_lstm", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    load(browser, tmp_path / "lstm.html")
    assert console_messages(browser) == []
    assert int(browser.find_element("id", "card-params").get_attribute("data-value")) == data["totals"]["params"]
    assert browser.find_elements("id", "card-rf") == [] and browser.find_elements("id", "rf-box") == []
    assert browser.find_element("css selector", "[data-k='rf_not_spatial']").text == MESSAGES["report.rf_not_spatial"]["en"]
