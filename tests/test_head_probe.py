"""benchmarks.head_probe: the separable marginal head it times decodes what the 2-D codec decodes when
the 2-D logits are separable (a(x) + b(y): the 2-D softmax is then the product of the two 1-D ones)."""
from __future__ import annotations

import pytest
import torch

from benchmarks.head_probe import MarginalHead, heads, table
from edge_lmk.codecs import SoftArgmaxCodec


@pytest.mark.parametrize("size", [80, 40, 20])
def test_marginal_head_equals_the_2d_codec_on_separable_logits(size):
    g = torch.Generator().manual_seed(size)
    a, b = torch.randn(2, 68, size, generator=g) * 3, torch.randn(2, 68, size, generator=g) * 3
    logits2d = b.unsqueeze(-1) + a.unsqueeze(-2)  # (B,K,H=y,W=x)
    lm2d, sc2d = SoftArgmaxCodec(1.0, "laplace", stride=80 // size).deploy(logits2d)
    lm, sc = MarginalHead(size, 80 // size)(torch.cat([a, b], 1))
    # float32 sums over S <= 6,400 bins: agreement to 1e-3 crop px
    torch.testing.assert_close(lm, lm2d, atol=1e-3, rtol=0)
    torch.testing.assert_close(sc, sc2d, atol=1e-3, rtol=0)


def test_probe_heads_and_table():
    built = heads(40)
    assert set(built) == {"2d", "marginal"}
    assert built["2d"][2].shape == (1, 68, 40, 40) and built["marginal"][2].shape == (1, 136, 40)
    rows = [{"kind": "2d", "size": 40, "format": "pte", "bins": 108800, "max_px": 1e-5, "ms": 0.2},
            {"kind": "marginal", "size": 40, "format": "pte", "bins": 5440, "max_px": 1e-5, "ms": 0.05}]
    assert "| marginal | 40 | 5,440 | pte | 0.0500 | 0.25x | 1.0e-05 |" in table(rows)
