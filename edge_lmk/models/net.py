"""``LandmarkNet``: any family's heatmap generator + the shared soft-argmax head (the deployed interface)."""
from __future__ import annotations

from fractions import Fraction

import torch
import torch.nn as nn

from ..codecs import SoftArgmaxCodec
from .family import export_hints

class LandmarkNet(nn.Module):
    """Generator + soft-argmax head.

    ``forward`` is the deployed interface: (B,3,80,80) -> landmarks (B,K,2) in crop pixels
    and scale (B,K), the mean of the two per-axis spreads (lower = more confident).
    ``forward_train`` also returns per-axis spreads and probabilities for the losses.
    """

    def __init__(self, width: Fraction | float = 1, scale_kind: str = "laplace", beta: float = 1.0,
                 num_landmarks: int = 68, dropout: float = 0.2, block_channels=None, head_hidden: int = 0,
                 generator: nn.Module | None = None, stages: nn.ModuleList | None = None):
        super().__init__()
        # ``generator``: any family's heatmap generator (``family.build_generator``); the default is
        # the recombinator family's at ``width``.
        if generator is None:
            from .recombinator.generator import RecombinatorGenerator

            generator = RecombinatorGenerator(width, num_landmarks, dropout, block_channels, head_hidden)
        self.generator = generator
        # a family whose heatmaps are coarser than the crop says so (``heatmap_stride``); outputs stay in crop px
        self.head = SoftArgmaxCodec(beta, scale_kind, stride=getattr(generator, "heatmap_stride", 1))
        # post-head stages (``models/stages``: shape model, cascade refiner), applied in order after the head
        self.stages = stages if stages is not None else nn.ModuleList()
        # Thin models grow heatmap logits slowly (few input channels, Adam steps ~lr), so a
        # softmax inverse temperature beta > 1 speeds up learning; dividing the init by beta
        # keeps the starting heatmaps as flat as with beta = 1.
        with torch.no_grad():
            for conv in export_hints(self).logit_modules(self.generator):
                conv.weight.div_(beta)

    def forward_train(self, x: torch.Tensor):
        """The first stage's training decode (mean, spread, probabilities); stages are not applied."""
        return self.head(self.generator(x))

    def first_stage(self, x: torch.Tensor):
        """Deployed outputs before any post-head stage: landmarks (B,K,2), scale (B,K)."""
        return self.head.deploy(self.generator(x))

    def forward(self, x: torch.Tensor):
        return run_stages(self.stages, x, *self.first_stage(x))

    def auxiliary_loss(self, target: torch.Tensor, loss_fn, target_scale: float) -> torch.Tensor | None:
        """(B,) per-face extra loss terms of the generator's last training forward (e.g. the EVAE's
        response-map and latent KL terms), or None for a family without any."""
        aux = getattr(self.generator, "auxiliary_loss", None)
        return aux(self.head, target, loss_fn, target_scale) if aux is not None else None


def run_stages(stages, x: torch.Tensor, landmarks: torch.Tensor, scale: torch.Tensor):
    """Post-head stages in order: (crop (B,3,S,S), landmarks (B,K,2), scale (B,K)) -> (landmarks, scale)."""
    for stage in stages:
        landmarks, scale = stage(x, landmarks, scale)
    return landmarks, scale


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every Conv2d -> BatchNorm2d pair in place (eval mode); returns the model."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    for mod in model.modules():
        # any conv -> BN sequence (ConvBlock here, table1.ConvNormAct)
        if (isinstance(mod, nn.Sequential) and len(mod) > 1 and isinstance(mod[0], nn.Conv2d)
                and isinstance(mod[1], nn.BatchNorm2d)):
            mod[0] = fuse_conv_bn_eval(mod[0], mod[1])
            mod[1] = nn.Identity()
    return model
