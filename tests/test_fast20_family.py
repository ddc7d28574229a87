"""The 20x20-heatmap fast family (``edge_lmk/models/fast20/``, names ``LOSS_wN_D_f20``): the fast layout
without its 40 px decoder stage, decoded at stride 4, exported to .pte, .tflite and .onnx with parity
on the bundled real faces (Core ML rows: every shipped model in tests/test_coreml.py)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from edge_lmk.data import scan_folder
from edge_lmk.evaluation import prepare_crops
from edge_lmk.models import REGISTRY, count_params, export_hints, fold_batchnorm
from edge_lmk.paths import SAMPLE_TEST

MODEL = "laplacekl_w1_16_f20"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def test_family_decodes_20x20_heatmaps_in_crop_pixels(seeded_model):
    model = seeded_model(MODEL)
    assert count_params(model) < count_params(REGISTRY["laplacekl_w1_16_fast"].build())  # dec1 is gone
    x = torch.rand(2, 3, 80, 80)
    with torch.no_grad():
        assert model.generator(x).shape == (2, 68, 20, 20)
        plain, scale = model(x)
        folded, _ = fold_batchnorm(model)(x)
    assert model.head.stride == 4 and plain.shape == (2, 68, 2) and scale.shape == (2, 68)
    assert ((plain > 0) & (plain < 80)).all()  # crop pixels, not heatmap pixels
    np.testing.assert_allclose(folded.numpy(), plain.numpy(), atol=1e-3)
    hints = export_hints(model)
    assert hints.logit_layers == ("to_heatmaps",) and hints.nearest_upsample == ("up", (16,))


def test_exports_with_parity(tmp_path, seeded_model):
    from export import all as export_all
    from export.parity import reference
    from export.targets import TARGETS

    spec = REGISTRY[MODEL]
    model = seeded_model(MODEL)
    crops = prepare_crops(scan_folder(SAMPLE_TEST), spec.contract)
    ref = reference(model, spec, crops)
    targets = [t for t in TARGETS if t.format in ("executorch", "tflite", "onnx") and t.precision in ("fp32", "int8")]
    rows = [export_all.run_target(model, spec, t, tmp_path, crops, ref, None) for t in targets]
    assert len(rows) == 5
    for r in rows:
        assert r["status"] == "ok", (r["format"], r["precision"], r["error"])
        if r["precision"] == "fp32":  # the float rows agree with PyTorch to the numerics of float32
            assert abs(r["parity"]["delta_nme"]) < 0.01 and r["parity"]["max_px"] < 0.05, r


def test_a_chosen_channel_layout_trains_from_its_untrained_checkpoint(tmp_path):
    """``laplacekl_w1_8_f20_c26`` (26 channels in the 5x5 blocks) is trained by ``--init-from`` an untrained
    checkpoint of its spec: training keeps its name and channels instead of building the plain 1/8 ladder model."""
    from dataclasses import replace

    from edge_lmk.models import save_checkpoint
    from edge_lmk.training.config import TrainConfig
    from edge_lmk.training.loop import make_spec

    spec = replace(REGISTRY["laplacekl_w1_8_f20_c26"], beta=10.0)
    assert spec.arch["block_channels"]["mid"] == 26 and not spec.pruned
    torch.manual_seed(0)
    model = spec.build()
    assert count_params(fold_batchnorm(copy.deepcopy(model))) == 65_404  # folding works in place
    save_checkpoint(tmp_path / "init.pt", model, spec)
    trained = make_spec(TrainConfig.from_argv(["--family", "fast20", "--width", "1/8", "--beta", "10",
                                               "--init-from", str(tmp_path / "init.pt")]))
    assert trained.name == "laplacekl_w1_8_f20_c26" and trained.arch == spec.arch and trained.beta == 10.0
    assert trained.build().generator.mid[0].out_channels == 26
