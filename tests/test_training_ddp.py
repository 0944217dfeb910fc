"""Two-process DDP (gloo, CPU) equals single-process training on the same global batch."""

from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

# Run by torchrun in each of the two processes, and directly for the single-process reference.
_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    from torch import nn
    from netanatomy.training.datasets import load_dataset
    from netanatomy.training.distributed import exit_process, joined, shutdown
    from netanatomy.training.trainer import ImageTrainConfig, train

    torch.set_num_threads(1)
    out = sys.argv[1]
    torch.manual_seed(0)
    # No batch norm: its statistics would be per process (16 images) instead of global (32).
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128, 4),
    )
    # 256 synthetic images, 1/8 held out: 224 = 7 global batches of 32, no ragged last batch.
    data = load_dataset("synthetic", val_fraction=0.125)
    cfg = ImageTrainConfig(model="tiny", dataset="synthetic", epochs=2, batch_size=32, lr=0.05, warmup_epochs=0.5,
                      augment=False, val_fraction=0.125, out_dir=out, progress=False, log=False, device="cpu")
    result = train(cfg, model=model, data=data)
    if result.is_main:
        torch.save({"weights": result.model.state_dict(), "history": result.history}, out + "/final.pt")
    shutdown()
    if joined():  # as `netanatomy train` ends a rank of a torchrun job (cli.main.run)
        exit_process(0)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rank_logs(logs: Path) -> str:
    parts = []
    for f in sorted(logs.rglob("*.log")):
        text = f.read_text(errors="replace").strip()
        if text:
            parts.append(f"--- {f.relative_to(logs)}\n{text[-3000:]}")
    return "\n".join(parts) + "\n--- launcher\n"


def test_two_process_gloo_ddp_matches_single_process(tmp_path: Path) -> None:
    script = tmp_path / "ddp_train.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env = {k: v for k, v in env.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    single.mkdir()
    ddp.mkdir()
    # The single-process reference runs in this process (no WORLD_SIZE: rank 0 of 1).
    threads = torch.get_num_threads()
    try:
        with pytest.MonkeyPatch.context() as mp:
            for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
                mp.delenv(var, raising=False)
            mp.setattr(sys, "argv", [str(script), str(single)])
            runpy.run_path(str(script), run_name="__main__")
    finally:
        torch.set_num_threads(threads)
    logs = tmp_path / "logs"
    # Each rank's own output goes to a file under logs/ (-r 3), so that a failing rank's
    # message shows in the assertion below rather than only the launcher's summary of it.
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
              "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
              "--log-dir", str(logs), "-r", "3"]  # fmt: skip
    proc = subprocess.run([*launch, str(script), str(ddp)], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, _rank_logs(logs) + proc.stderr[-2000:]

    a = torch.load(single / "final.pt", weights_only=True)
    b = torch.load(ddp / "final.pt", weights_only=True)
    for name, w in a["weights"].items():
        # DDP averages the two halves' gradients (all-reduce, then /2): equal to the
        # single-process mean over 32 up to float rounding in a different summation order.
        assert torch.allclose(w, b["weights"][name], rtol=1e-5, atol=1e-6), name
    for ha, hb in zip(a["history"], b["history"]):
        assert abs(ha["train_loss"] - hb["train_loss"]) < 1e-5
        assert ha["val_acc"] == hb["val_acc"]
    # The same files as a single process (rank 1 writes nothing of its own).
    assert sorted(p.name for p in ddp.iterdir()) == sorted(p.name for p in single.iterdir())
    # And training did something: the weights moved from their initialisation.
    torch.manual_seed(0)
    first = torch.nn.Conv2d(1, 8, 3, padding=1).weight
    assert not torch.allclose(first, b["weights"]["0.weight"])


def test_train_command_under_torchrun_ends_cleanly(tmp_path: Path) -> None:
    """`torchrun -m netanatomy train`: both ranks exit 0, rank 0 alone speaks and writes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env = {k: v for k, v in env.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    logs, run_dir = tmp_path / "logs", tmp_path / "run"
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
              "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "--log-dir", str(logs), "-r", "3",
              "-m", "netanatomy", "train", "resnet20", "--dataset", "synthetic", "--epochs", "1", "--limit", "64",
              "--batch-size", "32", "--threads", "1", "-q", "--run-dir", str(run_dir)]  # fmt: skip
    proc = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, _rank_logs(logs) + proc.stderr[-2000:]
    assert sorted(p.name for p in run_dir.iterdir()) == ["best.pt", "curves.png", "last.pt", "metrics.csv"]
    said = {f.parent.name: f.read_text() for f in logs.rglob("stdout.log")}
    assert "best validation accuracy" in said["0"]
    assert said["1"].strip() == ""
