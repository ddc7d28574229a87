"""Registers the fast family's builder and its names: ``LOSS_wN_D_fast`` (C = 128w channels)."""
from __future__ import annotations

from ..family import register_family
from ..registry import LOSS_NAMES, WIDTHS, ModelSpec, model_name, register_model
from .generator import FastGenerator


@register_family("fast", suffix="_fast")
def build(spec: ModelSpec, dropout: float) -> FastGenerator:
    return FastGenerator(spec.width, spec.contract.num_landmarks, dropout)


for _loss in LOSS_NAMES:
    for _w in WIDTHS:
        register_model(ModelSpec(model_name(_loss, _w) + "_fast", _w, _loss, family="fast"))
