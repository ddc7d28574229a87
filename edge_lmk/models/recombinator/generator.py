"""The 4-branch recombinator heatmap generator with a width multiplier.

Branches run at 80, 40, 20 and 10 pixels. The coarse branch is upsampled and recombined
(concatenated) with the next finer branch, as in Recombinator Networks and Table 1 of the
LaplaceKL paper. Full-width channels per branch are FULL_CHANNELS; a width multiplier scales
them all (at least MIN_CHANNELS each).

Explicit per-block channels (``block_channels``: a ``(mid, out)`` pair for each block of
BLOCKS, e.g. from structured pruning) override the width: every conv's output count is free,
and the inputs of the convs that consume a concatenation follow from the blocks feeding it.
"""
from __future__ import annotations

from fractions import Fraction

import torch
import torch.nn as nn

from ..family import ExportHints

FULL_CHANNELS = (64, 128, 128, 128)
MIN_CHANNELS = 2
LEAKY_SLOPE = 0.2


# Blocks in forward order; each is conv->BN->LeakyReLU twice, (mid, out) output channels.
BLOCKS = ("enc0", "enc1", "enc2", "enc3", "dec2", "dec1", "dec0")
BlockChannels = tuple[tuple[int, int], ...]  # one (mid, out) pair per block, in BLOCKS order


def branch_channels(width: Fraction | float) -> tuple[int, ...]:
    return tuple(max(MIN_CHANNELS, round(c * float(width))) for c in FULL_CHANNELS)


def width_block_channels(width: Fraction | float) -> BlockChannels:
    """The per-block channels a width multiplier gives (mid = out = the branch's channels)."""
    c0, c1, c2, c3 = branch_channels(width)
    return tuple((c, c) for c in (c0, c1, c2, c3, c2, c1, c0))


def normalize_block_channels(channels) -> BlockChannels:
    """``{"enc0": [mid, out], ...}`` or a sequence of 7 pairs (BLOCKS order) -> tuple of int pairs."""
    if isinstance(channels, dict):
        missing = sorted(set(BLOCKS) - set(channels))
        extra = sorted(set(channels) - set(BLOCKS))
        if missing or extra:
            raise ValueError(f"block channels: missing {missing}, unknown {extra}; expected {list(BLOCKS)}")
        channels = [channels[b] for b in BLOCKS]
    pairs = tuple((int(m), int(o)) for m, o in channels)
    if len(pairs) != len(BLOCKS):
        raise ValueError(f"block channels: need {len(BLOCKS)} (mid, out) pairs, got {len(pairs)}")
    if any(c < 1 for pair in pairs for c in pair):
        raise ValueError(f"block channels must be >= 1, got {pairs}")
    return pairs


def block_channels_dict(channels: BlockChannels) -> dict[str, list[int]]:
    return {b: list(pair) for b, pair in zip(BLOCKS, channels)}


def block_inputs(channels: BlockChannels, in_channels: int = 3) -> dict[str, int]:
    """Input channels of each block's first conv (decoders take [upsampled coarse, skip])."""
    out = {b: o for b, (_, o) in zip(BLOCKS, channels)}
    return {"enc0": in_channels, "enc1": out["enc0"], "enc2": out["enc1"], "enc3": out["enc2"],
            "dec2": out["enc3"] + out["enc2"], "dec1": out["dec2"] + out["enc1"], "dec0": out["dec1"] + out["enc0"]}


class ConvBlock(nn.Sequential):
    """conv3x3 -> BN -> LeakyReLU(0.2); BN folds into the conv at export."""

    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.LeakyReLU(LEAKY_SLOPE),
        )


def double_block(cin: int, cout: int, dropout: float = 0.0, cmid: int | None = None) -> nn.Sequential:
    cmid = cout if cmid is None else cmid
    layers = [ConvBlock(cin, cmid), ConvBlock(cmid, cout)]
    if dropout > 0:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


class RecombinatorGenerator(nn.Module):
    """(B,3,80,80) RGB in [0,1] -> (B,K,80,80) heatmap logits."""

    def __init__(self, width: Fraction | float = 1, num_landmarks: int = 68, dropout: float = 0.2,
                 block_channels=None, head_hidden: int = 0):
        super().__init__()
        bc = width_block_channels(width) if block_channels is None else normalize_block_channels(block_channels)
        self.block_channels = bc
        self.channels = tuple(o for _, o in bc[:4])  # encoder (branch) outputs
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        cin = block_inputs(bc)
        for name, (mid, out) in zip(BLOCKS, bc):
            setattr(self, name, double_block(cin[name], out, dropout if name in ("enc3", "dec2", "dec1") else 0.0,
                                             mid))
        self.to_heatmaps = nn.Conv2d(bc[-1][1], num_landmarks, 1)
        # At 1/16 the 68 heatmaps are linear maps of only 4 features per pixel, which cannot
        # make 68 sharp, separate peaks; a per-pixel MLP branch (zero-initialised, so a model
        # initialised from a linear-head checkpoint starts out identical) adds that capacity.
        self.head_mlp = None
        if head_hidden > 0:
            self.head_mlp = nn.Sequential(nn.Conv2d(bc[-1][1], head_hidden, 1), nn.LeakyReLU(LEAKY_SLOPE),
                                          nn.Conv2d(head_hidden, num_landmarks, 1))
            nn.init.zeros_(self.head_mlp[2].weight)
            nn.init.zeros_(self.head_mlp[2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e0 = self.enc0(x)
        e1 = self.enc1(self.pool(e0))
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up(e3), e2], 1))
        d1 = self.dec1(torch.cat([self.up(d2), e1], 1))
        d0 = self.dec0(torch.cat([self.up(d1), e0], 1))
        logits = self.to_heatmaps(d0)
        if self.head_mlp is not None:
            logits = logits + self.head_mlp(d0)
        return logits

    def export_hints(self) -> ExportHints:
        # the upsample is shared by the three decoder stages: it sees enc3, dec2 and dec1 outputs
        out = dict(zip(BLOCKS, (o for _, o in self.block_channels)))
        return ExportHints(logit_layers=("to_heatmaps",) + (("head_mlp.2",) if self.head_mlp is not None else ()),
                           nearest_upsample=("up", (out["enc3"], out["dec2"], out["dec1"])))


