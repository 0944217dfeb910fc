"""Benchmark: netanatomy's analyzer against torchinfo, fvcore and ptflops, in one run.

Each measurement runs in a fresh child process of a separate virtual environment that holds the
peers (`bench/out/venv-peers`, created on first use with pip): the child imports torch, builds the
model with real weights (the peers need them: they run a real forward pass), records its peak RSS,
then runs one tool and reports wall time and the peak-RSS increase over that baseline.

Usage:  .venv/bin/python bench/analyzer_vs_peers.py [--repeat 3] [--vgg-batch-peers 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "bench" / "out" / "venv-peers"
PY = VENV / "bin" / "python"

CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(2)
tool, name, shape = sys.argv[1], sys.argv[2], tuple(int(x) for x in sys.argv[3].split("x"))
from netanatomy.zoo import create_model
model = create_model(name).eval()
x = torch.randn(shape) if tool in ("torchinfo", "fvcore") else None
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
if tool == "netanatomy":
    from netanatomy.analysis.summary import summary
    s = summary(model, shape, mode="eval")  # every column: shapes, formulas, MACs, memory, RF
    macs = s.total_macs
elif tool == "torchinfo":
    import torchinfo
    r = torchinfo.summary(model, input_data=x, verbose=0, col_names=("input_size", "output_size",
        "num_params", "params_percent", "kernel_size", "mult_adds", "trainable"))
    macs = r.total_mult_adds
elif tool == "fvcore":
    from fvcore.nn import FlopCountAnalysis
    fca = FlopCountAnalysis(model, (x,)); fca.unsupported_ops_warnings(False); fca.uncalled_modules_warnings(False)
    macs = fca.total()
elif tool == "ptflops":
    from ptflops import get_model_complexity_info
    macs, _ = get_model_complexity_info(model, shape[1:], as_strings=False, print_per_layer_stat=False, verbose=False)
    macs = macs * shape[0]  # ptflops analyses batch 1
dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": dt, "extra_mb": (peak - base) / 1024, "macs": macs}))
"""


def ensure_venv() -> None:
    if PY.exists():
        return
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements/torch-cpu.txt"),
                    "torchinfo", "fvcore", "ptflops", "rich", "numpy"], check=True)


def ensure_netanatomy() -> None:
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)], check=True)


def measure(tool: str, name: str, shape: str, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([str(PY), "-c", CHILD, tool, name, shape], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {"seconds": statistics.median(r["seconds"] for r in runs),
            "extra_mb": statistics.median(r["extra_mb"] for r in runs), "macs": runs[0]["macs"]}


def whole_process(repeat: int) -> tuple[float, float]:
    def best(cmd: list[str]) -> float:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    cli = VENV / "bin" / "netanatomy"
    return best([str(PY), "-c", "import torch"]), best([str(cli), "summary", "resnet50"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--vgg-batch-peers", type=int, default=1,
                    help="batch of the peers' VGG16@1024 run (a real forward at batch 8 needs ~12 GB and minutes)")
    args = ap.parse_args()
    ensure_venv()
    ensure_netanatomy()
    cases = [("resnet50", "1x3x224x224", ("netanatomy", "torchinfo", "fvcore", "ptflops")),
             ("vgg16", "8x3x1024x1024", ("netanatomy",)),
             ("vgg16", f"{args.vgg_batch_peers}x3x1024x1024", ("netanatomy", "torchinfo", "fvcore", "ptflops"))]
    print(f"{'model':10} {'input':15} {'tool':11} {'seconds':>9} {'extra MB':>9} {'GMACs':>9} {'vs netanatomy':>14}")
    for name, shape, tools in cases:
        ours = None
        for tool in tools:
            r = measure(tool, name, shape, args.repeat)
            ours = ours or r
            ratio = r["seconds"] / ours["seconds"]
            print(f"{name:10} {shape:15} {tool:11} {r['seconds']:9.3f} {r['extra_mb']:9.1f} {r['macs'] / 1e9:9.2f} {ratio:13.1f}x", flush=True)
    base, cli = whole_process(args.repeat)
    print(f"whole process: python -c 'import torch' {base:.2f} s; netanatomy summary resnet50 {cli:.2f} s; difference {cli - base:.2f} s")


if __name__ == "__main__":
    main()
