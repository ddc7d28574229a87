"""Export-time rewrites that keep the whole ExecuTorch graph inside one XNNPACK delegate.

XNNPACK in ExecuTorch has no kernel for ``upsample_nearest2d``, ``sum`` or ``arange``, so the
eager graph is cut into 7 delegate segments with portable ops between them. Every cut costs a
delegate header, boundary tensor descriptions and, in int8, a dequantize/quantize pair; for the
1/16 model that overhead is most of the file. These modules compute the same numbers with ops
XNNPACK does run (transposed conv, average pooling, linear, sub, abs, mul), so the program becomes a single
delegate call. They are swapped into a deep copy at export time only; training and the other
exporters keep the plain modules.

The rewrites are exact in float32 up to summation order (tests: landmarks within 1e-3 px).
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from edge_lmk.codecs import DelegableSoftArgmax
from edge_lmk.models import export_hints
from edge_lmk.models.net import run_stages


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
            # A frozen parameter, not a buffer: once PT2E has folded its int8 copy into the graph,
            # ExecuTorch's edge pass drops unused parameters (not buffers), so an int8 .pte does
            # not also carry the 4 C^2 float32 kernel (4 KB at C = 16, a tenth of the 1/16 file).
            setattr(self, f"kernel_{c}", nn.Parameter(kernel, requires_grad=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, getattr(self, f"kernel_{x.shape[1]}"), stride=2)


class DelegableNet(nn.Module):
    """``LandmarkNet`` with the rewrites above: image (B,3,S,S) -> (landmarks (B,K,2), scale (B,K))."""

    def __init__(self, model: nn.Module, size: int):
        super().__init__()
        self.generator = copy.deepcopy(model.generator)
        hints = export_hints(self.generator)
        # A family with a shared nearest upsample says so (the Table 1 family's bilinear one runs in XNNPACK).
        # At every width: the C x C x 2 x 2 kernels cost bytes (+2.3% at 1/2, +3.2% at width 1; 1/4 even
        # shrinks, one partition instead of four) but the int8 .pte without the partition cuts and their
        # dequantize/quantize pairs ran 1/4 in 0.76x, 1/2 in 0.79x and width 1 in 0.89x of the time
        # (docs/benchmarks/layout_probe, "Recombinator ladder").
        if hints.nearest_upsample is not None:
            attr, up_channels = hints.nearest_upsample
            setattr(self.generator, attr, NearestUp2x(up_channels))
        self.head = DelegableSoftArgmax(model.head, size // model.head.stride)
        # post-head stages (shape model, cascade) run after the head exactly as in ``LandmarkNet.forward``
        self.stages = copy.deepcopy(model.stages)
        # softmax(beta * z) with beta folded into the layers that make z: one multiply of
        # 68x6400 logits less per call, exact up to float rounding.
        if self.head.beta != 1.0:
            with torch.no_grad():
                for conv in hints.logit_modules(self.generator):
                    conv.weight.mul_(self.head.beta)
                    conv.bias.mul_(self.head.beta)
            self.head.beta = 1.0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return run_stages(self.stages, x, *self.head(self.generator(x)))


def delegable(model: nn.Module, size: int) -> nn.Module:
    """Deep copy of ``model`` (a ``LandmarkNet``) rewritten for a single XNNPACK delegate."""
    return DelegableNet(model, size).eval()
