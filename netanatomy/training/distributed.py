"""Data-parallel training on PyTorch DDP, launched by ``torchrun``.

``torchrun --nproc_per_node N -m netanatomy train ...`` sets RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT; we read them, pick NCCL on GPUs and gloo on CPUs, and wrap the
model in DistributedDataParallel. DDP averages gradients over the ranks, so with a *global*
batch B split into B / world_size per rank, one step equals a single-process step on the same
B images (exactly so for models without batch norm, whose statistics are per rank unless
SyncBatchNorm is asked for). Only rank 0 writes checkpoints, metrics and plots.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn

from netanatomy.devices import pick_device
from netanatomy.errors import UserError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the job; a single process is rank 0 of 1."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Only the main process writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistContext:
    """Join the process group described by torchrun's environment, if any.

    Args:
        device: "auto", "cpu" or "cuda"; with CUDA each process takes GPU ``LOCAL_RANK``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    dev = pick_device(device)
    if world_size <= 1:
        return DistContext(device=dev)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def wrap_model(model: nn.Module, ctx: DistContext, sync_batchnorm: bool = False) -> nn.Module:
    """DDP-wrap ``model`` (already on ``ctx.device``) when running distributed."""
    if not ctx.distributed:
        return model
    if sync_batchnorm and ctx.device.type != "cuda":
        raise UserError("--sync-bn needs GPUs: PyTorch's SyncBatchNorm runs on CUDA only")
    if sync_batchnorm:
        # Batch statistics over the global batch, as in a single-process run (Ioffe & Szegedy
        # 2015 normalise over the mini-batch; per-rank batches would otherwise be smaller).
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The bare module under DDP and ``torch.compile`` wrappers (what checkpoints store)."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod  # type: ignore[assignment]
        else:
            return model


def all_reduce_sum(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum ``t`` over the ranks (a no-op for a single process)."""
    if ctx.distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
