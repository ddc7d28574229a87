"""Merget et al.'s fully-convolutional local-global context network (CVPR 2018), at this kit's sizes.

The paper's network: a *local-context* FCN maps the image to one heatmap per landmark; an implicit
*kernel convolution* blurs those heatmaps with a fixed Gaussian (credited with convergence, smoother
gradients and less overfitting); a *global-context* subnet of dilated convolutions looks at all the
blurred maps together over a large receptive field and produces the final heatmaps. Post-processing
fits a PCA shape model (here a post-head stage, ``models/stages/shape_model.py``, model names ending
in ``_pca``).

This port keeps that structure and the kit's 80x80 crop, LaplaceKL loss and soft-argmax head. Where
it differs, for size and latency at <= 40K parameters: the paper works on 96x96 grey images at full
resolution with wide layers; here a stride-2 stem puts both subnets on a 40x40 grid (heatmap stride
2, decoded sub-pixel into crop pixels). The global subnet's last layer sees the blurred local maps
as well as its own features (a 1x1 conv over both), so the refinement can pass the local evidence
through: the paper adds the two.

- local: 3x3 stride-2 conv (C), three 3x3 convs (C) -> 1x1 conv to K local heatmaps (RF ~ 15 crop px);
- kernel convolution: fixed 7x7 Gaussian (sigma 1.5 grid px = 3 crop px), one per heatmap
  (``kernel_conv=False``: identity, the ablation);
- global: 3x3 conv K -> C, then 3x3 convs with dilation 2, 4, 8 (RF ~ 60 crop px: the whole face);
- out: 1x1 conv over [global features, blurred local maps] -> K logits.
"""
from __future__ import annotations

from fractions import Fraction

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..family import ExportHints
from ..layers import ConvBNAct, width_channels

HEATMAP_STRIDE = 2
KERNEL_SIZE = 7
KERNEL_SIGMA = 1.5  # heatmap pixels


def gaussian_kernel(size: int = KERNEL_SIZE, sigma: float = KERNEL_SIGMA) -> torch.Tensor:
    """(size, size) normalised 2-D Gaussian."""
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-0.5 * (r / sigma) ** 2)
    k = g[:, None] * g[None, :]
    return k / k.sum()


class KernelConv(nn.Module):
    """Merget's kernel convolution: each heatmap blurred by the same fixed Gaussian (a depthwise conv
    whose weights are a buffer, not parameters)."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("kernel", gaussian_kernel().expand(channels, 1, KERNEL_SIZE, KERNEL_SIZE).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.kernel, padding=KERNEL_SIZE // 2, groups=x.shape[1])


class LocalGlobalGenerator(nn.Module):
    """(B,3,80,80) RGB in [0,1] -> (B,K,40,40) heatmap logits (``heatmap_stride`` 2)."""

    heatmap_stride = HEATMAP_STRIDE

    def __init__(self, width: Fraction | float = Fraction(1, 8), num_landmarks: int = 68, dropout: float = 0.2,
                 kernel_conv: bool = True):
        super().__init__()
        c, k = width_channels(width), num_landmarks
        self.channels = c
        self.local = nn.Sequential(ConvBNAct(3, c, stride=2), ConvBNAct(c, c), ConvBNAct(c, c),
                                   ConvBNAct(c, c, dropout=dropout))
        self.local_heatmaps = nn.Conv2d(c, k, 1)
        self.kernel_conv = KernelConv(k) if kernel_conv else nn.Identity()
        self.context = nn.Sequential(ConvBNAct(k, c), ConvBNAct(c, c, dilation=2), ConvBNAct(c, c, dilation=4),
                                     ConvBNAct(c, c, dilation=8, dropout=dropout))
        self.to_heatmaps = nn.Conv2d(c + k, k, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.kernel_conv(self.local_heatmaps(self.local(x)))
        return self.to_heatmaps(torch.cat([self.context(local), local], 1))

    def export_hints(self) -> ExportHints:
        return ExportHints(logit_layers=("to_heatmaps",))
