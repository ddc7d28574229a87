"""Landmark losses: softargmax L2 baseline, LaplaceKL and GaussianKL (closed form).

All take mean (B,K,2) and target (B,K,2) in heatmap pixels; the KL losses also take
the per-axis spread (B,K,2) from the codec (``codecs.SoftArgmaxCodec``). Each returns a scalar: the sum over
the two axes, averaged over landmarks and batch; ``per_face=True`` returns the (B,) per-face means
instead (for weighting faces of noisier sets).
"""
from __future__ import annotations

import torch

EPS = 1e-6


def _reduce(per_point: torch.Tensor, per_face: bool) -> torch.Tensor:
    """(B,K) -> scalar mean, or (B,) per-face means."""
    return per_point.mean(-1) if per_face else per_point.mean()


def softargmax_l2(mean: torch.Tensor, spread: torch.Tensor, target: torch.Tensor, b: float = 1.0,
                  per_face: bool = False) -> torch.Tensor:
    """Squared Euclidean error of the soft-argmax location (spread is ignored)."""
    return _reduce(((mean - target) ** 2).sum(-1), per_face)


def laplace_kl(mean: torch.Tensor, spread: torch.Tensor, target: torch.Tensor, b: float = 1.0,
               per_face: bool = False) -> torch.Tensor:
    """KL( Laplace(mean, spread) || Laplace(target, b) ) per axis.

    KL = log(b/s) + |d|/b + (s/b) exp(-|d|/s) - 1, with d = mean - target, s = spread.
    """
    s = spread.clamp_min(EPS)
    d = (mean - target).abs()
    kl = torch.log(b / s) + d / b + (s / b) * torch.exp(-d / s) - 1.0
    return _reduce(kl.sum(-1), per_face)


def gaussian_kl(mean: torch.Tensor, spread: torch.Tensor, target: torch.Tensor, b: float = 1.0,
                per_face: bool = False) -> torch.Tensor:
    """KL( N(mean, var) || N(target, b) ) per axis, ``spread`` being the variance and ``b`` the target variance."""
    v = spread.clamp_min(EPS)
    d2 = (mean - target) ** 2
    kl = 0.5 * (torch.log(b / v) + (v + d2) / b - 1.0)
    return _reduce(kl.sum(-1), per_face)


LOSSES = {
    "softargmax": (softargmax_l2, "laplace"),
    "laplacekl": (laplace_kl, "laplace"),
    "gaussiankl": (gaussian_kl, "gaussian"),
}


def get_loss(name: str):
    """Return (loss_fn, spread kind the head must compute)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}") from None
