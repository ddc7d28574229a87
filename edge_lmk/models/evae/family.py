"""Registers EVAE-CNN (``_evae``) and its FCN ablation without the sampling (``_evfcn``)."""
from __future__ import annotations

from ..family import CardText, register_family
from ..layers import width_channels
from ..registry import ModelSpec, register_ladder
from .generator import LATENT_CHANNELS, EVAEGenerator


def _card(sampling: bool):
    def card_text(spec: ModelSpec, deployed_params: int) -> CardText:
        return CardText(
            "EVAE-CNN (variational response maps + CNN regressor)" if sampling else
            "EVAE-CNN's FCN ablation (no latent sampling)",
            ("channels (C = 128 x width; latent 5x5x%d)" % LATENT_CHANNELS, str(width_channels(spec.width))),
            f"A port of EVAE-CNN (`edge_lmk/models/evae/generator.py`): {deployed_params:,} deployed parameters; conv "
            "encoder to a 5x5 latent code" + (" (reparameterised sampling and latent KL while training, the mean at "
                                              "deployment)" if sampling else " (no sampling: the FCN ablation)")
            + ", a skip-free decoder drawing 68 response maps at 40x40 (their own LaplaceKL term), and a CNN regressor "
            "over [response maps, encoder features] whose 68 heatmaps the soft-argmax turns into coordinates.")
    return card_text


@register_family("evae", suffix="_evae", card_text=_card(True))
def build(spec: ModelSpec, dropout: float) -> EVAEGenerator:
    return EVAEGenerator(spec.width, spec.contract.num_landmarks, dropout, sampling=True)


@register_family("evae_fcn", suffix="_evfcn", card_text=_card(False))
def build_fcn(spec: ModelSpec, dropout: float) -> EVAEGenerator:
    return EVAEGenerator(spec.width, spec.contract.num_landmarks, dropout, sampling=False)


register_ladder("evae")
register_ladder("evae_fcn")
