"""Registers the mixed fast family's builder and its names: ``LOSS_wN_D_fmx`` (C = 128w channels)."""
from __future__ import annotations

from ..family import CardText, register_family
from ..fast.generator import fast_channels
from ..registry import ModelSpec, register_ladder
from .generator import FastMixGenerator


def card_text(spec: ModelSpec, deployed_params: int) -> CardText:
    c = fast_channels(spec.width)
    return CardText(
        "The latency-first fast generator (40x40 heatmaps), depthwise-separable where the maps are 5x5",
        ("channels (C = 128 x width; encoder C, 2C, 2C, 2C down to 5x5)", str(c)),
        f"A layout of this kit (`edge_lmk/models/fast_mix/generator.py`): {deployed_params:,} deployed parameters. "
        "The fast family's layout (stride-2 encoder to 5x5, decoder back to 40x40 heatmaps, soft-argmax at stride 2) "
        "with the three blocks on 5x5 inputs made depthwise-separable: they held half the fast model's bytes for "
        "a few percent of its time. Batch norm folds into the convs at export.")


@register_family("fast_mix", suffix="_fmx", card_text=card_text)
def build(spec: ModelSpec, dropout: float) -> FastMixGenerator:
    return FastMixGenerator(spec.width, spec.contract.num_landmarks, dropout)


register_ladder("fast_mix")
