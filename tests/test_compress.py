"""int8 artifacts of the 1/16 and 1/8 models in their real runtimes (executorch.runtime,
ai_edge_litert) on the bundled real faces: NME within the issue's relative budget of the fp32
PyTorch model, size on disk, and the head left in float.

Calibration uses the bundled TRAINING sample (``SAMPLE_CALIB``, what ``export.all`` falls back
to without ../shared/data); parity uses the bundled test sample, as ``export.all`` does.
"""
from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from edge_lmk.compress import Calibration, CoreMLWeightConfig, Int8Config, config_for
from edge_lmk.compress.calibration import CalibrationError, calibration_inputs
from edge_lmk.data import scan_folder
from edge_lmk.evaluation import prepare_crops
from edge_lmk.models import REGISTRY
from edge_lmk.paths import SAMPLE_CALIB, SAMPLE_TEST
from edge_lmk.runtimes import load_predictor
from export.artifact import sidecar_path
from export.parity import check_artifact, reference, within
from export.targets import INT8, TARGETS

MODELS = ("laplacekl_w1_16", "laplacekl_w1_8")
FORMATS = ("executorch", "tflite")
# Issue 4: ΔNME / fp32 NME budget and bytes on disk per width.
REL_BUDGET = {"1/16": 0.05, "1/8": 0.03}
MAX_BYTES = {("tflite", "1/16"): 40_000, ("tflite", "1/8"): 80_000,
             ("executorch", "1/16"): 40_000, ("executorch", "1/8"): 80_000}
CALIB = Calibration(n_faces=30, data=(SAMPLE_CALIB,))


@pytest.fixture(scope="module")
def int8_artifacts(tmp_path_factory):
    import importlib

    out = tmp_path_factory.mktemp("int8")
    paths = {}
    for name in MODELS:
        spec = REGISTRY[name]
        model = spec.load()
        for fmt in FORMATS:
            cfg = replace(config_for(fmt, "int8"), calibration=CALIB)
            paths[(name, fmt)] = importlib.import_module(f"export.{fmt}").export(model, spec, out, "int8", config=cfg)
    return paths


@pytest.fixture(scope="module")
def sample_crops():
    return prepare_crops(scan_folder(SAMPLE_TEST), REGISTRY[MODELS[0]].contract)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_int8_parity_in_real_runtime(int8_artifacts, sample_crops, name, fmt):
    spec = REGISTRY[name]
    path = int8_artifacts[(name, fmt)]
    predictor = load_predictor(str(path))  # the unchanged runtimes load the int8 artifact
    assert predictor.runtime == {"executorch": "executorch", "tflite": "litert"}[fmt]
    ref = reference(spec.load(), spec, sample_crops)
    parity = check_artifact(path, sample_crops, ref)
    rel = parity["delta_nme"] / parity["nme_torch"]
    assert np.isfinite(parity["nme_artifact"])
    assert rel <= REL_BUDGET[str(spec.width)], parity
    assert not within(parity, INT8, str(spec.width))


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_int8_size_and_float_head(int8_artifacts, name, fmt):
    spec = REGISTRY[name]
    path = int8_artifacts[(name, fmt)]
    assert path.stat().st_size <= MAX_BYTES[(fmt, str(spec.width))]
    side = json.loads(sidecar_path(path).read_text())
    ops = side["op_precision"]
    assert side["precision"] == "int8" and side["compression"]["config"] == "Int8Config"
    if fmt == "tflite":
        assert ops["int8"]["CONV_2D"] == 15  # every conv, the 1x1 heatmap conv included
        assert "SOFTMAX" in ops["float32"] and "SUM" in ops["float32"] and "MEAN" in ops["float32"]
        assert not {"SOFTMAX", "SUM", "MUL", "MEAN"} & set(ops["int8"])
    else:
        # one XNNPACK delegate, nothing portable: 15 convs + the 3 upsamples (transposed convs),
        # the 14 LeakyReLUs and 3 max-pools in int8; the head (softmax, pooled marginals, linear
        # moments) in float
        assert not [k for prec in ops.values() for k in prec if k.startswith("portable:")], ops
        assert ops["int8"]["xnnpack:convolution"] == 18
        assert ops["int8"]["xnnpack:leaky_relu"] == 14 and ops["int8"]["xnnpack:max_pool2d"] == 3
        assert ops["float32"]["xnnpack:_softmax"] == 1 and ops["float32"]["xnnpack:linear"] == 3
        assert ops["float32"]["xnnpack:avg_pool2d"] == 2
        assert ops["int8"]["xnnpack:cat"] == 3  # the skip concatenations; the head's are float
        assert not {"xnnpack:_softmax", "xnnpack:linear", "xnnpack:avg_pool2d", "xnnpack:mul", "xnnpack:sub",
                    "xnnpack:abs"} & set(ops["int8"])


def test_calibration_uses_training_faces_only():
    x = calibration_inputs(Calibration(n_faces=4, data=(SAMPLE_CALIB,)), REGISTRY[MODELS[0]].contract)
    assert x.shape == (4, 3, 80, 80) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    with pytest.raises(CalibrationError, match="test folder"):
        calibration_inputs(Calibration(n_faces=4, data=(SAMPLE_TEST,)), REGISTRY[MODELS[0]].contract)


def test_configs_reject_bad_input():
    with pytest.raises(ValueError, match="backend"):
        Int8Config("tensorrt")
    with pytest.raises(ValueError, match="nbits"):
        CoreMLWeightConfig("palettize", nbits=5)
    with pytest.raises(ValueError, match="n_faces"):
        Calibration(n_faces=0)
    with pytest.raises(ValueError, match="no compression config"):
        config_for("onnx", "int8")


def test_target_table_has_compressed_rows():
    keys = {t.key for t in TARGETS}
    assert {"executorch/int8", "tflite/int8", "coreml/int8-weights", "coreml/palettized-8bit",
            "coreml/palettized-4bit"} <= keys
    assert INT8.rel_for("1/16") == 0.05 and INT8.rel_for("1/8") == 0.03 and INT8.rel_for("1/4") == 0.03
    assert {REGISTRY[m].width for m in MODELS} == {Fraction(1, 16), Fraction(1, 8)}


def test_heatmap_conv_false_keeps_the_family_declared_layers_float_in_every_backend():
    """Issue 15: ``heatmap_conv=False`` keeps float exactly the layers the model's family declares
    (``ExportHints.logit_layers``) in PT2E, LiteRT and Core ML alike. The ``_h16`` model has two
    (``to_heatmaps`` and the MLP branch's last conv, both 68 1x1 filters); the backends used to
    guess "the" heatmap conv by shape and each excluded a different set."""
    import torch

    from edge_lmk.compress import float_layers
    from edge_lmk.compress.coreml_weights import compress_weights, conv_ops_with_weights
    from edge_lmk.compress.litert_aeq import conv_outputs_with_weights, quantize_tflite
    from edge_lmk.compress.pt2e import ANNOTATION, _module_path, make_quantizer
    from export import coreml, tflite
    from export.capture import capture
    from export.delegable import delegable

    spec = REGISTRY["laplacekl_w1_16_h16"]
    model = spec.load()
    declared = ("generator.to_heatmaps", "generator.head_mlp.2")
    weights = [model.get_submodule(n).weight.detach().numpy() for n in declared]

    # PT2E (ExecuTorch): the unannotated convs of the generator are the declared ones
    cfg = Int8Config("xnnpack", heatmap_conv=False, calibration=CALIB)
    dm = delegable(model, spec.contract.input_size)
    assert float_layers(model, cfg) == float_layers(dm, cfg) == declared
    gm = capture(dm, spec).module()
    make_quantizer(cfg, float_layers(dm, cfg)).annotate(gm)
    convs = [n for n in gm.graph.nodes if n.op == "call_function" and n.target == torch.ops.aten.conv2d.default]
    left = {_module_path(n).replace("L['self'].", "") for n in convs if ANNOTATION not in n.meta}
    assert left == {f"model.{n}" for n in declared} and len(convs) > len(left)  # capture wraps it in NamedIO

    # LiteRT: the two CONV_2D ops carrying those weights keep float filters, every other conv is int8
    from ai_edge_litert.interpreter import Interpreter

    float_tfl = tflite.convert(capture(model, spec), spec, "fp32")
    names = conv_outputs_with_weights(float_tfl, weights)
    assert len(set(names)) == 2
    crops = calibration_inputs(CALIB, spec.contract)[:8]
    q = Interpreter(model_content=quantize_tflite(float_tfl, replace(cfg, backend="litert"), crops, weights))
    tensors = {t["index"]: t for t in q.get_tensor_details()}
    filt = {tensors[op["outputs"][0]]["name"]: tensors[op["inputs"][1]]["dtype"]
            for op in q._get_ops_details() if op["op_name"] == "CONV_2D"}
    assert {n for n, dt in filt.items() if dt == np.float32} == set(names)
    assert sum(dt == np.int8 for dt in filt.values()) == len(filt) - 2

    # Core ML: the two conv ops with those weights keep const float weights, the others are compressed
    ml = coreml.convert(coreml.capture_for_coreml(capture(model, spec)), spec, "fp32")
    names = set(conv_ops_with_weights(ml, weights))
    assert len(names) == 2
    small = compress_weights(ml, CoreMLWeightConfig("linear", heatmap_conv=False), weights)
    ops = [op for op in small._mil_program.functions["main"].operations if op.op_type == "conv"]
    const = {op.name for op in ops if op.weight.op.op_type == "const"}
    assert names <= const and len(const) < len(ops)
