"""Data-parallel training under ``torchrun`` (issue 16: scale past one machine).

    torchrun --nproc_per_node 2 -m edge_lmk.train ...    # gloo on CPU, NCCL on GPUs

Every process reads the same faces and draws the same batch order and augmentation (the generators
are seeded from ``--seed`` and the epoch, not the rank); each cuts the whole global batch
(``--batch-size``) and keeps its own contiguous share, so the union of the shares is exactly the
one-process batch. Gradients are averaged by ``DistributedDataParallel``; each rank's loss is its
faces' share of the global weighted mean, times the number of processes, so the averaged gradient
is the one-process gradient. Batch norm sees the global batch's statistics: ``nn.SyncBatchNorm`` on
GPUs, and on CPUs (where torch's SyncBatchNorm refuses to run) ``GlobalBatchNorm2d``, which sums
the per-channel moments with a differentiable all-reduce. What is left between one and N
processes is float rounding, and dropout: each process draws its own masks.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, n: int) -> slice:
        """This rank's contiguous part of a global batch of ``n`` (``n`` divisible by ``world``)."""
        per = n // self.world
        return slice(self.rank * per, (self.rank + 1) * per)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def from_env() -> Context:
    """The torchrun environment (WORLD_SIZE, RANK, LOCAL_RANK); one process without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Context(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def init(ctx: Context, device: torch.device) -> None:
    if ctx.world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def shutdown(ctx: Context) -> None:
    if ctx.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the batch across all processes (CPU/gloo).

    Mean and variance come from all-reduced per-channel sums of x and x^2; the all-reduce is
    ``torch.distributed.nn``'s differentiable one, so the backward pass is the global batch's too.
    Same parameters and buffers as ``nn.BatchNorm2d``; eval mode and one process are plain BN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        import warnings

        from torch.distributed.nn.functional import all_reduce

        c = x.shape[1]
        count = torch.tensor([x.numel() / c], dtype=x.dtype)
        with warnings.catch_warnings():
            # deprecated for _functional_collectives, whose all_reduce has no backward: this one's is the point
            warnings.simplefilter("ignore", FutureWarning)
            moments = all_reduce(torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), count]))
        n = moments[-1]
        mean = moments[:c] / n
        var = (moments[c:2 * c] / n - mean * mean).clamp_min(0.0)
        with torch.no_grad():
            self.num_batches_tracked += 1
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
        shape = (1, c, 1, 1)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape)


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm2d -> its cross-process form (in place where possible; returns the module)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            g = GlobalBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                  child.track_running_stats).to(child.weight.device)
            g.load_state_dict(child.state_dict())
            setattr(module, name, g)
        else:
            convert_batchnorm(child, device)
    return module


__all__ = ["Context", "from_env", "init", "shutdown", "GlobalBatchNorm2d", "convert_batchnorm"]
