"""Training on several processes with torch's own launcher:

    torchrun --nproc_per_node=N -m trainer train ...

torchrun starts N copies and tells each its place (RANK, WORLD_SIZE, LOCAL_RANK, and where
to meet); `start` reads them and joins the group: gloo on CPUs, nccl when each process has
its GPU. Each step, every rank takes its shard of the same global batch, and
DistributedDataParallel averages the gradients, so N processes train the model one process
would with the same seed, up to the order of float sums. Only rank 0 evaluates and
publishes. Without torchrun's variables, a lone process: nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist

from trainer.training import pick_device


@dataclass(frozen=True)
class Group:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The rank that logs, shows progress, evaluates and publishes."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global batch."""
        return indices[self.rank :: self.world] if self.active else indices

    def total(self, value: float, device: torch.device) -> float:
        """The sum of `value` over every rank."""
        if not self.active:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return float(t.item())

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether `flag` is true on some rank (every rank gets the same answer)."""
        return self.total(float(flag), device) > 0 if self.active else flag


LONE = Group()


def start(environ: Mapping[str, str], device_request: str = "auto") -> tuple[Group, torch.device]:
    """Join torchrun's group if launched by it (its WORLD_SIZE, RANK and LOCAL_RANK in the
    entry point's `environ`); the group and this process's device."""
    world = int(environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return LONE, pick_device(device_request)
    group = Group(int(environ["RANK"]), world, int(environ.get("LOCAL_RANK", "0")))
    device = pick_device(device_request)
    if device.type == "cuda":  # one GPU per process, by its local rank
        device = torch.device("cuda", group.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return group, device


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
