"""Export-time rewrites that keep the whole ExecuTorch graph inside one XNNPACK delegate.

XNNPACK in ExecuTorch has no kernel for ``upsample_nearest2d``, ``sum`` or ``arange``, so the
eager graph is cut into 7 delegate segments with portable ops between them. Every cut costs a
delegate header, boundary tensor descriptions and, in int8, a dequantize/quantize pair; for the
1/16 model that overhead is most of the file. These modules compute the same numbers with ops
XNNPACK does run (transposed conv, permute, linear, sub, abs, mul), so the program becomes a single
delegate call. They are swapped into a deep copy at export time only; training and the other
exporters keep the plain modules.

The rewrites are exact in float32 up to summation order (tests: landmarks within 1e-3 px).
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from edge_lmk.heads import SoftArgmaxHead, pixel_centres
from edge_lmk.models import export_hints


# The C x C x 2 x 2 kernel is 3.4% of the parameters at every width and costs 4 C^2 MACs per
# input pixel; worth it where the partition overhead dominates the file (1/16: 7 partitions,
# ~25 KB of graphs around 8 KB of weights), not for the wide models, which keep the portable
# upsample kernel between delegate partitions.
MAX_UP_CHANNELS = 16


class NearestUp2x(nn.Module):
    """(B,C,H,W) -> (B,C,2H,2W) nearest-neighbour upsampling as a transposed conv.

    A stride-2 transposed conv whose 2x2 kernel is 1 from each channel to itself and 0 to the
    others copies every pixel into its 2x2 block: exactly ``nn.Upsample(scale_factor=2,
    mode="nearest")``. XNNPACK runs it natively (NHWC, no layout transposes) in float and in
    int8, where the 0/1 weights quantize exactly. Dense (C x C), not depthwise: XNNPACK's
    grouped deconvolution with one channel per group measured ~0.3 ms per upsample on the 1/16
    model, the dense one a few microseconds. ``channels``: every C the module will see (the
    generator shares one upsample module).
    """

    def __init__(self, channels):
        super().__init__()
        for c in sorted(set(channels)):
            kernel = torch.eye(c).view(c, c, 1, 1).expand(c, c, 2, 2).contiguous()
            self.register_buffer(f"kernel_{c}", kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, getattr(self, f"kernel_{x.shape[1]}"), stride=2)


class LinearMomentsHead(nn.Module):
    """Spatial softmax + soft-argmax + Laplace/Gaussian spread with linear layers for every sum.

    (B,K,H,W) logits -> landmarks (B,K,2) and scale (B,K), the deployed outputs of
    ``LandmarkNet.forward``. Requires H == W (the contract's square heatmaps) so the x and y
    marginals share one set of constants: three small weight rows instead of 68x80 tables.
    """

    def __init__(self, head: SoftArgmaxHead, size: int):
        super().__init__()
        self.beta = head.beta
        self.kind = head.kind
        centres = pixel_centres(size)
        self.register_buffer("ones_row", torch.ones(1, size))      # sum over one axis
        self.register_buffer("centres_row", centres.view(1, size))  # E[x]
        self.register_buffer("ones_col", torch.ones(size, 1))      # mean -> (.., size) row
        self.register_buffer("centres", centres.view(1, 1, size))

    def forward(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, k, h, w = logits.shape
        logits = logits.reshape(b, k, h * w)
        if self.beta != 1.0:
            logits = logits * self.beta
        probs = torch.softmax(logits, dim=-1).reshape(b, k, h, w)
        px = F.linear(probs.permute(0, 1, 3, 2), self.ones_row).reshape(b, k, w)  # sum over rows
        py = F.linear(probs, self.ones_row).reshape(b, k, h)                      # sum over columns
        marg = torch.cat([px, py], 1)                                             # (B,2K,S)
        mean = F.linear(marg, self.centres_row)                                   # (B,2K,1)
        # Broadcasting both operands ((1,1,S) - (B,2K,1)) crashes the XNNPACK runtime, so the
        # mean is first spread along the row by a 1-input linear layer.
        d = self.centres - F.linear(mean, self.ones_col)                          # (B,2K,S)
        d = d.abs() if self.kind == "laplace" else d * d
        spread = F.linear(marg * d, self.ones_row)                                # (B,2K,1)
        landmarks = mean.view(b, 2, k).permute(0, 2, 1)                           # (B,K,2)
        scale = (spread[:, :k] + spread[:, k:]).view(b, k) * 0.5
        return landmarks, scale


class DelegableNet(nn.Module):
    """``LandmarkNet`` with the rewrites above: image (B,3,S,S) -> (landmarks (B,K,2), scale (B,K))."""

    def __init__(self, model: nn.Module, size: int):
        super().__init__()
        self.generator = copy.deepcopy(model.generator)
        hints = export_hints(self.generator)
        # A family with a shared nearest upsample says so (the Table 1 family's bilinear one runs in XNNPACK).
        if hints.nearest_upsample is not None:
            attr, up_channels = hints.nearest_upsample
            if max(up_channels) <= MAX_UP_CHANNELS:
                setattr(self.generator, attr, NearestUp2x(up_channels))
        self.head = LinearMomentsHead(model.head, size)
        # softmax(beta * z) with beta folded into the layers that make z: one multiply of
        # 68x6400 logits less per call, exact up to float rounding.
        if self.head.beta != 1.0:
            with torch.no_grad():
                for conv in hints.logit_modules(self.generator):
                    conv.weight.mul_(self.head.beta)
                    conv.bias.mul_(self.head.beta)
            self.head.beta = 1.0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.generator(x))


def delegable(model: nn.Module, size: int) -> nn.Module:
    """Deep copy of ``model`` (a ``LandmarkNet``) rewritten for a single XNNPACK delegate."""
    return DelegableNet(model, size).eval()
