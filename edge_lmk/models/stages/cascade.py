"""Coarse-to-fine refinement (Sun et al., CVPR 2013; the MTCNN notes): a stage that looks at a small
image patch around each landmark the first stage predicted and moves the landmark by a learned offset.

The first stage can be any family's model; this stage only sees the crop and the first stage's
landmarks (detached: the first stage is frozen while the refiner trains, ``train --stages cascade
--init-from FIRST``). Each landmark's ``PATCH`` x ``PATCH`` patch (``SPACING`` crop px apart, so
+-6 px around the point) is sampled bilinearly with separable tent weights, two batched matrix
products instead of ``grid_sample``, so the stage exports to every runtime. One small CNN is shared
by all landmarks; a per-landmark linear layer turns its features into that landmark's offset
(bounded to +-``MAX_SHIFT`` px by a tanh). Training uses OHEM, as the notes describe: only the
hardest 70% of each batch's faces are back-propagated (``train.py``).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .registry import register_stage

PATCH = 12
SPACING = 1.0  # crop px between patch samples
MAX_SHIFT = 6.0  # px
CHANNELS = 16
FEATURES = 32
INPUT_SIZE = 80
LEAKY_SLOPE = 0.2
OHEM_KEEP = 0.7


class CascadeRefiner(nn.Module):
    """(image (B,3,S,S), landmarks (B,K,2), scale (B,K)) -> (refined landmarks (B,K,2), scale)."""

    trainable = True

    def __init__(self, num_landmarks: int = 68, size: int = INPUT_SIZE):
        super().__init__()
        k, c = num_landmarks, CHANNELS
        # constants as buffers, not arange: XNNPACK has no arange kernel
        self.register_buffer("offsets", (torch.arange(PATCH, dtype=torch.float32) - (PATCH - 1) / 2) * SPACING)
        self.register_buffer("centres", torch.arange(size, dtype=torch.float32) + 0.5)
        act = nn.LeakyReLU(LEAKY_SLOPE)
        self.features = nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1), act,                     # 12x12
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), act,       # 6x6
            nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1), act,   # 3x3
            nn.Flatten(), nn.Linear(2 * c * 9, FEATURES), act)
        # per-landmark linear layer: (K, F, 2); zero-initialised so the untrained stage is the identity
        self.offset_weight = nn.Parameter(torch.zeros(k, FEATURES, 2))
        self.offset_bias = nn.Parameter(torch.zeros(k, 1, 2))

    def patches(self, image: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """(B,3,S,S), (B,K,2) -> (B*K,3,P,P): bilinear samples (zeros outside) around each landmark."""
        b, ch, s, _ = image.shape
        k = landmarks.shape[1]
        pos = landmarks.unsqueeze(-1) + self.offsets  # (B,K,2,P) sample coordinates
        tent = (1.0 - (pos.unsqueeze(-1) - self.centres).abs()).clamp_min(0.0)  # (B,K,2,P,S)
        wx, wy = tent[:, :, 0], tent[:, :, 1]  # (B,K,P,S)
        rows = wy.reshape(b, k * PATCH, s) @ image.permute(0, 2, 1, 3).reshape(b, s, ch * s)  # (B,K*P,C*S)
        rows = rows.reshape(b, k, PATCH, ch, s).permute(0, 1, 3, 2, 4).reshape(b, k, ch * PATCH, s)
        out = rows @ wx.transpose(-1, -2)  # (B,K,C*P,P)
        return out.reshape(b * k, ch, PATCH, PATCH)

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor, scale: torch.Tensor):
        b, k, _ = landmarks.shape
        landmarks = landmarks.detach()
        feats = self.features(self.patches(image, landmarks)).reshape(b, k, FEATURES)
        offset = (feats.transpose(0, 1) @ self.offset_weight + self.offset_bias).transpose(0, 1)  # (B,K,2)
        return landmarks + MAX_SHIFT * torch.tanh(offset), scale


def ohem_loss(refined: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
              keep: float = OHEM_KEEP) -> torch.Tensor:
    """Mean point error (px) of the hardest ``keep`` fraction of the batch's faces (B,K,2 -> scalar)."""
    per_face = (refined - target).norm(dim=-1).mean(-1)
    if weight is not None:
        per_face = per_face * weight
    n = max(1, round(keep * len(per_face)))
    return per_face.topk(n).values.mean()


@register_stage("cascade", suffix="_casc")
def build(num_landmarks: int) -> CascadeRefiner:
    return CascadeRefiner(num_landmarks)
