"""The optional per-pixel MLP branch of the heatmap head (train --head-hidden)."""
from __future__ import annotations

import pytest
import torch

from edge_lmk.compress.prune import PruneConfig, prune_
from edge_lmk.models import REGISTRY, load_checkpoint, save_checkpoint
from edge_lmk.models import count_params


def test_head_branch_adds_exact_params_and_starts_at_zero():
    base = REGISTRY["laplacekl_w1_16"]
    h16 = REGISTRY["laplacekl_w1_16_h16"]
    assert h16.arch == {"head_hidden": 16} and h16.width == base.width and not base.arch
    # 4 -> 16 -> 68 per-pixel MLP: (4*16 + 16) + (16*68 + 68)
    assert count_params(h16.build()) == count_params(base.build()) + 80 + 1156 == 9220
    torch.manual_seed(0)
    linear = base.build().eval()
    branched = h16.build().eval()
    missing, unexpected = branched.load_state_dict(linear.state_dict(), strict=False)
    assert unexpected == [] and sorted(missing) == sorted(f"generator.head_mlp.{i}.{p}" for i in (0, 2)
                                                          for p in ("weight", "bias"))
    x = torch.rand(2, 3, 80, 80)
    with torch.no_grad():
        for a, b in zip(linear(x), branched(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)  # zero-initialised branch: identical outputs


def test_head_variant_checkpoint_round_trip(tmp_path):
    spec = REGISTRY["laplacekl_w1_8_h16"]
    model = spec.build().eval()
    with torch.no_grad():
        model.generator.head_mlp[2].weight.normal_()
    path = tmp_path / "h.pt"
    save_checkpoint(path, model, spec)
    loaded, loaded_spec, payload = load_checkpoint(path)
    assert payload["config"]["head_hidden"] == 16 and loaded_spec.arch == {"head_hidden": 16}
    x = torch.rand(1, 3, 80, 80)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], model(x)[0])


def test_pruning_a_head_variant_is_refused():
    with pytest.raises(ValueError, match="head MLP branch"):
        prune_(REGISTRY["laplacekl_w1_8_h16"].build(), PruneConfig(amount=0.5, criterion="l1"))
