"""Channel pruning of the fast family (``edge_lmk/compress/prune_fast.py``): the surgery is exact, the
plan fits its budget, and the CLI writes a checkpoint the registry rebuilds from its own config."""
from __future__ import annotations

import copy

import pytest
import torch

from edge_lmk.compress.prune_fast import params_for, plan_channels, prune_fast_, select_channels
from edge_lmk.models import REGISTRY, count_params, load_checkpoint
from edge_lmk.models.fast.generator import BLOCKS

PARENT = "laplacekl_w1_16_fast"  # shipped, trained: real channel statistics
COARSE = {"enc3": 12, "enc4": 12, "mid": 12, "dec3": 12}


@pytest.fixture(scope="module")
def model():
    return REGISTRY[PARENT].load().eval()


def _masked(model, keep):
    """The original model with every channel not in ``keep`` zeroed at its block's output."""
    handles = []
    for b, idx in keep.items():
        mod = getattr(model.generator, b)
        mask = torch.zeros(mod[0].out_channels)
        mask[idx] = 1
        handles.append(mod.register_forward_hook(lambda m, i, o, mask=mask: o * mask.view(1, -1, 1, 1)))
    return handles


def test_keeping_every_channel_is_the_identity(model):
    x = torch.rand(2, 3, 80, 80)
    pruned = prune_fast_(copy.deepcopy(model), {})
    with torch.no_grad():
        torch.testing.assert_close(pruned(x)[0], model(x)[0], atol=0, rtol=0)


def test_pruned_model_equals_the_masked_original(model):
    x = torch.rand(4, 3, 80, 80)
    keep = select_channels(model.generator, COARSE)
    pruned = prune_fast_(copy.deepcopy(model), COARSE, compensate=False)
    handles = _masked(model, keep)
    try:
        with torch.no_grad():
            want, got = model(x), pruned(x)
    finally:
        for h in handles:
            h.remove()
    # float32 sums over the same terms in another order; landmarks in crop pixels
    torch.testing.assert_close(got[0], want[0], atol=1e-3, rtol=0)
    assert pruned.generator.block_channels == {**model.generator.block_channels, **COARSE}
    assert count_params(pruned) == params_for(pruned.generator.block_channels)


def test_plan_fits_the_budget(model):
    before = count_params(model)
    plan = plan_channels(model.generator, int(0.7 * before))
    assert params_for(plan) <= 0.7 * before
    assert set(plan) == set(BLOCKS) and all(plan[b] <= model.generator.block_channels[b] for b in BLOCKS)
    with pytest.raises(ValueError, match="below the smallest"):
        plan_channels(model.generator, 100)


def test_bad_channels_are_refused(model):
    with pytest.raises(ValueError, match="enc9"):
        select_channels(model.generator, {"enc9": 4})
    with pytest.raises(ValueError, match="mid"):
        select_channels(model.generator, {"mid": 999})


def test_cli_writes_a_checkpoint_the_registry_rebuilds(tmp_path):
    from edge_lmk.compress.prune import main

    out = tmp_path / "p.pt"
    main(["--model", PARENT, "--channels", '{"mid": 8, "dec3": 8}', "--out", str(out)])
    model, spec, _ = load_checkpoint(out)
    assert spec.family == "fast" and spec.parent == PARENT and spec.pruned
    assert spec.arch["block_channels"]["mid"] == 8 and model.generator.block_channels["dec3"] == 8
    assert spec.pruning["params"] == count_params(model) < spec.pruning["parent_params"]
    with pytest.raises(SystemExit, match="mid"):
        main(["--model", PARENT, "--channels", '{"mid": 999}', "--out", str(tmp_path / "q.pt")])
    assert not (tmp_path / "q.pt").exists()
