"""Benchmark: time and size of `netanatomy report` pages, and how fast they open in a browser.

For each model: the time to write the page (analysis, receptive fields, graph layout by dot,
photograph, rendering), split by phase, against the time of the analysis alone
(`netanatomy summary --format json`, the baseline) in the same run; the file size; and, in
Debian's headless chromium, the time from navigation until the page's script has drawn it
(interactive), and the time to unfold the table to every layer and to select a layer.

Targets (issue 10): under 3 s to write, under 3 MB, interactive in under a second.

Usage:  python bench/report_size_time.py [--models resnet152 densenet121] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch


def write_page(name: str, out: Path) -> dict[str, float]:
    from netanatomy import create_model
    from netanatomy.analysis.summary import summary
    from netanatomy.html import model_report, payload, write_page
    from netanatomy.html.photo import photo_data_uri

    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    model = create_model(name, device="meta")
    s = summary(model, (1, 3, 224, 224), model_name=name)
    s.to_dict()
    phases["baseline: summary --format json"] = time.perf_counter() - t0
    t = time.perf_counter()
    summary(model, (2, 3, 224, 224), model_name=name, receptive_fields=False)
    phases["second capture (batch slope)"] = time.perf_counter() - t
    t = time.perf_counter()
    payload.receptive_payload(s)
    phases["receptive fields + boxes"] = time.perf_counter() - t
    t = time.perf_counter()
    payload.graph_views(s)
    phases["graph layout (dot)"] = time.perf_counter() - t
    t = time.perf_counter()
    photo_data_uri(224, 224)
    phases["photograph"] = time.perf_counter() - t
    # The real thing, end to end (what the CLI does), timed on its own.
    t = time.perf_counter()
    page = model_report([payload.model_payload(model, [(1, 3, 224, 224)], name=name)])
    write_page(out, page)
    phases["total: write the page"] = time.perf_counter() - t
    return phases


def open_times(path: Path) -> dict[str, float]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1366,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(path.as_uri())  # returns after the load event: the script has run
        ready = driver.execute_script("return window.netanatomyReady")
        unfold = driver.execute_script("""
            var t = performance.now(), s = document.getElementById('depth');
            s.value = '-1'; s.dispatchEvent(new Event('change'));
            return performance.now() - t;""")
        select = driver.execute_script("""
            var rows = document.querySelectorAll('#layer-table tbody tr'), t = performance.now();
            rows[Math.floor(rows.length / 2)].click();
            return performance.now() - t;""")
        return {"interactive (ms after navigation)": ready, "unfold to every layer (ms)": unfold, "select a layer (ms)": select}
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet152", "densenet121"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    write_page("resnet18", Path(tempfile.mkdtemp()) / "warm.html")  # imports and first-call costs
    for name in args.models:
        out = Path(tempfile.mkdtemp()) / f"{name}.html"
        runs = [write_page(name, out) for _ in range(args.repeat)]
        print(f"\n{name} (median of {args.repeat}; {torch.get_num_threads()} torch thread)")
        for key in runs[0]:
            print(f"  {key:36s} {statistics.median(r[key] for r in runs):7.2f} s")
        base = statistics.median(r["baseline: summary --format json"] for r in runs)
        total = statistics.median(r["total: write the page"] for r in runs)
        print(f"  {'page / summary (ratio)':36s} {total / base:7.1f} x")
        print(f"  {'file size':36s} {out.stat().st_size / 2**20:7.2f} MiB ({out.stat().st_size:,} bytes)")
        for key, value in open_times(out).items():
            print(f"  {key:36s} {value:7.0f}")


if __name__ == "__main__":
    main()
