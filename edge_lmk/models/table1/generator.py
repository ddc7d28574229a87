"""The heatmap generator of Table 1 of *Laplace Landmark Localization* (Robinson et al., ICCV 2019).

Layout at width multiplier ``w`` (C = 64w channels):

- encoder, 4 stages at 80, 40, 20 and 10 px: 3x3 conv (C) -> LeakyReLU 0.2 -> dropout -> 2x2 max-pool,
  down to a 5x5xC bottleneck; the pre-pool features of each stage are the skips;
- decoder, 4 stages back up to 80 px: a 1x1 "D-layer" (C) on the coarse path, bilinear 2x upsampling, a
  1x1 D-layer (C) on the skip, concatenation (2C = 128w) and a 5x5 conv at 2C -> LeakyReLU -> dropout;
- heatmap layers at 80x80: 1x1 conv 2C -> 68, LeakyReLU, 1x1 68 -> 68, LeakyReLU, 1x1 68 -> 68 logits.
  The two 68 -> 68 layers are width-independent: they are Table 3's constant ~9.4K-parameter term that
  makes the paper's 1/16 model 17.4K parameters.

Differences from the paper, all explained: batch norm after every conv but the heatmap layers (the paper
lists none; it trains thin widths far faster and folds into the conv at export, so the deployed graph is
Table 1's), and dropout only where the paper puts it in the deeper stages (``DROPOUT_STAGES``).
Parameter counts vs Table 3: ``python -m edge_lmk.models.table1`` (within 3.1% at every width, BN
excluded as it folds away).
"""
from __future__ import annotations

from fractions import Fraction

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..family import ExportHints

LEAKY_SLOPE = 0.2
FULL_CHANNELS = 64
MIN_CHANNELS = 2
# Table 3 of the paper: params per width (300-W full-set NME 7.38, 5.09, 4.39, 4.04, 4.01).
PAPER_PARAMS = {Fraction(1, 16): 17_400, Fraction(1, 8): 38_900, Fraction(1, 4): 128_100,
                Fraction(1, 2): 478_100, Fraction(1): 1_872_400}
# Dropout after the encoder's two coarsest stages and the decoder's two coarsest ones; the fine stages
# hold few channels at thin widths and dropping them removes most of the signal.
DROPOUT_STAGES = ("enc2", "enc3", "dec3", "dec2")


def table1_channels(width: Fraction | float) -> int:
    return max(MIN_CHANNELS, round(FULL_CHANNELS * float(width)))


class ConvNormAct(nn.Sequential):
    """k x k conv -> (BN) -> LeakyReLU(0.2) [-> Dropout2d]."""

    def __init__(self, cin: int, cout: int, k: int, norm: bool, dropout: float = 0.0):
        layers = [nn.Conv2d(cin, cout, k, padding=k // 2, bias=not norm)]
        if norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.LeakyReLU(LEAKY_SLOPE))
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


class Table1Generator(nn.Module):
    """(B,3,80,80) RGB in [0,1] -> (B,K,80,80) heatmap logits."""

    def __init__(self, width: Fraction | float = 1, num_landmarks: int = 68, dropout: float = 0.2,
                 norm: bool = True):
        super().__init__()
        c = table1_channels(width)
        self.channels = c
        self.norm = norm

        def drop(name: str) -> float:
            return dropout if name in DROPOUT_STAGES else 0.0

        self.enc = nn.ModuleList([ConvNormAct(3 if i == 0 else c, c, 3, norm, drop(f"enc{i}")) for i in range(4)])
        self.pool = nn.MaxPool2d(2)
        # decoder stage i runs at 10, 20, 40, 80 px (i = 3, 2, 1, 0 counts down to the finest)
        self.d_coarse = nn.ModuleList([ConvNormAct(c if i == 3 else 2 * c, c, 1, norm) for i in (3, 2, 1, 0)])
        self.d_skip = nn.ModuleList([ConvNormAct(c, c, 1, norm) for _ in range(4)])
        self.dec = nn.ModuleList([ConvNormAct(2 * c, 2 * c, 5, norm, drop(f"dec{i}")) for i in (3, 2, 1, 0)])
        self.heat1 = nn.Conv2d(2 * c, num_landmarks, 1)
        self.heat2 = nn.Conv2d(num_landmarks, num_landmarks, 1)
        self.to_heatmaps = nn.Conv2d(num_landmarks, num_landmarks, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for stage in self.enc:
            x = stage(x)
            skips.append(x)
            x = self.pool(x)
        for coarse, skip_d, dec, skip in zip(self.d_coarse, self.d_skip, self.dec, reversed(skips)):
            up = F.interpolate(coarse(x), scale_factor=2, mode="bilinear", align_corners=False)
            x = dec(torch.cat([up, skip_d(skip)], 1))
        x = F.leaky_relu(self.heat1(x), LEAKY_SLOPE)
        x = F.leaky_relu(self.heat2(x), LEAKY_SLOPE)
        return self.to_heatmaps(x)

    def export_hints(self) -> ExportHints:
        # Bilinear upsampling runs in XNNPACK as it is: nothing to rewrite. With int8 LeakyReLUs the int8
        # .pte does not load in the ExecuTorch runtime (executorch 1.5.1: "Failed to load method forward",
        # 0x1); with them float it loads and stays within the int8 budget (1/16: +1.0% NME on the sample).
        return ExportHints(logit_layers=("to_heatmaps",), int8_activations=False)


def deployed_params(gen: nn.Module) -> int:
    """Parameters after batch norm folds into its conv (a bias per conv output, no BN tensors)."""
    n = 0
    for m in gen.modules():
        if isinstance(m, nn.Conv2d):
            n += m.weight.numel() + m.out_channels
    return n
