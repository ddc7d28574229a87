"""The ExecuTorch export rewrites (export/delegable.py) compute what the model computes."""
from __future__ import annotations

import pytest
import torch

from edge_lmk.models import REGISTRY
from edge_lmk.evaluation import prepare_crops
from edge_lmk.data import scan_folder
from edge_lmk.paths import SAMPLE_TEST
from edge_lmk.codecs import DelegableSoftArgmax, SoftArgmaxCodec
from export.delegable import NearestUp2x, delegable

# one model per generator/head shape: linear head, MLP head, pruned channels, Gaussian spread
MODELS = ("laplacekl_w1_16", "laplacekl_w1_16_h16", "laplacekl_w1_8_p43", "softargmax_w1_8")


@pytest.fixture(scope="module")
def faces():
    crops = prepare_crops(scan_folder(SAMPLE_TEST), REGISTRY[MODELS[0]].contract)
    return torch.from_numpy(crops.inputs[:8])


def test_nearest_up_matches_upsample():
    x = torch.randn(2, 8, 10, 10)
    up = NearestUp2x([8])
    assert torch.equal(up(x), torch.nn.Upsample(scale_factor=2, mode="nearest")(x))
    assert up(x).shape == (2, 8, 20, 20)


@pytest.mark.parametrize("kind", ["laplace", "gaussian"])
def test_linear_moments_head_matches_soft_argmax(kind):
    torch.manual_seed(0)
    logits = torch.randn(2, 68, 80, 80) * 3
    head = SoftArgmaxCodec(beta=10.0, kind=kind)
    mean, spread, _ = head(logits)
    landmarks, scale = DelegableSoftArgmax(head, 80)(logits)
    assert landmarks.shape == (2, 68, 2) and scale.shape == (2, 68)
    torch.testing.assert_close(landmarks, mean, atol=1e-3, rtol=0)
    torch.testing.assert_close(scale, spread.mean(-1), atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_delegable_model_matches_eager_on_faces(faces, name):
    model = REGISTRY[name].load().eval()
    rewritten = delegable(model, REGISTRY[name].contract.input_size)
    with torch.no_grad():
        lm, sc = model(faces)
        lm2, sc2 = rewritten(faces)
    torch.testing.assert_close(lm2, lm, atol=1e-3, rtol=0)  # crop pixels
    torch.testing.assert_close(sc2, sc, atol=1e-3, rtol=1e-4)
    # the rewrite works on a copy: the caller's model keeps its modules and beta
    assert isinstance(model.generator.up, torch.nn.Upsample)


def test_wide_models_get_the_upsample_rewrite_too():
    """Every width runs the transposed-conv upsample (one delegate); the 1/4 model's is exact like 1/16's."""
    wide = REGISTRY["laplacekl_w1_4"]
    model = wide.load().eval()
    rewritten = delegable(model, wide.contract.input_size)
    assert isinstance(rewritten.generator.up, NearestUp2x)
    assert isinstance(rewritten.head, DelegableSoftArgmax)
    x = torch.rand(2, 3, 80, 80)
    with torch.no_grad():
        torch.testing.assert_close(rewritten(x)[0], model(x)[0], atol=1e-3, rtol=0)  # crop pixels
