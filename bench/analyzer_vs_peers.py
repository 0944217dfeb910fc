"""Benchmark: netanatomy's analyzer against torchinfo, fvcore and ptflops, in one run.

Each measurement runs in a fresh child process: the child sets the thread count, imports torch,
builds the model with real weights (the peers need them: they run a real forward pass), records
its peak RSS, then calls one tool twice on the same model: *cold* is the first call in the process
(imports and first-use costs included), *warm* the second. Figures are medians over ``--repeat``
processes; compare ratios within one run only (the machine may be shared). *Steady* is the
fastest of calls 3-5 (where the first call takes under 2 s): the second call may pay the
process's first full garbage collection after ``import torch`` (~0.08 s: its ~170k objects are
scanned once), which lands on whichever call crosses the threshold (netanatomy pauses the
collector during its own call; a peer's call, or ``before``'s, may still pay it).

Cases: every zoo CNN at 1x3x224x224, LSTM(300, 512, 2) on a 7x2x300 sequence, VGG16 at
8x3x1024x1024 (netanatomy only: a real forward needs ~12 GB) and at ``--vgg-batch-peers``.

The peers are imported from ``--peers DIR`` (a ``pip install --target DIR torchinfo fvcore
ptflops ...`` folder, added to the child's path; torch comes from this interpreter), or from
``bench/out/venv-peers`` (created on first use) when ``--peers`` is not given.

Usage:  python bench/analyzer_vs_peers.py [--repeat 3] [--before DIR] [--threads 1 2] [--tools netanatomy torchinfo]
            [--models resnet50 densenet121 lstm] [--peers /tmp/peers]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "bench" / "out" / "venv-peers"

CHILD = r"""
import json, resource, sys, time
import torch
tool, name, shape, threads = sys.argv[1], sys.argv[2], tuple(int(x) for x in sys.argv[3].split("x")), int(sys.argv[4])
torch.set_num_threads(threads)
if name == "lstm":
    model = torch.nn.LSTM(300, 512, 2).eval()
else:
    from netanatomy.zoo import create_model
    model = create_model(name).eval()
x = torch.randn(shape) if tool in ("torchinfo", "fvcore") else None

def run():
    if tool == "netanatomy":
        from netanatomy.analysis.summary import summary
        s = summary(model, shape, mode="eval")  # every column: shapes, formulas, MACs, memory, RF
        return s.total_macs
    if tool == "torchinfo":
        import torchinfo
        r = torchinfo.summary(model, input_data=x, verbose=0, col_names=("input_size", "output_size",
            "num_params", "params_percent", "kernel_size", "mult_adds", "trainable"))
        return r.total_mult_adds
    if tool == "fvcore":
        from fvcore.nn import FlopCountAnalysis
        fca = FlopCountAnalysis(model, (x,)); fca.unsupported_ops_warnings(False); fca.uncalled_modules_warnings(False)
        return fca.total()
    if tool == "ptflops":
        from ptflops import get_model_complexity_info
        macs, _ = get_model_complexity_info(model, shape[1:], as_strings=False, print_per_layer_stat=False, verbose=False)
        return macs * shape[0]  # ptflops analyses batch 1

base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for k in range(5):
    if k == 2 and times[0] > 2.0:  # the 3rd-5th calls only where they are cheap
        break
    t = time.perf_counter()
    macs = run()
    times.append(time.perf_counter() - t)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
steady = min(times[2:]) if len(times) > 2 else times[1]
print(json.dumps({"cold": times[0], "warm": times[1], "steady": steady, "extra_mb": (peak - base) / 1024, "macs": macs}))
"""


def child_env(peers: Path | None, root: Path = ROOT) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # cold = an installed package's, with its .pyc files
    paths = [str(root)] + ([str(peers)] if peers else [])
    env["PYTHONPATH"] = os.pathsep.join(paths + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def interpreter(peers: Path | None) -> str:
    if peers is not None:
        return sys.executable
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements/torch-cpu.txt"),
                        "torchinfo", "fvcore", "ptflops", "rich", "numpy"], check=True)
    return str(py)


def measure(py: str, env: dict[str, str], tool: str, name: str, shape: str, threads: int, repeat: int) -> dict[str, float] | None:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([py, "-c", CHILD, tool, name, shape, str(threads)], capture_output=True, text=True, env=env,
                             cwd=tempfile.gettempdir())  # not the checkout: PYTHONPATH picks the version
        if out.returncode != 0:
            print(f"  {tool} on {name} {shape} failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return None
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(float(r[k]) for r in runs) for k in ("cold", "warm", "steady", "extra_mb")} | {"macs": runs[0]["macs"]}


def whole_process(py: str, env: dict[str, str], repeat: int) -> tuple[float, float]:
    def median_time(cmd: list[str]) -> float:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True, env=env, cwd=tempfile.gettempdir())
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    return (median_time([py, "-c", "import torch"]),
            median_time([py, "-m", "netanatomy", "summary", "resnet50"]))


def cases(models: list[str] | None, vgg_batch_peers: int, tools: list[str]) -> list[tuple[str, str, list[str]]]:
    from netanatomy.zoo import get_model_info, list_models

    cnns = [n for n in list_models() if get_model_info(n).spatial]
    out = [(n, "1x3x224x224", tools) for n in cnns] + [("lstm", "7x2x300", tools)]
    out += [("vgg16", "8x3x1024x1024", ["netanatomy"]), ("vgg16", f"{vgg_batch_peers}x3x1024x1024", tools)]
    return [c for c in out if models is None or c[0] in models]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--tools", nargs="+", default=["netanatomy", "torchinfo", "fvcore", "ptflops"])
    ap.add_argument("--models", nargs="+", help="zoo names and/or 'lstm' (default: every case)")
    ap.add_argument("--peers", type=Path, help="a pip --target folder holding torchinfo/fvcore/ptflops")
    ap.add_argument("--before", type=Path,
                    help="a checkout of an earlier netanatomy, measured alongside as the tool 'before'")
    ap.add_argument("--vgg-batch-peers", type=int, default=1,
                    help="batch of the peers' VGG16@1024 run (a real forward at batch 8 needs ~12 GB and minutes)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    py = interpreter(args.peers)
    for root in (ROOT, args.before):
        if root is not None:
            subprocess.run([py, "-m", "compileall", "-q", str(root / "netanatomy")], check=False)
    if "netanatomy" not in args.tools:
        args.tools.insert(0, "netanatomy")
    if args.before is not None:
        args.tools.insert(1, "before")
    envs = {tool: child_env(args.peers, args.before if tool == "before" else ROOT) for tool in args.tools}
    print(f"{'model':16} {'input':14} {'thr':>3} {'tool':10} {'cold s':>7} {'warm s':>7} {'steady':>7} {'extra MB':>8}"
          f" {'GMACs':>8} {'cold-ref':>8} {'warm/ref':>8} {'stdy/ref':>8}")
    for threads in args.threads:
        for name, shape, tools in cases(args.models, args.vgg_batch_peers, args.tools):
            tools = [t for t in args.tools if t in tools or (t == "before" and "netanatomy" in tools)]
            results = {tool: measure(py, envs[tool], "netanatomy" if tool == "before" else tool, name, shape, threads,
                                     args.repeat) for tool in tools}
            ref = results.get("torchinfo")
            for tool, r in results.items():
                if r is None:
                    continue
                vs = (f" {r['cold'] - ref['cold']:+8.2f} {r['warm'] / ref['warm']:8.2f} {r['steady'] / ref['steady']:8.2f}"
                      if ref is not None and tool in ("netanatomy", "before") else "")
                print(f"{name:16} {shape:14} {threads:3} {tool:10} {r['cold']:7.3f} {r['warm']:7.3f} {r['steady']:7.3f}"
                      f" {r['extra_mb']:8.1f} {float(r['macs']) / 1e9:8.2f}{vs}", flush=True)
    base, cli = whole_process(py, envs["netanatomy"], args.repeat)
    print(f"whole process: python -c 'import torch' {base:.2f} s; netanatomy summary resnet50 {cli:.2f} s; "
          f"difference {cli - base:.2f} s")


if __name__ == "__main__":
    main()
