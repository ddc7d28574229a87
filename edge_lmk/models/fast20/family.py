"""Registers the 20x20-heatmap fast family's builder and its names: ``LOSS_wN_D_f20`` (C = 128w channels)."""
from __future__ import annotations

from fractions import Fraction

from ..family import CardText, register_family
from ..fast.generator import default_block_channels, fast_channels
from ..registry import ModelSpec, register_ladder, register_model
from .generator import Fast20Generator


def card_text(spec: ModelSpec, deployed_params: int) -> CardText:
    chosen = spec.arch.get("block_channels")
    channels = (("channels per block (enc1 ... dec2)", ", ".join(f"{b} {n}" for b, n in chosen.items() if b != "dec1"))
                if chosen else
                ("channels (C = 128 x width; encoder C, 2C, 2C, 2C down to 5x5, decoder 2C, 2C)",
                 str(fast_channels(spec.width))))
    return CardText(
        "The latency-first fast generator ending at 20x20 heatmaps",
        channels,
        f"A layout of this kit (`edge_lmk/models/fast20/generator.py`): {deployed_params:,} deployed parameters. "
        "The fast family's layout without its 40 px decoder stage: the logits come from the 20 px stage and the "
        "soft-argmax decodes them at stride 4 (68 softmaxes over 400 bins). Batch norm folds into the convs at export.")


@register_family("fast20", suffix="_f20", card_text=card_text)
def build(spec: ModelSpec, dropout: float) -> Fast20Generator:
    return Fast20Generator(spec.width, spec.contract.num_landmarks, dropout,
                           block_channels=spec.arch.get("block_channels"))


register_ladder("fast20")

# Layouts with chosen channels, trained from their own initial weights (``--init-from`` an untrained
# checkpoint of the spec carries the channels into training). ``_c26``: the 1/8 layout with 26 instead of
# 32 channels in the two 5x5 blocks (enc4, mid), 65.7K parameters: sized for the speed issue's 1/8 class
# (<= 80 KB of int8 .tflite), where the plain 1/8 (72K) is ~85 KB.
SLIM = {"laplacekl_w1_8_f20_c26": (Fraction(1, 8), {"enc4": 26, "mid": 26})}
for _name, (_width, _changes) in SLIM.items():
    register_model(ModelSpec(_name, _width, "laplacekl", family="fast20",
                             arch={"block_channels": {**default_block_channels(fast_channels(_width)), **_changes}}))
