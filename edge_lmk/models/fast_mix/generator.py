"""The mixed fast family: the fast family's layout (``models/fast``: stride-2 encoder down to 5x5,
decoder back to 40x40 heatmaps, soft-argmax at stride 2) at the same C = 128w, with the three
blocks that see 5x5 inputs -- ``enc4`` (10 -> 5 px), ``mid`` (5 px) and ``dec3`` (5 -> 10 px, on
[up(mid), enc3]) -- made depthwise-separable (``models/fast_dw.SeparableBlock``).

Why these three (issue 19, the 1/8 class at <= 80 KB of int8): in the fast 1/8 model they hold
37K of its 78K parameters (2C -> 2C and 4C -> 2C 3x3 kernels) but run on 25-100 pixels, so they
cost bytes, not time. Separable they hold 5K. The blocks at 20 and 40 px stay dense: there
XNNPACK's dense int8 kernels beat depthwise + pointwise, which is why the all-separable
``fast_dw`` layout ran 1.35x slower than ``fast`` at 1/8 (``docs/benchmarks/layout_probe``).
"""
from __future__ import annotations

from fractions import Fraction

from ..fast.generator import FastGenerator
from ..fast_dw.generator import SeparableBlock

SEPARABLE = ("enc4", "mid", "dec3")  # the blocks on 5x5 inputs


class FastMixGenerator(FastGenerator):
    """(B,3,80,80) RGB in [0,1] -> (B,K,40,40) heatmap logits (``heatmap_stride`` 2)."""

    def __init__(self, width: Fraction | float = Fraction(1, 8), num_landmarks: int = 68, dropout: float = 0.2):
        super().__init__(width, num_landmarks, dropout)
        c = self.channels
        self.enc4 = SeparableBlock(2 * c, 2 * c, stride=2, dropout=dropout)
        self.mid = SeparableBlock(2 * c, 2 * c, dropout=dropout)
        self.dec3 = SeparableBlock(4 * c, 2 * c, dropout=dropout)
