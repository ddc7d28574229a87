"""Batched crop + augmentation on the CPU or GPU with ``grid_sample``.

Geometry (random scale, rotation, translation, horizontal flip with the 68-point
permutation) is one similarity per face, so the crop is a single resampling of the canvas,
done with the same bilinear convention as ``preprocess.sample_bilinear``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..preprocess import FLIP_PERMUTATION


@dataclass(frozen=True)
class AugmentConfig:
    scale: float = 0.15  # side multiplied by exp(U(-log(1+s), log(1+s)))
    rotate_deg: float = 25.0  # U(-r, r)
    translate: float = 0.06  # centre shift U(-t, t) * side, per axis
    flip: float = 0.5
    brightness: float = 0.15
    contrast: float = 0.3
    saturation: float = 0.4
    grayscale: float = 0.1
    noise: float = 0.02
    blur: float = 0.0


NO_AUGMENT = AugmentConfig(0, 0, 0, 0, 0, 0, 0, 0, 0)


def _bbox(pts: torch.Tensor):
    lo, hi = pts.min(1).values, pts.max(1).values
    return (lo + hi) / 2, (hi - lo).max(-1).values


def crop_batch(canvas: torch.Tensor, pts: torch.Tensor, out_size: int, crop_scale: float,
               cfg: AugmentConfig = NO_AUGMENT, generator: torch.Generator | None = None):
    """Crop (and augment) a batch.

    canvas: (B,S,S,3) uint8; pts: (B,K,2) canvas coordinates.
    Returns x (B,3,out,out) float in [0,1] and target (B,K,2) in crop pixels.
    """
    B, S = canvas.shape[0], canvas.shape[1]
    dev = canvas.device
    img = canvas.permute(0, 3, 1, 2).float().div_(255.0)
    pts = pts.float()
    centre, extent = _bbox(pts)

    def u(lo, hi, shape=(B,)):
        return torch.rand(shape, generator=generator, device="cpu").to(dev) * (hi - lo) + lo

    side = crop_scale * extent
    if cfg.scale > 0:
        side = side * torch.exp(u(-math.log1p(cfg.scale), math.log1p(cfg.scale)))
    if cfg.translate > 0:
        centre = centre + u(-cfg.translate, cfg.translate, (B, 2)) * side[:, None]
    ang = torch.deg2rad(u(-cfg.rotate_deg, cfg.rotate_deg)) if cfg.rotate_deg > 0 else torch.zeros(B, device=dev)
    flip = u(0, 1) < cfg.flip if cfg.flip > 0 else torch.zeros(B, dtype=torch.bool, device=dev)

    s = side / out_size
    cos, sin = torch.cos(ang) * s, torch.sin(ang) * s
    fx = torch.where(flip, -1.0, 1.0).to(dev)
    M = torch.stack([torch.stack([cos * fx, -sin], -1), torch.stack([sin * fx, cos], -1)], 1)  # (B,2,2)
    t = centre - (M @ torch.full((B, 2, 1), out_size / 2.0, device=dev)).squeeze(-1)
    # crop->canvas affine to grid_sample's normalised coordinates (align_corners=False)
    theta_lin = M * (out_size / S)
    theta_t = (2.0 / S) * ((M @ torch.full((B, 2, 1), out_size / 2.0, device=dev)).squeeze(-1) + t) - 1.0
    theta = torch.cat([theta_lin, theta_t[..., None]], -1)
    grid = F.affine_grid(theta, (B, 3, out_size, out_size), align_corners=False)
    x = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    target = torch.linalg.solve(M, (pts - t[:, None, :]).transpose(1, 2)).transpose(1, 2)
    if flip.any() and target.shape[1] == len(FLIP_PERMUTATION):  # boxes (K=2) need no relabelling
        perm = torch.as_tensor(FLIP_PERMUTATION, device=dev)
        target = torch.where(flip[:, None, None], target[:, perm], target)

    x = _photometric(x, cfg, u, B)
    return x, target


def _photometric(x: torch.Tensor, cfg: AugmentConfig, u, B: int) -> torch.Tensor:
    if cfg.contrast > 0:
        m = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - m) * u(1 - cfg.contrast, 1 + cfg.contrast)[:, None, None, None] + m
    if cfg.brightness > 0:
        x = x + u(-cfg.brightness, cfg.brightness)[:, None, None, None]
    if cfg.saturation > 0 or cfg.grayscale > 0:
        g = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
        sat = u(1 - cfg.saturation, 1 + cfg.saturation) if cfg.saturation > 0 else torch.ones(B, device=x.device)
        if cfg.grayscale > 0:
            sat = torch.where(u(0, 1) < cfg.grayscale, torch.zeros_like(sat), sat)
        x = g + (x - g) * sat[:, None, None, None]
    if cfg.noise > 0:
        x = x + torch.randn_like(x) * u(0, cfg.noise)[:, None, None, None]
    return x.clamp(0.0, 1.0)
