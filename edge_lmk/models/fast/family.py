"""Registers the fast family's builder and its names: ``LOSS_wN_D_fast`` (C = 128w channels)."""
from __future__ import annotations

from ..family import CardText, register_family
from ..registry import REGISTRY, ModelSpec, register_ladder, register_model
from .generator import FastGenerator, fast_channels


def card_text(spec: ModelSpec, deployed_params: int) -> CardText:
    c = fast_channels(spec.width)
    pruned = spec.arch.get("block_channels")
    channels = (("channels per block after channel pruning (enc1 ... dec1)",
                 ", ".join(f"{b} {n}" for b, n in pruned.items())) if pruned else
                ("channels (C = 128 x width; encoder C, 2C, 2C, 2C down to 5x5)", str(c)))
    return CardText(
        "The latency-first fast generator (40x40 heatmaps)",
        channels,
        f"A layout of this kit, not the paper's (`edge_lmk/models/fast/generator.py`): {deployed_params:,} deployed "
        "parameters. It never works at 80x80: stride-2 convs take the crop to 5x5, the decoder comes back to 40x40 "
        "heatmaps, and the soft-argmax decodes them at stride 2 into crop pixels (68 softmaxes over 1,600 bins "
        "instead of 6,400). Batch norm folds into the convs at export.")


@register_family("fast", suffix="_fast", card_text=card_text)
def build(spec: ModelSpec, dropout: float) -> FastGenerator:
    # a channel-pruned model (``edge_lmk.compress.prune_fast``) carries its per-block channels in ``arch``
    return FastGenerator(spec.width, spec.contract.num_landmarks, dropout,
                         block_channels=spec.arch.get("block_channels"))


register_ladder("fast")

# Channel-pruned variants (``edge_lmk.compress.prune_fast``): name -> (parent, output channels per block of the
# shipped weights). The pruning config, fine-tune command and numbers are in the model card and the checkpoint.
PRUNED: dict[str, tuple[str, dict[str, int]]] = {
    "laplacekl_w1_8_fast_p32": ("laplacekl_w1_8_fast", {"enc1": 16, "enc2": 32, "enc3": 22, "enc4": 22, "mid": 22,
                                                        "dec3": 22, "dec2": 32, "dec1": 16}),
    "laplacekl_w1_8_fast_p27": ("laplacekl_w1_8_fast", {"enc1": 16, "enc2": 32, "enc3": 24, "enc4": 24, "mid": 24,
                                                        "dec3": 24, "dec2": 32, "dec1": 16}),
}
for _name, (_parent, _channels) in PRUNED.items():
    _p = REGISTRY[_parent]
    register_model(ModelSpec(_name, _p.width, _p.loss, parent=_parent, family="fast",
                             arch={"block_channels": _channels}))
