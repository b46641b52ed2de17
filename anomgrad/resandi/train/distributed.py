"""Several processes, one run: ``torchrun --nproc_per_node N -m anomgrad.cli train ...``
(DDP; NCCL on CUDA, gloo on CPU).  ``batch_size`` is the global batch, split evenly over
ranks; validation is sharded and reduced; rank 0 writes every file."""

from __future__ import annotations

import os

import torch
import torch.distributed


class Dist:
    """The process group of a run, or a stand-in for one process."""

    def __init__(self):
        dist = torch.distributed
        self.dist = dist
        self.created = False
        env_world = int(os.environ.get("WORLD_SIZE", "1"))
        self.on = dist.is_available() and (dist.is_initialized() or env_world > 1)
        self.rank = 0
        self.world = 1
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))

    def init(self, device_type: str) -> None:
        if not self.on:
            return
        if not self.dist.is_initialized():
            backend = "nccl" if device_type == "cuda" else "gloo"
            self.dist.init_process_group(backend)
            self.created = True
        self.rank = self.dist.get_rank()
        self.world = self.dist.get_world_size()

    def barrier(self):
        if self.on and self.world > 1:
            self.dist.barrier()

    def all_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.on and self.world > 1:
            self.dist.all_reduce(t)
        return t

    def broadcast_obj(self, obj):
        if self.on and self.world > 1:
            lst = [obj]
            self.dist.broadcast_object_list(lst, src=0)
            return lst[0]
        return obj

    def close(self):
        if self.created and self.dist.is_initialized():
            self.dist.destroy_process_group()


__all__ = ["Dist"]
