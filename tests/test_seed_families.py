"""The seeds' other systems (issue 18): the local-global context FCN and EVAE-CNN families, and the two
post-head stages any family's model may carry (PCA shape model, cascade refinement)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edge_lmk.losses import laplace_kl
from edge_lmk.models import FAMILIES, REGISTRY, count_params, export_hints, fold_batchnorm
from edge_lmk.models.registry import load_checkpoint, save_checkpoint, spec_from_config
from edge_lmk.models.stages.cascade import CascadeRefiner, ohem_loss
from edge_lmk.models.stages.shape_model import ShapeModel, fit

pytestmark = pytest.mark.usefixtures("one_thread")

NEW = {"localglobal": "_lg", "localglobal_nokc": "_lgnk", "evae": "_evae", "evae_fcn": "_evfcn"}


@pytest.mark.parametrize("family", sorted(NEW))
def test_family_builds_at_the_small_size_from_its_own_folder(family):
    """<= about 40K deployed parameters at 1/8, 40x40 heatmaps decoded into crop pixels, hints that name
    real layers."""
    fam = FAMILIES[family]
    assert fam.suffix == NEW[family]
    model = REGISTRY[f"laplacekl_w1_8{fam.suffix}"].build().eval()
    assert count_params(fold_batchnorm(model)) <= 40_000
    x = torch.rand(2, 3, 80, 80)
    assert model.generator(x).shape == (2, 68, 40, 40) and model.head.stride == 2
    with torch.no_grad():
        lm, sc = model(x)
    assert lm.shape == (2, 68, 2) and sc.shape == (2, 68) and ((lm > 0) & (lm < 80)).all()
    for conv in export_hints(model).logit_modules(model.generator):
        assert isinstance(conv, torch.nn.Conv2d) and conv.out_channels == 68


def test_kernel_convolution_is_a_fixed_normalised_gaussian_and_its_ablation_removes_it():
    lg = REGISTRY["laplacekl_w1_8_lg"].build()
    k = lg.generator.kernel_conv.kernel
    assert k.shape == (68, 1, 7, 7) and not any(p is k for p in lg.parameters())
    torch.testing.assert_close(k.sum((1, 2, 3)), torch.ones(68))
    assert torch.equal(k[0, 0], k[0, 0].T) and k[0, 0, 3, 3] == k.max()
    nokc = REGISTRY["laplacekl_w1_8_lgnk"].build()
    assert isinstance(nokc.generator.kernel_conv, torch.nn.Identity)
    assert count_params(lg) == count_params(nokc)  # the blur has no parameters: the ablation changes nothing else


def test_evae_samples_only_while_training_and_its_fcn_ablation_never_does():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 80, 80)
    t = torch.rand(4, 68, 2) * 60 + 10
    evae = REGISTRY["laplacekl_w1_8_evae"].build()
    evae.eval()
    with torch.no_grad():
        assert torch.equal(evae(x)[0], evae(x)[0])  # deployment uses the latent mean
    evae.train()
    torch.manual_seed(1)
    a = evae.generator(x)
    torch.manual_seed(2)
    b = evae.generator(x)
    assert not torch.allclose(a, b)  # reparameterised sampling
    aux = evae.auxiliary_loss(t, laplace_kl, 1.0)
    assert aux.shape == (4,) and torch.isfinite(aux).all() and (aux > 0).all()
    fcn = REGISTRY["laplacekl_w1_8_evfcn"].build()
    assert fcn.generator.logvar is None
    fcn.train()
    fcn.forward_train(x)
    # without the sampling there is no latent KL: only the response maps' own LaplaceKL term
    mean, spread, _ = fcn.head(fcn.generator._cache["responses"].detach())
    torch.testing.assert_close(fcn.auxiliary_loss(t, laplace_kl, 1.0),
                               0.5 * laplace_kl(mean, spread, t, 1.0, per_face=True))
    # families without extra terms report none
    assert REGISTRY["laplacekl_w1_8_lg"].build().auxiliary_loss(t, laplace_kl, 1.0) is None


def _shapes(n: int = 200) -> np.ndarray:
    """Plausible 68-point shapes: the sample faces' ground truth, moved, scaled and rotated a little."""
    from edge_lmk.data import scan_folders
    from edge_lmk.data.pts import read_pts
    from edge_lmk.paths import SAMPLE_TEST

    base = np.stack([read_pts(r.pts) for r in scan_folders([SAMPLE_TEST])])
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        s = base[i % len(base)]
        a = rng.uniform(-0.2, 0.2)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        out.append((s - s.mean(0)) @ rot.T * rng.uniform(0.5, 2) + rng.uniform(0, 300, 2))
    return np.stack(out)


def test_shape_model_is_the_identity_unfitted_and_pulls_an_outlier_back_when_fitted():
    shapes = _shapes()
    layer = ShapeModel(68)
    lm = torch.from_numpy(shapes[:8]).float()
    sc = torch.rand(8, 68)
    out, sc2 = layer(None, lm, sc)
    torch.testing.assert_close(out, lm, atol=1e-4, rtol=0)  # threshold inf: pass-through (float32 rounding)
    assert sc2 is sc
    stats = fit(layer, shapes)
    assert stats["components"] == 12 and 0.8 < stats["explained_variance"] <= 1.0
    layer.threshold.fill_(0.1)
    face = torch.from_numpy(shapes[:1]).float()
    iod = float((face[0, 36] - face[0, 45]).norm())
    clean, _ = layer(None, face, sc[:1])
    assert (clean - face).norm(dim=-1).max() < 0.05 * iod  # an inlier shape moves by < 5% of the eye distance
    bad = face.clone()
    bad[0, 8] += torch.tensor([0.6, 0.6]) * iod  # the chin thrown 85% of the eye distance away
    fixed, _ = layer(None, bad, sc[:1])
    assert (fixed[0, 8] - face[0, 8]).norm() < 0.3 * (bad[0, 8] - face[0, 8]).norm()
    # the shape as a whole gets better (a neighbour of the chin may move a little with it)
    assert (fixed - face).norm(dim=-1).mean() < 0.5 * (bad - face).norm(dim=-1).mean()


def test_cascade_patches_are_bilinear_samples_and_the_untrained_stage_is_the_identity():
    """The tent-weight patches equal ``grid_sample`` (bilinear, zeros outside, pixel centres) to float32
    rounding of 80-term sums: 1e-5."""
    torch.manual_seed(0)
    stage = CascadeRefiner(68)
    img = torch.rand(2, 3, 80, 80)
    lm = torch.rand(2, 68, 2) * 90 - 5  # some patches leave the crop
    patches = stage.patches(img, lm)
    pos = lm.unsqueeze(-2).unsqueeze(-2) + torch.stack(torch.meshgrid(stage.offsets, stage.offsets, indexing="xy"), -1)
    grid = (pos / 80 * 2 - 1).reshape(2, 68 * 12, 12, 2)
    ref = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # (2,3,68*12,12)
    ref = ref.reshape(2, 3, 68, 12, 12).permute(0, 2, 1, 3, 4).reshape(2 * 68, 3, 12, 12)
    torch.testing.assert_close(patches, ref, atol=1e-5, rtol=0)
    sc = torch.rand(2, 68)
    out, sc2 = stage(img, lm, sc)
    assert torch.equal(out, lm) and sc2 is sc  # zero-initialised offsets


def test_ohem_backpropagates_only_the_hardest_faces():
    target = torch.zeros(10, 68, 2)
    refined = torch.arange(10, dtype=torch.float32).view(10, 1, 1).expand(10, 68, 2).clone().requires_grad_()
    loss = ohem_loss(refined, target)  # the 7 hardest: errors 3..9 px * sqrt(2)
    torch.testing.assert_close(loss, torch.tensor(6.0 * 2 ** 0.5))
    loss.backward()
    assert (refined.grad[:3] == 0).all() and (refined.grad[3:] != 0).all()


def test_stages_are_part_of_the_checkpoint_configuration(tmp_path):
    spec = REGISTRY["laplacekl_w1_8_lg_pca"]
    assert spec.stages == ("shape",) and spec.family == "localglobal"
    model = spec.build().eval()
    fit(model.stages[0], _shapes())
    model.stages[0].threshold.fill_(0.2)
    save_checkpoint(tmp_path / "m.pt", model, spec)
    loaded, spec2, payload = load_checkpoint(tmp_path / "m.pt")
    assert payload["config"]["stages"] == ["shape"] and spec2.stages == ("shape",)
    assert spec_from_config(payload["config"]).stages == ("shape",)
    x = torch.rand(2, 3, 80, 80)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], model(x)[0], atol=0, rtol=0)
    assert float(loaded.stages[0].threshold) == pytest.approx(0.2)
    assert REGISTRY["laplacekl_w1_16_fast_casc"].stages == ("cascade",)  # any family's model may take a stage


def test_cascade_trains_with_the_first_stage_frozen(tmp_path, sample_test):
    """``train --stages cascade --init-from FIRST``: only the refiner's weights change; the first stage's
    weights and batch-norm statistics stay the shipped ones."""
    from edge_lmk import train

    first = REGISTRY["laplacekl_w1_16_fast"]
    out = tmp_path / "casc"
    assert train.cli(["--family", "fast", "--width", "1/16", "--stages", "cascade", "--init-from", first.name,
                      "--data", str(sample_test), "--limit-train", "24", "--batch-size", "8", "--steps", "6",
                      "--threads", "1", "--no-cache", "--ema", "0", "--out", str(out)]) == 0
    model, spec, _ = load_checkpoint(out / "best.pt")
    assert spec.name == "laplacekl_w1_16_fast_casc" and spec.stages == ("cascade",) and spec.beta == 10.0
    shipped = first.load().state_dict()
    state = model.state_dict()
    for k, v in shipped.items():
        assert torch.equal(state[k], v), k
    assert state["stages.0.offset_weight"].abs().sum() > 0  # the refiner learnt
    # a stage needs a trained first stage
    assert train.cli(["--family", "fast", "--stages", "cascade", "--data", str(sample_test),
                      "--out", str(tmp_path / "x")]) == 2


SEED_FAMILIES = ("localglobal", "localglobal_nokc", "evae", "evae_fcn")


def _shipped_seed_models() -> list[str]:
    return [s.name for s in REGISTRY.values() if s.shipped and (s.family in SEED_FAMILIES or s.stages)]


def test_shipped_seed_models_export_to_every_target_with_parity(tmp_path, check_parity_rows):
    """Adding the families touched no exporter: every shipped model of theirs (and every model with a post-head
    stage) exports to .pte/.tflite/.onnx at fp32 within 0.01 NME and 0.05 px of PyTorch on the bundled real
    faces; the staged ones also in int8 (.pte, .tflite: +3% NME; their stages stay float). Core ML's rows run
    for every shipped model in tests/test_coreml.py."""
    from export import all as export_all

    names = _shipped_seed_models()
    assert {"laplacekl_w1_8_lg", "laplacekl_w1_8_lg_pca"} <= set(names)
    staged = [n for n in names if REGISTRY[n].stages]
    out = tmp_path / "art"
    assert export_all.main(["--models", *names, "--formats", "executorch", "tflite", "onnx", "--precisions", "fp32",
                            "--out", str(out / "fp32")]) == 0
    assert export_all.main(["--models", *staged, "--formats", "executorch", "tflite", "--precisions", "int8",
                            "--out", str(out / "int8")]) == 0
    rows = [r for p in ("fp32", "int8") for r in json.loads((out / p / "manifest.json").read_text())["artifacts"]]
    assert len(rows) == 3 * len(names) + 2 * len(staged)
    check_parity_rows(rows)
