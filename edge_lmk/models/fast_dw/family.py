"""Registers the depthwise fast family's builder and its names: ``LOSS_wN_D_fdw`` (C = 256w channels)."""
from __future__ import annotations

from ..family import CardText, register_family
from ..registry import ModelSpec, register_ladder
from .generator import FastDWGenerator, dw_channels


def card_text(spec: ModelSpec, deployed_params: int) -> CardText:
    c = dw_channels(spec.width)
    return CardText(
        "The latency-first fast generator with depthwise-separable convolutions (40x40 heatmaps)",
        ("channels (C = 256 x width; encoder C, 2C, 2C, 2C down to 5x5)", str(c)),
        f"A layout of this kit (`edge_lmk/models/fast_dw/generator.py`): {deployed_params:,} deployed parameters. "
        "The fast family's layout (stride-2 encoder to 5x5, decoder back to 40x40 heatmaps, soft-argmax at stride 2) "
        "with every 3x3 conv after the first made depthwise-separable. Batch norm folds into the convs at export.")


@register_family("fast_dw", suffix="_fdw", card_text=card_text)
def build(spec: ModelSpec, dropout: float) -> FastDWGenerator:
    return FastDWGenerator(spec.width, spec.contract.num_landmarks, dropout)


register_ladder("fast_dw")
