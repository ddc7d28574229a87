"""The depthwise fast family: the fast family's layout (``models/fast``: stride-2 encoder down to 5x5,
decoder back to 40x40 heatmaps, soft-argmax at stride 2) with every 3x3 conv after the first made
depthwise-separable (3x3 depthwise -> BN -> LeakyReLU -> 1x1 pointwise -> BN -> LeakyReLU), as in
MobileNet. It is the issue-19 lever for the 1/8 class: the fast 1/8 model's int8 artifact is about
100 KB for 78K parameters, mostly in the 3x3 decoder convs at 2C -> 2C (18K each); separable, they
cost about a seventh, so the channels can grow and the model still fits 80 KB of int8.

Channels: C = 256w (32 at 1/8, 16 at 1/16), multiples of 8 so XNNPACK's int8 kernels run full
vectors; encoder C, 2C, 2C, 2C as in the fast family.
"""
from __future__ import annotations

from fractions import Fraction

import torch.nn as nn

from ..fast.generator import LEAKY_SLOPE, FastGenerator

FULL_CHANNELS = 256
MIN_CHANNELS = 8


def dw_channels(width: Fraction | float) -> int:
    return max(MIN_CHANNELS, 8 * round(FULL_CHANNELS * float(width) / 8))


def conv_bn_act(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """conv -> BN -> LeakyReLU(0.2) as one Sequential, so ``fold_batchnorm`` folds the BN into the conv."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.LeakyReLU(LEAKY_SLOPE))


class SeparableBlock(nn.Sequential):
    """3x3 depthwise (stride s) -> BN -> LReLU -> 1x1 pointwise -> BN -> LReLU [-> Dropout2d]."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dropout: float = 0.0):
        layers = [conv_bn_act(cin, cin, 3, stride, groups=cin), conv_bn_act(cin, cout, 1)]
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


class FastDWGenerator(FastGenerator):
    """(B,3,80,80) RGB in [0,1] -> (B,K,40,40) heatmap logits (``heatmap_stride`` 2): the fast layout
    (``models/fast/generator.py``) at C = ``dw_channels(width)`` with ``SeparableBlock``s."""

    def __init__(self, width: Fraction | float = Fraction(1, 8), num_landmarks: int = 68, dropout: float = 0.2):
        super().__init__(width, num_landmarks, dropout, channels=dw_channels(width), block=SeparableBlock)
