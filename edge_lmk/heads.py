"""Spatial softmax, soft-argmax location and per-landmark spread."""
from __future__ import annotations

import torch
import torch.nn as nn

SCALE_KINDS = ("laplace", "gaussian")


def pixel_centres(n: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(n,) coordinates of pixel centres in continuous convention: i + 0.5."""
    return torch.arange(n, device=device, dtype=dtype) + 0.5


def spatial_softmax(logits: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """(B,K,H,W) logits -> (B,K,H,W) probabilities summing to 1 over H*W."""
    b, k, h, w = logits.shape
    return torch.softmax(logits.reshape(b, k, h * w) * beta, dim=-1).reshape(b, k, h, w)


def soft_argmax(probs: torch.Tensor, kind: str = "laplace") -> tuple[torch.Tensor, torch.Tensor]:
    """(B,K,H,W) probabilities -> mean (B,K,2) and per-axis spread (B,K,2), both (x, y).

    Spread is E|x - mean| for ``laplace`` (the Laplace scale b) and E(x - mean)^2 for
    ``gaussian`` (the variance). Marginals make this exact and cheaper than 2-D sums.
    """
    h, w = probs.shape[-2:]
    px = probs.sum(dim=2)  # (B,K,W)
    py = probs.sum(dim=3)  # (B,K,H)
    xs = pixel_centres(w, probs.device, probs.dtype)
    ys = pixel_centres(h, probs.device, probs.dtype)
    mx = (px * xs).sum(-1)
    my = (py * ys).sum(-1)
    dx = xs - mx.unsqueeze(-1)
    dy = ys - my.unsqueeze(-1)
    if kind == "laplace":
        sx, sy = (px * dx.abs()).sum(-1), (py * dy.abs()).sum(-1)
    elif kind == "gaussian":
        sx, sy = (px * dx * dx).sum(-1), (py * dy * dy).sum(-1)
    else:
        raise ValueError(f"unknown scale kind {kind!r}; expected one of {SCALE_KINDS}")
    return torch.stack([mx, my], -1), torch.stack([sx, sy], -1)


class SoftArgmaxHead(nn.Module):
    """Heatmap logits -> (landmarks (B,K,2), spread (B,K,2), probabilities (B,K,H,W))."""

    def __init__(self, beta: float = 1.0, kind: str = "laplace"):
        super().__init__()
        if kind not in SCALE_KINDS:
            raise ValueError(f"unknown scale kind {kind!r}; expected one of {SCALE_KINDS}")
        self.beta = float(beta)
        self.kind = kind

    def forward(self, logits: torch.Tensor):
        probs = spatial_softmax(logits, self.beta)
        mean, spread = soft_argmax(probs, self.kind)
        return mean, spread, probs
