"""Structured (channel) pruning of the fast family's generator (``models/fast``): ``prune_fast_(model, ...)``.

The fast layout is one conv -> BN -> LeakyReLU per block (``generator.BLOCKS``), so the surgery is
the recombinator's (``compress/prune.py``) on a simpler graph: whole output channels of a block
are removed with their BatchNorm entries and the matching input channels of every conv that reads
them (the next encoder block, and the decoder block that concatenates it: ``generator.INPUTS``
gives the order and so the offsets). The result is a smaller *dense* ``FastGenerator`` built with
``block_channels``, which every exporter handles unchanged.

Why (issue 19): the 1/8-class target is at most 80 KB of int8, and the fast 1/8 model's int8
``.tflite`` is 102 KB, 79 KB of it weights, most of them in the 2C-channel blocks at 5-20 px. Those
blocks cost bytes but little time, so pruning them from the trained model and fine-tuning keeps
the layout's speed; training the smaller layout from scratch (``models/fast_mix``) learned
more slowly with the same recipe.

Criterion: ``l1``, the L1 norm of the BN-folded filter, ``|gamma| / sqrt(var + eps) * sum |W|``
(Li et al. 2017, on the filter the deployed model applies). Compensation: a removed channel's
activation is replaced by the constant ``LeakyReLU(beta)`` (its value at the BN's running mean),
folded into the consumer's BN running mean (or the heatmap conv's bias); exact away from the zero
padding of the consumer's 3x3 window, as in ``prune.py``.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..models.fast.generator import BLOCKS, INPUTS, ConvBNAct, FastGenerator
from ..models.net import LandmarkNet
from .prune import copy_kept, l1_score, resting_activation, top_channels


def _generator(model: nn.Module) -> FastGenerator:
    gen = model.generator if isinstance(model, LandmarkNet) else model
    if type(gen) is not FastGenerator:
        raise TypeError(f"prune_fast_ expects the fast family's generator (dense 3x3 blocks), got {type(gen).__name__}")
    return gen


def _conv_bn(gen: FastGenerator, block: str) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    mod = getattr(gen, block)
    if not isinstance(mod, ConvBNAct) or not isinstance(mod[1], nn.BatchNorm2d):
        raise ValueError("prune_fast_ needs the BatchNorm layers: prune before fold_batchnorm")
    return mod[0], mod[1]


def consumers() -> dict[str, list[tuple[str, int]]]:
    """Block -> [(consumer, position among the consumer's inputs)]; the last block feeds ``to_heatmaps``."""
    cons: dict[str, list[tuple[str, int]]] = {b: [] for b in BLOCKS}
    for c, ins in INPUTS.items():
        for pos, p in enumerate(ins):
            cons[p].append((c, pos))
    cons["dec1"].append(("to_heatmaps", 0))
    return cons


def params_for(block_channels: dict[str, int], num_landmarks: int = 68) -> int:
    """Parameters of a fast generator with these output channels (3x3 conv weights, BN affine, heatmap conv)."""
    n = 0
    for b in BLOCKS:
        cin = sum(block_channels[i] for i in INPUTS[b]) or 3
        n += cin * block_channels[b] * 9 + 2 * block_channels[b]
    return n + block_channels["dec1"] * num_landmarks + num_landmarks


def importance(gen: FastGenerator) -> dict[str, torch.Tensor]:
    """``l1`` score of every output channel of every block (higher = keep)."""
    return {b: l1_score(*_conv_bn(gen, b)) for b in BLOCKS}


def select_channels(gen: FastGenerator, channels: dict[str, int]) -> dict[str, torch.Tensor]:
    """Sorted original indices of the ``channels[b]`` highest-scoring channels of each block (ties: lower index)."""
    bad = {b: (n, gen.block_channels.get(b)) for b, n in channels.items()
           if b not in gen.block_channels or not 1 <= n <= gen.block_channels[b]}
    if bad:
        raise ValueError(f"channels to keep must name blocks of {BLOCKS} and be 1..current: {bad}")
    scores = importance(gen)
    return {b: top_channels(scores[b], channels.get(b, gen.block_channels[b])) for b in BLOCKS}


def _input_index(gen: FastGenerator, keep: dict[str, torch.Tensor], consumer: str) -> torch.Tensor:
    """Original input-channel indices the pruned ``consumer`` keeps (its inputs concatenated in order)."""
    ins = INPUTS.get(consumer, ("dec1",))
    if not ins:
        return torch.arange(3)
    parts, off = [], 0
    for p in ins:
        parts.append(keep[p] + off)
        off += gen.block_channels[p]
    return torch.cat(parts)


def surgery(gen: FastGenerator, keep: dict[str, torch.Tensor], compensate: bool = True) -> FastGenerator:
    """A new, smaller ``FastGenerator`` keeping output channels ``keep[block]`` (original indices)."""
    dropout = next((m.p for m in gen.modules() if isinstance(m, nn.Dropout2d)), 0.0)
    num_landmarks = gen.to_heatmaps.out_channels
    new = FastGenerator(channels=gen.channels, num_landmarks=num_landmarks, dropout=dropout,
                        block_channels={b: len(keep[b]) for b in BLOCKS})
    new.train(gen.training)
    cons = consumers()
    targets = [*BLOCKS, "to_heatmaps"]
    shift = {c: torch.zeros(getattr(gen, c).out_channels if c == "to_heatmaps" else _conv_bn(gen, c)[0].out_channels)
             for c in targets}
    if compensate:
        for p in BLOCKS:
            _, bn = _conv_bn(gen, p)
            dropped = torch.ones(bn.num_features, dtype=torch.bool)
            dropped[keep[p]] = False
            if not dropped.any():
                continue
            val = resting_activation(bn) * dropped
            for c, pos in cons[p]:
                w = gen.to_heatmaps.weight if c == "to_heatmaps" else _conv_bn(gen, c)[0].weight
                off = sum(gen.block_channels[i] for i in INPUTS.get(c, ("dec1",))[:pos])
                shift[c] += torch.einsum("oikl,i->o", w.detach()[:, off:off + bn.num_features], val)
    with torch.no_grad():
        for b in BLOCKS:
            conv, bn = _conv_bn(gen, b)
            nconv, nbn = _conv_bn(new, b)
            copy_kept(conv, bn, nconv, nbn, keep[b], _input_index(gen, keep, b), shift[b])
        i = _input_index(gen, keep, "to_heatmaps")
        new.to_heatmaps.weight.copy_(gen.to_heatmaps.weight[:, i])
        new.to_heatmaps.bias.copy_(gen.to_heatmaps.bias + shift["to_heatmaps"])
    return new.to(gen.to_heatmaps.weight.device)


def prune_fast_(model: nn.Module, channels: dict[str, int], compensate: bool = True) -> nn.Module:
    """Keep ``channels[block]`` output channels of each named block (others unchanged); in place for a
    ``LandmarkNet`` (its generator is replaced), else the new generator is returned."""
    gen = _generator(model)
    new = surgery(gen, select_channels(gen, channels), compensate)
    if isinstance(model, LandmarkNet):
        model.generator = new
        return model
    return new


def plan_channels(gen: FastGenerator, target_params: int, blocks: tuple[str, ...] = BLOCKS,
                  min_channels: int = 2) -> dict[str, int]:
    """The largest uniform keep ratio over ``blocks`` whose model has at most ``target_params`` parameters."""
    bc = gen.block_channels
    num_landmarks = gen.to_heatmaps.out_channels

    def at(ratio: float) -> dict[str, int]:
        return {b: (min(n, max(min_channels, round(n * ratio))) if b in blocks else n) for b, n in bc.items()}

    if params_for(at(0.0), num_landmarks) > target_params:
        raise ValueError(f"target_params {target_params} is below the smallest model (min_channels {min_channels})")
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if params_for(at(mid), num_landmarks) <= target_params else (lo, mid)
    return at(lo)
