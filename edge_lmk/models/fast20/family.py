"""Registers the 20x20-heatmap fast family's builder and its names: ``LOSS_wN_D_f20`` (C = 128w channels)."""
from __future__ import annotations

from ..family import CardText, register_family
from ..fast.generator import fast_channels
from ..registry import ModelSpec, register_ladder
from .generator import Fast20Generator


def card_text(spec: ModelSpec, deployed_params: int) -> CardText:
    return CardText(
        "The latency-first fast generator ending at 20x20 heatmaps",
        ("channels (C = 128 x width; encoder C, 2C, 2C, 2C down to 5x5, decoder 2C, 2C)", str(fast_channels(spec.width))),
        f"A layout of this kit (`edge_lmk/models/fast20/generator.py`): {deployed_params:,} deployed parameters. "
        "The fast family's layout without its 40 px decoder stage: the logits come from the 20 px stage and the "
        "soft-argmax decodes them at stride 4 (68 softmaxes over 400 bins). Batch norm folds into the convs at export.")


@register_family("fast20", suffix="_f20", card_text=card_text)
def build(spec: ModelSpec, dropout: float) -> Fast20Generator:
    return Fast20Generator(spec.width, spec.contract.num_landmarks, dropout)


register_ladder("fast20")
