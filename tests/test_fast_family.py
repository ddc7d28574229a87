"""The fast family (``edge_lmk/models/fast/``): 40x40 heatmaps decoded by the stride-2 codec, added
as one folder plus one registry line, and exported to every target with parity on real faces."""
from __future__ import annotations

import json

import pytest
import torch

from edge_lmk.codecs import DelegableSoftArgmax, SoftArgmaxCodec
from edge_lmk.models import FAMILIES, REGISTRY, export_hints

MODEL = "laplacekl_w1_8_fast"


@pytest.mark.parametrize("kind, power", [("laplace", 1), ("gaussian", 2)])
def test_stride_codec_is_the_unit_decode_in_crop_pixels(kind, power):
    """Heatmap pixel i of stride s covers crop pixels [i*s, (i+1)*s): every coordinate is the unit-grid
    decode times s, the Laplace spread (a distance) times s, the Gaussian variance times s^2 (float32
    rounding of sums over 1600 bins: 1e-4 relative)."""
    torch.manual_seed(0)
    logits = torch.randn(2, 68, 40, 40) * 3
    m1, s1, p1 = SoftArgmaxCodec(10.0, kind)(logits)
    m2, s2, p2 = SoftArgmaxCodec(10.0, kind, stride=2)(logits)
    assert torch.equal(p1, p2)
    torch.testing.assert_close(m2, 2 * m1, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(s2, 2 ** power * s1, rtol=1e-4, atol=1e-4)
    # the XNNPACK form takes the heatmap side and the codec's stride
    lm, scale = DelegableSoftArgmax(SoftArgmaxCodec(10.0, kind, stride=2), 40)(logits)
    torch.testing.assert_close(lm, m2, atol=1e-3, rtol=0)
    torch.testing.assert_close(scale, s2.mean(-1), atol=1e-3, rtol=1e-4)


def test_stride_codec_decode_inverts_encode():
    """Laplace(landmark, b = 2 crop px) encoded on the 40x40 grid decodes back to the landmark: on the
    stride-2 grid it is a b = 1 heatmap-pixel Laplace, whose sampled mean moves by at most 0.0153
    heatmap px (worst fractional offset, 10 heatmap px from the border), i.e. 0.031 crop px; its mean
    absolute deviation by -15%..+8%."""
    torch.manual_seed(1)
    target = torch.rand(3, 68, 2, dtype=torch.float64) * 40 + 20  # 10 heatmap px from the border
    codec = SoftArgmaxCodec(1.0, "laplace", stride=2)
    mean, spread, _ = codec(codec.encode(target, 40, b=2.0).log())
    assert (mean - target).abs().max() < 0.035
    assert ((spread - 2.0).abs() < 0.3).all()


def test_the_family_is_registered_from_its_own_folder():
    fam = FAMILIES["fast"]
    assert fam.suffix == "_fast" and fam.build.__module__ == "edge_lmk.models.fast.family"
    spec = REGISTRY[MODEL]
    model = spec.build().eval()
    x = torch.rand(1, 3, 80, 80)
    assert model.generator(x).shape == (1, 68, 40, 40) and model.head.stride == 2
    landmarks, scale = model(x)
    assert landmarks.shape == (1, 68, 2) and scale.shape == (1, 68)
    assert ((landmarks > 0) & (landmarks < 80)).all()  # crop pixels, not heatmap pixels
    hints = export_hints(model)
    assert hints.logit_layers == ("to_heatmaps",) and hints.nearest_upsample == ("up", (32,))


def test_shipped_fast_model_exports_to_every_target_with_parity(tmp_path, check_parity_rows):
    """The family needs nothing from the exporters beyond its hints and its codec: ``export.all``
    writes every .pte/.tflite/.onnx row of the shipped model, each within its row's parity tolerance
    on the bundled real faces (fp32: NME within 0.01 and points within 0.05 px; int8: +3% NME);
    Core ML's rows run for every shipped model in tests/test_coreml.py."""
    from export import all as export_all

    assert REGISTRY[MODEL].shipped
    out = tmp_path / "art"
    assert export_all.main(["--models", MODEL, "--formats", "executorch", "tflite", "onnx",
                            "--precisions", "fp32", "int8", "--out", str(out)]) == 0
    rows = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert {(r["format"], r["precision"]) for r in rows} == {("executorch", "fp32"), ("tflite", "fp32"),
                                                              ("onnx", "fp32"), ("executorch", "int8"),
                                                              ("tflite", "int8")}
    check_parity_rows(rows)
    # LiteRT int8 end to end in the generator (the family opts in): LeakyReLU as MUL + MAXIMUM, pads and skip
    # concatenations int8, one QUANTIZE in and one DEQUANTIZE out of the generator besides requantizations;
    # the head's MULs and its concatenations stay float
    ops = json.loads((out / f"{MODEL}_int8.tflite.json").read_text())["op_precision"]
    assert ops["int8"] == {"CONV_2D": 9, "MUL": 8, "MAXIMUM": 8, "PAD": 4, "CONCATENATION": 3,
                           "RESIZE_NEAREST_NEIGHBOR": 3}, ops
    assert ops["convert"]["DEQUANTIZE"] == 1 and "LEAKY_RELU" not in ops["float32"]
    assert ops["float32"]["MUL"] == 4 and ops["float32"]["CONCATENATION"] == 2 and "SOFTMAX" in ops["float32"]


def test_litert_leaky_relu_rewrite_is_exact():
    """``max(x, 0.2 x)`` is LeakyReLU(0.2) exactly (both are one float multiply and a select), so the
    rewritten float model gives bit-identical heatmap logits."""
    from export.tflite import MaxLeakyReLU, int8_leaky_relus

    model = REGISTRY[MODEL].load()
    rewritten = int8_leaky_relus(model)
    assert not any(isinstance(m, torch.nn.LeakyReLU) for m in rewritten.modules())
    assert sum(isinstance(m, MaxLeakyReLU) for m in rewritten.modules()) == 8
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in model.modules())  # the caller's model is untouched
    x = torch.rand(2, 3, 80, 80, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model.generator(x), rewritten.generator(x))


def test_mixed_family_is_the_fast_layout_with_separable_coarse_blocks():
    """``fast_mix`` (issue 19's byte lever): the fast 1/8 layout with the three blocks on 5x5 inputs
    depthwise-separable holds 46,708 parameters instead of 78,068; it decodes like the fast family."""
    from edge_lmk.models import count_params
    from edge_lmk.models.fast_dw.generator import SeparableBlock

    fam = FAMILIES["fast_mix"]
    assert fam.suffix == "_fmx"
    model = REGISTRY["laplacekl_w1_8_fmx"].build().eval()
    gen = model.generator
    assert count_params(model) == 46_708 and count_params(REGISTRY[MODEL].build()) == 78_068
    assert all(isinstance(getattr(gen, b), SeparableBlock) for b in ("enc4", "mid", "dec3"))
    assert not any(isinstance(getattr(gen, b), SeparableBlock) for b in ("enc1", "enc2", "enc3", "dec2", "dec1"))
    landmarks, scale = model(torch.rand(1, 3, 80, 80))
    assert landmarks.shape == (1, 68, 2) and model.head.stride == 2
    assert export_hints(model).nearest_upsample == ("up", (32,))
