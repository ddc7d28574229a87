"""Run by tests/test_distributed.py under torchrun: one training step's gradients of a fixed batch,
computed by N processes exactly as ``edge_lmk.train`` does (shares of the global batch, global batch
norm, ``DistributedDataParallel``); rank 0 saves them to argv[1]."""
import sys

import torch

from edge_lmk.training import distributed
from edge_lmk.losses import laplace_kl
from edge_lmk.models import REGISTRY
from edge_lmk.training.loop import TrainStep


def batch(n: int = 8):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, 80, 80, generator=g)
    t = torch.rand(n, 68, 2, generator=g) * 60 + 10
    w = torch.tensor([1.0, 0.5] * (n // 2))
    return x, t, w


def gradients(ctx: distributed.Context) -> dict:
    torch.manual_seed(0)
    model = REGISTRY["laplacekl_w1_8_evfcn"].build(dropout=0.0)  # BN everywhere, an auxiliary loss, no sampling
    model.train()
    x, t, w = batch()
    total = w.sum()
    step = TrainStep(model, laplace_kl, 1.0, [], ctx.world)
    if ctx.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        distributed.convert_batchnorm(model, torch.device("cpu"))
        step = DistributedDataParallel(step)
        share = ctx.share(len(x))
        x, t, w = x[share], t[share], w[share]
    loss = step(x, t, w, total)
    loss.backward()
    return {k: p.grad.clone() for k, p in model.named_parameters()}


if __name__ == "__main__":
    torch.set_num_threads(1)
    ctx = distributed.from_env()
    distributed.init(ctx, torch.device("cpu"))
    grads = gradients(ctx)
    if ctx.main:
        torch.save(grads, sys.argv[1])
    distributed.shutdown(ctx)
