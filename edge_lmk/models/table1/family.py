"""Registers the Table 1 family's builder and its names: ``LOSS_wN_D_t1`` at every width."""
from __future__ import annotations

from ..family import CardText, register_family
from ..registry import ModelSpec, register_ladder
from .generator import PAPER_PARAMS, Table1Generator, table1_channels


def card_text(spec: ModelSpec, deployed_params: int) -> CardText:
    paper = PAPER_PARAMS.get(spec.width)
    diff = f" ({100 * (deployed_params / paper - 1):+.1f}% vs Table 3's {paper:,})" if paper else ""
    return CardText(
        "The paper's Table 1 generator",
        ("channels (C = 64 x width; decoder 5x5 convs at 2C)", str(table1_channels(spec.width))),
        f"The paper's Table 1 generator (`edge_lmk/models/table1/generator.py`): {deployed_params:,} deployed "
        f"parameters{diff}. Batch norm follows every conv but the heatmap layers while training and is folded into "
        "the conv at export, so the deployed graph is Table 1's; `python -m edge_lmk.models.table1` prints every "
        "width next to Table 3.")


@register_family("table1", suffix="_t1", card_text=card_text)
def build(spec: ModelSpec, dropout: float) -> Table1Generator:
    return Table1Generator(spec.width, spec.contract.num_landmarks, dropout)


register_ladder("table1")
