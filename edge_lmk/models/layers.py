"""Building blocks shared by the families added for the seeds' systems (local-global FCN, EVAE-CNN)."""
from __future__ import annotations

import torch.nn as nn

LEAKY_SLOPE = 0.2


class ConvBNAct(nn.Sequential):
    """k x k conv (stride, dilation) -> BN -> LeakyReLU(0.2) [-> Dropout2d]. A ``Sequential`` that starts
    with conv, BN, so ``fold_batchnorm`` folds it at export."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1,
                 dropout: float = 0.0):
        layers = [nn.Conv2d(cin, cout, kernel, stride=stride, padding=dilation * (kernel // 2), dilation=dilation,
                            bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(LEAKY_SLOPE)]
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


def width_channels(width, full: int = 128, minimum: int = 4) -> int:
    """C = ``full`` x width (16 at 1/8, the size the seeds' families ship at)."""
    return max(minimum, round(full * float(width)))
