"""Registers the fast family's builder and its names: ``LOSS_wN_D_fast`` (C = 128w channels)."""
from __future__ import annotations

from ..family import CardText, register_family
from ..registry import ModelSpec, register_ladder
from .generator import FastGenerator, fast_channels


def card_text(spec: ModelSpec, deployed_params: int) -> CardText:
    c = fast_channels(spec.width)
    return CardText(
        "The latency-first fast generator (40x40 heatmaps)",
        ("channels (C = 128 x width; encoder C, 2C, 2C, 2C down to 5x5)", str(c)),
        f"A layout of this kit, not the paper's (`edge_lmk/models/fast/generator.py`): {deployed_params:,} deployed "
        "parameters. It never works at 80x80: stride-2 convs take the crop to 5x5, the decoder comes back to 40x40 "
        "heatmaps, and the soft-argmax decodes them at stride 2 into crop pixels (68 softmaxes over 1,600 bins "
        "instead of 6,400). Batch norm folds into the convs at export.")


@register_family("fast", suffix="_fast", card_text=card_text)
def build(spec: ModelSpec, dropout: float) -> FastGenerator:
    return FastGenerator(spec.width, spec.contract.num_landmarks, dropout)


register_ladder("fast")
