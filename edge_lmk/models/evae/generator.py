"""EVAE-CNN: an extended variational auto-encoder that draws one local response map per landmark,
followed by a CNN regressor guided by those maps (the seeds' "local responses of facial landmarks").

- **EVAE**: a stride-2 conv encoder (80 -> 40 -> 20 -> 10 -> 5 px) ends in a spatial latent code
  (mean and log-variance, Z channels at 5x5); training samples it with the reparameterisation
  z = mu + sigma * eps and adds the latent KL to N(0, I); deployment uses z = mu. A conv decoder
  with no skip connections (everything passes through z) draws K *response maps* at 40x40,
  supervised by their own LaplaceKL term through the same codec.
- **CNN regressor**: a 1x1 conv over [response maps, the encoder's 40x40 features], two dilated
  3x3 convs and a 1x1 conv to K logits; the landmarks are their soft-argmax, i.e. an integral
  regression of the coordinates, which keeps the kit's ``landmarks`` + ``scale`` contract.
- **FCN ablation** (``sampling=False``): the paper's ablation removes the sampling, which makes the
  EVAE a plain FCN (no log-variance, no KL term). Same layers otherwise.
"""
from __future__ import annotations

from fractions import Fraction

import torch
import torch.nn as nn

from ..family import ExportHints
from ..layers import ConvBNAct, width_channels

HEATMAP_STRIDE = 2
LATENT_CHANNELS = 8  # Z at 5x5: a 200-d code
KL_WEIGHT = 1e-3  # on the summed latent KL (200 terms) vs the LaplaceKL of ~1-30 per face
RESPONSE_WEIGHT = 0.5  # the response maps' own LaplaceKL term


class EVAEGenerator(nn.Module):
    """(B,3,80,80) RGB in [0,1] -> (B,K,40,40) heatmap logits (``heatmap_stride`` 2)."""

    heatmap_stride = HEATMAP_STRIDE

    def __init__(self, width: Fraction | float = Fraction(1, 8), num_landmarks: int = 68, dropout: float = 0.2,
                 sampling: bool = True):
        super().__init__()
        c, k, z = width_channels(width), num_landmarks, LATENT_CHANNELS
        self.channels, self.sampling = c, sampling
        self.enc1 = ConvBNAct(3, c, stride=2)                          # 40 px
        self.encoder = nn.Sequential(ConvBNAct(c, c, stride=2),        # 20 px
                                     ConvBNAct(c, 2 * c, stride=2),    # 10 px
                                     ConvBNAct(2 * c, 2 * c, stride=2, dropout=dropout))  # 5 px
        self.mu = nn.Conv2d(2 * c, z, 1)
        self.logvar = nn.Conv2d(2 * c, z, 1) if sampling else None
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec_in = nn.Conv2d(z, 2 * c, 1)
        self.dec3 = ConvBNAct(2 * c, c, dropout=dropout)  # 10 px
        self.dec2 = ConvBNAct(c, c)                       # 20 px
        self.dec1 = ConvBNAct(c, c)                       # 40 px
        self.responses = nn.Conv2d(c, k, 1)
        self.regressor = nn.Sequential(ConvBNAct(k + c, c, kernel=1), ConvBNAct(c, c, dilation=2),
                                       ConvBNAct(c, c, dilation=4))
        self.to_heatmaps = nn.Conv2d(c, k, 1)
        self._cache: dict | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.enc1(x)
        h = self.encoder(f1)
        mu = self.mu(h)
        z = mu
        logvar = None
        if self.sampling and self.training:
            logvar = self.logvar(h).clamp(-10.0, 10.0)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        d = self.dec3(self.up(self.dec_in(z)))
        d = self.dec1(self.up(self.dec2(self.up(d))))
        responses = self.responses(d)
        out = self.to_heatmaps(self.regressor(torch.cat([responses, f1], 1)))
        if self.training:  # kept for ``auxiliary_loss``, which consumes it; an exported (eval) graph never sets it
            self._cache = {"responses": responses, "mu": mu, "logvar": logvar}
        return out

    def auxiliary_loss(self, head, target: torch.Tensor, loss_fn, target_scale: float) -> torch.Tensor:
        """(B,) response-map LaplaceKL (+ latent KL with sampling) of the last training forward."""
        if self._cache is None:
            raise RuntimeError("auxiliary_loss needs a training-mode forward first")
        cache, self._cache = self._cache, None  # used once: no autograd graph outlives its step
        mean, spread, _ = head(cache["responses"])
        loss = RESPONSE_WEIGHT * loss_fn(mean, spread, target, target_scale, per_face=True)
        mu, logvar = cache["mu"], cache["logvar"]
        if logvar is not None:
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)
            loss = loss + KL_WEIGHT * kl
        return loss

    def export_hints(self) -> ExportHints:
        # the shared upsample sees the 2C output of dec_in and the C outputs of dec3 and dec2
        return ExportHints(logit_layers=("to_heatmaps",), nearest_upsample=("up", (2 * self.channels, self.channels)))
