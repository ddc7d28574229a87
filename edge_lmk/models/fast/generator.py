"""The fast family: a generator laid out for latency first (issue: speed), measured in
``../shared/notes/fast-calibration.md`` before it was built.

At these sizes the cost is set by the resolution the network works at, not by its parameter
count: the 80x80 decoder stage and the 68x80x80 heatmap of the other families cost more than
their convolutions. So this one never works at 80x80:

- encoder: four stride-2 3x3 convs (BN, LeakyReLU 0.2), 80 -> 40 -> 20 -> 10 -> 5 px, with C, 2C,
  2C, 2C channels (C = 128w: 8 at 1/16, 16 at 1/8), and one more 3x3 conv at 5x5: the face-wide
  context the landmarks need, almost free at that size. The notes' three-stage layout (10x10 at
  the bottom, receptive field ~30 px) trained far worse with the same recipe at 1/8: validation
  NME (extra_udacity/val) 20.3 after 5 epochs and 11.8 after 23, against 8.6 after 5 here;
- decoder: nearest 2x upsampling of the coarse path, concatenation with the encoder's output at
  that resolution, a 3x3 conv (BN, LeakyReLU) -- 5 -> 10 -> 20 -> 40 px; dropout on the coarse stages;
- heatmaps: a 1x1 conv to K logits at **40x40** (stride 2). The codec's soft-argmax stays
  sub-pixel on the coarser grid and returns crop pixels (``SoftArgmaxCodec(stride=2)``).
"""
from __future__ import annotations

from fractions import Fraction

import torch
import torch.nn as nn

from ..family import ExportHints

LEAKY_SLOPE = 0.2
FULL_CHANNELS = 128  # C at width 1; 1/16 -> 8 and 1/8 -> 16, the two layouts the notes timed
MIN_CHANNELS = 4
HEATMAP_STRIDE = 2  # 80 px crop -> 40x40 heatmaps


def fast_channels(width: Fraction | float) -> int:
    return max(MIN_CHANNELS, round(FULL_CHANNELS * float(width)))


# The blocks in forward order and what each reads: the encoder's previous block, or for a decoder
# block the (upsampled) block before it concatenated with the encoder block at its resolution.
BLOCKS = ("enc1", "enc2", "enc3", "enc4", "mid", "dec3", "dec2", "dec1")
INPUTS = {"enc1": (), "enc2": ("enc1",), "enc3": ("enc2",), "enc4": ("enc3",), "mid": ("enc4",),
          "dec3": ("mid", "enc3"), "dec2": ("dec3", "enc2"), "dec1": ("dec2", "enc1")}


def default_block_channels(c: int) -> dict[str, int]:
    """Output channels of each block of the plain layout at C = ``c``: C, 2C, 2C, 2C, 2C, 2C, 2C, C."""
    return {b: (c if b in ("enc1", "dec1") else 2 * c) for b in BLOCKS}


class ConvBNAct(nn.Sequential):
    """k x k conv (stride s) -> BN -> LeakyReLU(0.2) [-> Dropout2d]; BN folds into the conv at export."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dropout: float = 0.0):
        layers = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                  nn.LeakyReLU(LEAKY_SLOPE)]
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


class FastGenerator(nn.Module):
    """(B,3,80,80) RGB in [0,1] -> (B,K,40,40) heatmap logits (``heatmap_stride`` 2)."""

    heatmap_stride = HEATMAP_STRIDE

    def __init__(self, width: Fraction | float = Fraction(1, 8), num_landmarks: int = 68, dropout: float = 0.2,
                 channels: int | None = None, block: type[nn.Module] | None = None,
                 block_channels: dict[str, int] | None = None):
        """``channels`` (C, default ``fast_channels(width)``) and ``block`` (``(cin, cout, stride=, dropout=)``
        -> module, default ``ConvBNAct``) let another family reuse this layout with other convolutions
        (``models/fast_dw``: depthwise-separable); the first conv, on 3 input channels, stays dense.
        ``block_channels`` (``{"enc1": n, ...}``, every block of ``BLOCKS``) overrides each block's output
        channels: what a channel-pruned model (``edge_lmk.compress.prune_fast``) is built with."""
        super().__init__()
        c = channels if channels is not None else fast_channels(width)
        block = block or ConvBNAct
        self.channels = c
        out = default_block_channels(c)
        if block_channels is not None:
            if set(block_channels) != set(BLOCKS):
                raise ValueError(f"block_channels must give every block of {BLOCKS}, got {sorted(block_channels)}")
            out = {b: int(block_channels[b]) for b in BLOCKS}
        self.block_channels = out
        cin = {b: sum(out[i] for i in INPUTS[b]) or 3 for b in BLOCKS}
        self.enc1 = ConvBNAct(3, out["enc1"], stride=2)                                  # 40 px
        self.enc2 = block(cin["enc2"], out["enc2"], stride=2)                            # 20 px
        self.enc3 = block(cin["enc3"], out["enc3"], stride=2)                            # 10 px
        self.enc4 = block(cin["enc4"], out["enc4"], stride=2, dropout=dropout)           # 5 px
        self.mid = block(cin["mid"], out["mid"], dropout=dropout)                        # 5 px: face-wide context
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec3 = block(cin["dec3"], out["dec3"], dropout=dropout)                     # 10 px: [up(mid), enc3]
        self.dec2 = block(cin["dec2"], out["dec2"])                                      # 20 px: [up(dec3), enc2]
        self.dec1 = block(cin["dec1"], out["dec1"])                                      # 40 px: [up(dec2), enc1]
        self.to_heatmaps = nn.Conv2d(out["dec1"], num_landmarks, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        m = self.mid(self.enc4(e3))
        d3 = self.dec3(torch.cat([self.up(m), e3], 1))
        d2 = self.dec2(torch.cat([self.up(d3), e2], 1))
        d1 = self.dec1(torch.cat([self.up(d2), e1], 1))
        return self.to_heatmaps(d1)

    def export_hints(self) -> ExportHints:
        # the shared upsample sees the outputs of mid, dec3 and dec2 (2C each unless pruned)
        bc = self.block_channels
        # LiteRT int8 activations: 12 DEQUANTIZE/QUANTIZE pairs and float LeakyReLUs around 9 small convs
        # were ~15% of the .tflite's time (fast 1/8: 0.493 -> 0.417 ms, common NME 4.193 -> 4.194)
        return ExportHints(logit_layers=("to_heatmaps",),
                           nearest_upsample=("up", tuple(sorted({bc["mid"], bc["dec3"], bc["dec2"]}))),
                           litert_int8_activations=True)
