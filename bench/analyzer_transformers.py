"""Benchmark: `netanatomy summary transformers:LlamaForCausalLM --input 1x2048:int64`, 7B and 70B.

Each measurement runs in a fresh child process: the child imports torch (the baseline: its time
and its RSS), then runs the command exactly as a user would (``netanatomy.cli.main.main``, table
written to /dev/null) and reports wall time and the peak-RSS increase over that baseline, with the
part of the time spent importing ``transformers`` shown apart, and the CPU time (on a shared
machine, wall time also counts the other processes' turns). Targets (issue 12): under 3 s and
under 500 MB beyond ``import torch``. An analyser that runs a real forward would need the weights
alone: 25.1 GiB (7B) and 262.9 GiB (70B) in float32.

Usage:  .venv/bin/python bench/analyzer_transformers.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import contextlib, io, json, os, resource, sys, time
t0 = time.perf_counter()
import torch
torch_s = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
base, cpu0 = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
t = time.perf_counter()
import transformers
import_s = time.perf_counter() - t
from netanatomy.cli.main import main
with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
    code = main(sys.argv[1:])
total_s = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"code": code, "import_torch_s": torch_s, "import_transformers_s": import_s,
                  "seconds": total_s, "cpu_s": usage.ru_utime + usage.ru_stime - cpu0,
                  "extra_mb": (usage.ru_maxrss - base) / 1024}))
"""

LLAMA_70B = ["-a", "hidden_size=8192", "-a", "num_hidden_layers=80", "-a", "intermediate_size=28672",
             "-a", "num_attention_heads=64", "-a", "num_key_value_heads=8"]
CASES = {
    "Llama-7B (defaults)": ["summary", "transformers:LlamaForCausalLM", "--input", "1x2048:int64"],
    "Llama-70B": ["summary", "transformers:LlamaForCausalLM", "--input", "1x2048:int64", *LLAMA_70B],
}


def measure(argv: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, check=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["code"] != 0:
        raise SystemExit(f"{' '.join(argv)} exited {result['code']}: {out.stderr}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the median is reported")
    args = parser.parse_args()
    print("| case | import torch (baseline) | import transformers | command after import torch: wall | "
          "CPU | peak RSS beyond import torch |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, argv in CASES.items():
        runs = [measure(argv) for _ in range(args.repeat)]

        def med(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        print(f"| {label} | {med('import_torch_s'):.2f} s | {med('import_transformers_s'):.2f} s | "
              f"{med('seconds'):.2f} s ({med('seconds') / med('import_torch_s'):.1f}x import torch) | "
              f"{med('cpu_s'):.2f} s | {med('extra_mb'):.0f} MB |")


if __name__ == "__main__":
    main()
