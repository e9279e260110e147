"""Data-parallel training with ``torchrun``: one code path for one or many processes.

``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; :meth:`DistContext.from_env`
reads them, initialises the process group (NCCL on GPUs, gloo on CPUs) and picks this
process's device. Without those variables it is a single-process context and every
collective is a no-op, so the trainer never branches on "distributed or not"::

    torchrun --standalone --nproc_per_node=8 "$(which idff)" train cifar10 --device cuda \\
        --out runs/c10
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 \\
        --nproc_per_node=8 "$(which idff)" train cifar10 --device cuda --out runs/c10
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistContext"]


@dataclass
class DistContext:
    """Where this process sits in a (possibly single-process) job.

    Attributes:
        rank: global rank ``0 ≤ rank < world_size``.
        local_rank: rank on this node (selects the GPU).
        world_size: number of processes.
        device: this process's device.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls, device: str | torch.device = "cpu") -> DistContext:
        """Build the context from ``torchrun``'s environment (single process without it).

        Args:
            device: ``"cpu"``, ``"cuda"`` (each process takes GPU ``LOCAL_RANK``) or an
                explicit device for single-process runs.
        """
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        dev = torch.device(device)
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError("--device cuda was requested but no GPU is visible; use "
                                   "--device cpu.")
            dev = torch.device("cuda", local if world > 1 else (dev.index or 0))
            torch.cuda.set_device(dev)
        if world > 1 and not dist.is_initialized():
            backend = "nccl" if dev.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend, rank=rank, world_size=world)
        return cls(rank=rank, local_rank=local, world_size=world, device=dev)

    def wrap(self, model: nn.Module) -> nn.Module:
        """``DistributedDataParallel(model)`` when distributed, else ``model``.

        Gradients are views of DDP's communication buckets (``gradient_as_bucket_view``):
        no copy into the buckets, and no "grad strides do not match bucket view strides"
        warning when a compiled backward lays a gradient out differently from its
        parameter (the gradient is accumulated into the view, which has the parameter's
        layout). The optimizer then zeroes gradients in place instead of dropping them.
        """
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(model, device_ids=ids, gradient_as_bucket_view=True)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any process (a collective: all must call it)."""
        if not self.distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self._collective_device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def mean(self, value: float) -> float:
        """The mean of ``value`` over processes (a collective)."""
        if not self.distributed:
            return value
        t = torch.tensor([float(value)], device=self._collective_device())
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def _collective_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def close(self) -> None:
        """Tear down the process group (call once at the end of a distributed job)."""
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()
