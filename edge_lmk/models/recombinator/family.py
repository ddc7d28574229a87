"""Registers the recombinator family's builder and its names: the width ladder ``LOSS_wN_D`` (and
``LOSS_d_wN_D`` trained with the discriminator), structurally pruned ``PARENT_pNN`` and MLP-head
``_h16`` variants."""
from __future__ import annotations

from ..family import register_family
from ..registry import ADVERSARIAL_LOSSES, LOSS_NAMES, REGISTRY, WIDTHS, ModelSpec, model_name, register_model
from .generator import (BlockChannels, RecombinatorGenerator, block_channels_dict, branch_channels,
                        normalize_block_channels, width_block_channels)


def block_channels(spec: ModelSpec) -> BlockChannels:
    """The effective per-block (mid, out) channels: explicit ones (pruned models) or the width's."""
    blocks = spec.arch.get("block_channels")
    return blocks if blocks is not None else width_block_channels(spec.width)


def head_hidden(spec: ModelSpec) -> int:
    """Hidden channels of the per-pixel MLP branch of the heatmap head; 0 = the paper's linear 1x1 head."""
    return int(spec.arch.get("head_hidden", 0))


def normalize_arch(spec: ModelSpec) -> dict:
    """``block_channels`` in canonical form, dropped when it is the width's (and the model is not pruned);
    ``head_hidden`` dropped when 0: the plain ladder's arch is empty."""
    arch = {}
    blocks = spec.arch.get("block_channels")
    if blocks is not None:
        blocks = normalize_block_channels(blocks)
        if blocks != width_block_channels(spec.width) or spec.parent is not None:
            arch["block_channels"] = blocks
    if int(spec.arch.get("head_hidden", 0)):
        arch["head_hidden"] = int(spec.arch["head_hidden"])
    return arch


def arch_config(spec: ModelSpec) -> dict:
    """The checkpoint entries this family has always written: ``channels`` (per branch) for width-ladder models,
    null for pruned ones, whose architecture is in ``block_channels``; ``head_hidden``."""
    explicit = "block_channels" in spec.arch
    return {"channels": None if explicit else list(branch_channels(spec.width)),
            "block_channels": block_channels_dict(block_channels(spec)), "head_hidden": head_hidden(spec)}


def arch_from_config(cfg: dict) -> dict:
    return {"block_channels": cfg.get("block_channels"), "head_hidden": int(cfg.get("head_hidden") or 0)}


@register_family("recombinator", summary="LaplaceKL recombinator generator (4 branches, 80/40/20/10 px)",
                 normalize_arch=normalize_arch, arch_config=arch_config, arch_from_config=arch_from_config)
def build(spec: ModelSpec, dropout: float) -> RecombinatorGenerator:
    return RecombinatorGenerator(spec.width, spec.contract.num_landmarks, dropout,
                                 spec.arch.get("block_channels"), head_hidden(spec))


for _loss in LOSS_NAMES:
    for _w in WIDTHS:
        register_model(ModelSpec(model_name(_loss, _w), _w, _loss))
for _loss in ADVERSARIAL_LOSSES:
    for _w in WIDTHS:
        register_model(ModelSpec(model_name(_loss, _w, True), _w, _loss, adversarial=True))

# Pruned variants: name -> (parent, per-block (mid, out) channels of the shipped weights). The pruning
# config, fine-tune command and numbers are in the model card (``NAME.json``) and the checkpoint.
PRUNED: dict[str, tuple[str, dict[str, tuple[int, int]]]] = {
    "laplacekl_w1_4_p52": ("laplacekl_w1_4", {"enc0": (11, 11), "enc1": (22, 22), "enc2": (22, 22), "enc3": (22, 22),
                                              "dec2": (22, 22), "dec1": (22, 22), "dec0": (11, 11)}),
    "laplacekl_w1_8_p43": ("laplacekl_w1_8", {"enc0": (6, 6), "enc1": (12, 12), "enc2": (12, 12), "enc3": (12, 12),
                                              "dec2": (12, 12), "dec1": (12, 12), "dec0": (6, 6)}),
}
for _name, (_parent, _blocks) in PRUNED.items():
    _p = REGISTRY[_parent]
    register_model(ModelSpec(_name, _p.width, _p.loss, parent=_parent, arch={"block_channels": _blocks}))

# Width-ladder models with a per-pixel MLP branch in the heatmap head (``--head-hidden``): name -> (base, hidden).
HEAD_VARIANTS = {"laplacekl_w1_16_h16": ("laplacekl_w1_16", 16), "laplacekl_w1_8_h16": ("laplacekl_w1_8", 16)}
for _name, (_base, _hidden) in HEAD_VARIANTS.items():
    _b = REGISTRY[_base]
    register_model(ModelSpec(_name, _b.width, _b.loss, arch={"head_hidden": _hidden}))
