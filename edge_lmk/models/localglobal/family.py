"""Registers the local-global context FCN (``_lg``) and its kernel-convolution ablation (``_lgnk``); the
shape-model variants (``_lg_pca``) are registered for every family in ``models/__init__``."""
from __future__ import annotations

from ..family import CardText, register_family
from ..layers import width_channels
from ..registry import ModelSpec, register_ladder
from .generator import LocalGlobalGenerator


def _card(kernel_conv: bool):
    def card_text(spec: ModelSpec, deployed_params: int) -> CardText:
        what = "with" if kernel_conv else "without (ablation)"
        return CardText(
            f"Merget et al.'s local-global context FCN, {what} the kernel convolution"
            + (", followed by the PCA shape model" if "shape" in spec.stages else ""),
            ("channels (C = 128 x width; local and global subnets at 40x40)", str(width_channels(spec.width))),
            f"A port of the local-global context FCN (`edge_lmk/models/localglobal/generator.py`): {deployed_params:,} "
            "deployed parameters; local 3x3 convs -> K local heatmaps -> fixed Gaussian kernel convolution -> dilated "
            "global-context convs (dilation 2, 4, 8) -> K heatmaps at 40x40, decoded by the soft-argmax at stride 2."
            + (" The PCA shape model (12 modes, fitted on the training shapes) runs inside the graph after the head."
               if "shape" in spec.stages else ""))
    return card_text


@register_family("localglobal", suffix="_lg", card_text=_card(True))
def build(spec: ModelSpec, dropout: float) -> LocalGlobalGenerator:
    return LocalGlobalGenerator(spec.width, spec.contract.num_landmarks, dropout, kernel_conv=True)


@register_family("localglobal_nokc", suffix="_lgnk", card_text=_card(False))
def build_nokc(spec: ModelSpec, dropout: float) -> LocalGlobalGenerator:
    return LocalGlobalGenerator(spec.width, spec.contract.num_landmarks, dropout, kernel_conv=False)


register_ladder("localglobal")
register_ladder("localglobal_nokc")
