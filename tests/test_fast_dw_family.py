"""Adding a family touches only its own folder and one registry line (issue 15).

The depthwise fast family (``edge_lmk/models/fast_dw/``, names ``LOSS_wN_D_fdw``) was added with
nothing under ``export/``, ``compress/`` or ``benchmarks/`` changed: it declares its hints, and every
target row of ``export/targets.py`` exports it through the shared stage pipeline and passes the row's
own parity tolerance on the bundled real faces, in each artifact's real runtime (Core ML: the MIL
emulator off macOS)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edge_lmk.data import scan_folder
from edge_lmk.evaluation import prepare_crops
from edge_lmk.models import REGISTRY, count_params, export_hints, fold_batchnorm
from edge_lmk.paths import SAMPLE_TEST

MODEL = "laplacekl_w1_16_fdw"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def test_family_builds_folds_and_declares_its_hints(seeded_model):
    model = seeded_model(MODEL)
    assert 12_000 < count_params(model) < 14_000  # 1/16: C = 16, separable convs
    x = torch.rand(2, 3, 80, 80)
    with torch.no_grad():
        plain, _ = model(x)
        folded, _ = fold_batchnorm(model)(x)
    assert plain.shape == (2, 68, 2)
    np.testing.assert_allclose(folded.numpy(), plain.numpy(), atol=1e-3)  # crop px, BN folded into every conv
    hints = export_hints(model)
    assert hints.logit_layers == ("to_heatmaps",) and hints.nearest_upsample == ("up", (32,))


def test_every_target_row_exports_with_parity(tmp_path, seeded_model):
    from export import all as export_all
    from export.parity import reference
    from export.targets import TARGETS

    spec = REGISTRY[MODEL]
    model = seeded_model(MODEL)
    crops = prepare_crops(scan_folder(SAMPLE_TEST), spec.contract)
    ref = reference(model, spec, crops)
    rows = [export_all.run_target(model, spec, t, tmp_path, crops, ref, None) for t in TARGETS]
    assert {(r["format"], r["precision"]) for r in rows} == {(t.format, t.precision) for t in TARGETS}
    for r in rows:
        assert r["status"] == "ok", (r["format"], r["precision"], r["error"])
        if r["precision"] == "fp32":  # the float rows agree with PyTorch to the numerics of float32
            assert abs(r["parity"]["delta_nme"]) < 0.01 and r["parity"]["max_px"] < 0.05, r
