"""The fast family's layout ending at 20x20 heatmaps (stride 4): the speed issue's "heatmaps at 20x20" lever.

Everything of ``models/fast`` up to ``dec2`` (the 20 px decoder stage, [up(dec3), enc2]); the 40 px stage
``dec1`` and its concatenation with ``enc1`` are gone, and the 1x1 conv to the K logits reads ``dec2``.
The soft-argmax decodes the 20x20 maps at stride 4 into crop pixels (``SoftArgmaxCodec(stride=4)``):
68 softmaxes over 400 bins. Why measure it: the 40x40 head is about 40% of the fast 1/16 ``.pte``'s time
(``docs/benchmarks/layout_probe/head_probe.md``: 0.134 ms of ~0.33 ms; 20x20: 0.040 ms), and the 40 px
decoder stage is the generator's most expensive one per channel; what it costs in accuracy needs training.
"""
from __future__ import annotations

from fractions import Fraction

import torch
import torch.nn as nn

from ..family import ExportHints
from ..fast.generator import FastGenerator


class Fast20Generator(FastGenerator):
    """(B,3,80,80) RGB in [0,1] -> (B,K,20,20) heatmap logits (``heatmap_stride`` 4)."""

    heatmap_stride = 4

    def __init__(self, width: Fraction | float = Fraction(1, 16), num_landmarks: int = 68, dropout: float = 0.2,
                 block_channels: dict[str, int] | None = None):
        # ``block_channels``: as in ``FastGenerator`` (every block of ``fast.generator.BLOCKS``; dec1's is unused)
        super().__init__(width, num_landmarks, dropout, block_channels=block_channels)
        del self.dec1
        self.to_heatmaps = nn.Conv2d(self.block_channels["dec2"], num_landmarks, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e2 = self.enc2(self.enc1(x))
        e3 = self.enc3(e2)
        m = self.mid(self.enc4(e3))
        d3 = self.dec3(torch.cat([self.up(m), e3], 1))
        return self.to_heatmaps(self.dec2(torch.cat([self.up(d3), e2], 1)))

    def export_hints(self) -> ExportHints:
        bc = self.block_channels
        return ExportHints(logit_layers=("to_heatmaps",), nearest_upsample=("up", tuple(sorted({bc["mid"], bc["dec3"]}))),
                           litert_int8_activations=True)
