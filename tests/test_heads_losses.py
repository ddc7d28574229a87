import math

import torch
from torch.distributions import Laplace, Normal, kl_divergence

from edge_lmk.codecs import soft_argmax, spatial_softmax
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


def test_codec_decode_inverts_encode():
    """The codec's two directions agree: decoding the log of the Laplace(landmark, b=1) densities it
    encodes gives the landmarks back. Sampling a b=1 Laplace at unit-spaced pixel centres moves its
    mean by under 0.016 px (worst case: a landmark halfway between centres; 10 px from the border the
    truncated tail is e^-10) and its mean absolute deviation by under 15% (0.85-1.08 px measured)."""
    import torch

    from edge_lmk.codecs import DeployedHead, SoftArgmaxCodec

    torch.manual_seed(0)
    target = torch.rand(4, 68, 2, dtype=torch.float64) * 60 + 10
    codec = SoftArgmaxCodec(beta=1.0, kind="laplace")
    dens = codec.encode(target, 80, b=1.0)
    assert dens.shape == (4, 68, 80, 80)
    torch.testing.assert_close(dens.sum((-2, -1)), torch.ones(4, 68, dtype=torch.float64))
    mean, spread, _ = codec(dens.log())
    assert (mean - target).abs().max() < 0.02
    assert ((spread - 1.0).abs() < 0.15).all()
    landmarks, scale = DeployedHead(codec)(dens.log())  # the deployed outputs: the same decode
    torch.testing.assert_close(landmarks, mean)
    torch.testing.assert_close(scale, spread.mean(-1))
