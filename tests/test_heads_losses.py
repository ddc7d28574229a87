import math

import torch
from torch.distributions import Laplace, Normal, kl_divergence

from edge_lmk.heads import soft_argmax, spatial_softmax
from edge_lmk.losses import gaussian_kl, laplace_kl, softargmax_l2


def test_delta_heatmap_gives_pixel_centre():
    logits = torch.full((1, 1, 80, 80), -1e4)
    logits[0, 0, 12, 40] = 0
    mean, spread = soft_argmax(spatial_softmax(logits))
    assert mean[0, 0].tolist() == [40.5, 12.5]
    assert spread.abs().max() < 1e-6


def test_uniform_heatmap_spread():
    p = spatial_softmax(torch.zeros(1, 1, 80, 80))
    mean, b = soft_argmax(p, "laplace")
    _, var = soft_argmax(p, "gaussian")
    assert torch.allclose(mean, torch.tensor([[[40.0, 40.0]]]))
    assert torch.allclose(b, torch.tensor([[[20.0, 20.0]]]), atol=1e-3)  # E|x - 40| over 0.5..79.5
    assert torch.allclose(var, torch.tensor([[[(80 ** 2 - 1) / 12] * 2]]), atol=1e-2)


def test_laplace_kl_matches_torch_distributions():
    mu = torch.tensor([[[3.0, -1.0]]])
    s = torch.tensor([[[0.7, 2.5]]])
    gt = torch.tensor([[[1.0, 0.5]]])
    ours = laplace_kl(mu, s, gt, b=1.3)
    # torch has no analytic Laplace-Laplace KL; integrate numerically
    x = torch.linspace(-60, 60, 400001, dtype=torch.float64)
    ref = 0.0
    for i in range(2):
        q, p = Laplace(mu[0, 0, i].double(), s[0, 0, i].double()), Laplace(gt[0, 0, i].double(), torch.tensor(1.3))
        lq = q.log_prob(x)
        ref += torch.trapezoid(lq.exp() * (lq - p.log_prob(x)), x).item()
    assert math.isclose(ours.item(), ref, rel_tol=1e-4)
    assert laplace_kl(gt, torch.ones_like(s), gt).abs().item() < 1e-6


def test_gaussian_kl_matches_torch_distributions():
    mu, var, gt = torch.tensor([[[3.0, -1.0]]]), torch.tensor([[[0.5, 4.0]]]), torch.tensor([[[1.0, 0.5]]])
    ours = gaussian_kl(mu, var, gt, b=2.0)
    ref = kl_divergence(Normal(mu, var.sqrt()), Normal(gt, math.sqrt(2.0))).sum()
    assert math.isclose(ours.item(), ref.item(), rel_tol=1e-5)


def test_softargmax_l2():
    assert softargmax_l2(torch.tensor([[[3.0, 4.0]]]), None, torch.zeros(1, 1, 2)).item() == 25.0
