import json
import subprocess
import sys
from fractions import Fraction

import pytest
import torch

from edge_lmk.models import REGISTRY, LandmarkNet, ModelLoadError, count_params, fold_batchnorm, load_checkpoint
from edge_lmk.models.recombinator.family import block_channels, head_hidden
from edge_lmk.models.registry import save_checkpoint

# Table 3 of the paper for comparison; ours differ at small widths (see model cards).
EXPECTED_PARAMS = {Fraction(1, 16): 7984, Fraction(1, 8): 30588, Fraction(1, 4): 119860,
                   Fraction(1, 2): 474660, Fraction(1): 1889284}
PAPER_PARAMS = {Fraction(1, 2): 478100, Fraction(1): 1872400}


@pytest.mark.parametrize("width", sorted(EXPECTED_PARAMS))
def test_param_counts(width):
    n = count_params(LandmarkNet(width))
    assert n == EXPECTED_PARAMS[width]
    if width in PAPER_PARAMS:
        assert abs(n / PAPER_PARAMS[width] - 1) < 0.01


def test_output_shapes_and_ranges():
    m = LandmarkNet(Fraction(1, 16)).eval()
    lm, sc = m(torch.rand(2, 3, 80, 80))
    assert lm.shape == (2, 68, 2) and sc.shape == (2, 68)
    assert (lm >= 0).all() and (lm <= 80).all() and (sc > 0).all()


def test_fold_batchnorm_keeps_outputs():
    m = LandmarkNet(Fraction(1, 8)).eval()
    with torch.no_grad():
        for mod in m.modules():  # non-trivial BN statistics
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
        x = torch.rand(3, 3, 80, 80)
        ref = m(x)
        import copy

        folded = fold_batchnorm(copy.deepcopy(m))
        out = folded(x)
    assert not any(isinstance(mod, torch.nn.BatchNorm2d) for mod in folded.modules())
    assert (out[0] - ref[0]).abs().max() < 1e-3


def test_shipped_models_load_and_have_cards():
    shipped = [s for s in REGISTRY.values() if s.shipped]
    assert {"laplacekl_w1_16", "laplacekl_w1_8"} <= {s.name for s in shipped}
    for s in shipped:
        m = s.load()
        card = s.card()
        # width-ladder models have the width's count; pruned ones the registry's explicit channels (fewer)
        # head variants add the per-pixel MLP branch: (c0*h + h) + (h*68 + 68)
        # other families' counts are their own (Table 1: tests/test_table1.py); the card must state the network's
        if s.pruned or s.family != "recombinator":
            expected = card["params"]
        else:
            c0, h = block_channels(s)[-1][1], head_hidden(s)
            expected = EXPECTED_PARAMS[s.width] + ((c0 * h + h + h * 68 + 68) if h else 0)
        assert count_params(m) == expected == count_params(s.build())
        if s.pruned:  # fewer parameters than the model it was pruned from
            assert count_params(m) < count_params(REGISTRY[s.parent].build()) and card["pruning"]["parent"] == s.parent
        assert card["name"] == s.name and card["contract"]["input_size"] == 80


def test_models_cli_json():
    out = subprocess.run([sys.executable, "-m", "edge_lmk.models", "--json"], capture_output=True, text=True,
                         check=True).stdout
    rows = json.loads(out)
    names = {r["name"] for r in rows}
    assert "laplacekl_w1_16" in names
    r = next(r for r in rows if r["name"] == "laplacekl_w1_16")
    assert r["width"] == "1/16" and r["loss"] == "laplacekl" and r["params"] == 7984
    assert r["bytes"] > 10_000 and r["weights"].endswith("laplacekl_w1_16.pt")
    assert r["contract"]["crop_scale"] == 1.3 and r["contract"]["input_size"] == 80


def test_checkpoint_errors(tmp_path):
    spec = REGISTRY["laplacekl_w1_16"]
    p = tmp_path / "m.pt"
    save_checkpoint(p, spec.build(), spec)
    assert load_checkpoint(p)[1].name == "laplacekl_w1_16"
    data = p.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match=r"trunc\.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "trunc.pt")
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(ModelLoadError, match=r"other\.pt: not an edge-lmk checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(ModelLoadError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
