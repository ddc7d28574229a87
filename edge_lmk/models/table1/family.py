"""Registers the Table 1 family's builder and its names: ``LOSS_wN_D_t1`` at every width."""
from __future__ import annotations

from ..family import register_family
from ..registry import LOSS_NAMES, WIDTHS, ModelSpec, model_name, register_model
from .generator import Table1Generator


@register_family("table1", suffix="_t1")
def build(spec: ModelSpec, dropout: float) -> Table1Generator:
    return Table1Generator(spec.width, spec.contract.num_landmarks, dropout)


for _loss in LOSS_NAMES:
    for _w in WIDTHS:
        register_model(ModelSpec(model_name(_loss, _w) + "_t1", _w, _loss, family="table1"))
