"""Core ML export: parity on real faces, metadata, damaged packages, and the MIL emulator's ops.

Parity runs every shipped model (``list_models()``) at fp32 and fp16 on the 64 bundled
test faces; widths above 1/8 are marked slow. On Linux the packages run in the MIL
emulator (``coreml-mil-emulated``), on macOS in Core ML itself.
"""
from __future__ import annotations

import json
import shutil
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

ct = pytest.importorskip("coremltools")

from coremltools.converters.mil import Builder as mb  # noqa: E402
from coremltools.converters.mil.mil import types  # noqa: E402

from edge_lmk.data import scan_folder  # noqa: E402
from edge_lmk.evaluation import predict_photo, prepare_crops, score  # noqa: E402
from edge_lmk.models import list_models  # noqa: E402
from edge_lmk.models import LandmarkNet  # noqa: E402
from edge_lmk.models.registry import ModelSpec  # noqa: E402
from edge_lmk.paths import SAMPLE_TEST  # noqa: E402
from edge_lmk.runtimes import ArtifactError, load_predictor  # noqa: E402
from edge_lmk.runtimes.coreml_runtime import META_CARD, META_CONTRACT, CoreMLPredictor, on_macos  # noqa: E402
from edge_lmk.runtimes.mil_interpreter import MILInterpreter, UnsupportedMILOp, load_package  # noqa: E402
from edge_lmk.runtimes.torch_runtime import TorchPredictor  # noqa: E402
from edge_lmk.runtimes.coreml_runtime import sidecar_path  # noqa: E402
from export.coreml import export  # noqa: E402
from export.pipeline import ExportError  # noqa: E402

PRECISIONS = ("fp32", "fp16")
MAX_DELTA_NME = {"fp32": 0.01, "fp16": 0.05}  # percent of inter-ocular distance
MAX_PX_FP32 = 0.05  # crop pixels
EXPECTED_RUNTIME = "coreml" if on_macos() else "coreml-mil-emulated"
# coremltools 9 warns about its own deprecated internals on every conversion.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
SPECS = [pytest.param(s, id=s.name, marks=() if s.width <= Fraction(1, 8) else pytest.mark.slow)
         for s in list_models()]


# ------------------------------------------------------------------------------------------
# fixtures: export each (model, precision) once per module
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def artifact_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("coreml")


@pytest.fixture(scope="module")
def exported(artifact_dir):
    cache = {}

    def get(spec, precision):
        key = (spec.name, precision)
        if key not in cache:
            cache[key] = export(spec.load(), spec, artifact_dir / f"{spec.name}_{precision}.mlpackage", precision)
        return cache[key]

    return get


@pytest.fixture(scope="module")
def faces():
    records = scan_folder(SAMPLE_TEST)
    cache = {}

    def get(contract):
        key = contract.to_json()  # the contract holds dicts, so it is not hashable itself
        if key not in cache:
            cache[key] = prepare_crops(records, contract)
        return cache[key]

    return get


@pytest.fixture(scope="module")
def reference(faces):
    """PyTorch predictions (crop px) and NME per model, from the unfolded eager model."""
    cache = {}

    def get(spec):
        if spec.name not in cache:
            crops = faces(spec.contract)
            ref = TorchPredictor.from_model(spec.load(), spec)
            lm, sc = ref.predict(crops.inputs)
            cache[spec.name] = (lm, sc, score(predict_photo(ref, crops)[0], crops)["nme"])
        return cache[spec.name]

    return get


# ------------------------------------------------------------------------------------------
# parity on the 64 bundled faces
# ------------------------------------------------------------------------------------------

def test_sample_has_64_faces():
    assert len(scan_folder(SAMPLE_TEST)) == 64


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("spec", SPECS)
def test_parity_with_pytorch(spec, precision, exported, faces, reference):
    path = exported(spec, precision)
    crops = faces(spec.contract)
    ref_lm, ref_sc, ref_nme = reference(spec)
    predictor = CoreMLPredictor(path)
    assert predictor.runtime == EXPECTED_RUNTIME
    lm, sc = predictor.predict(crops.inputs)
    assert lm.shape == ref_lm.shape == (64, 68, 2) and sc.shape == (64, 68)
    assert np.isfinite(lm).all() and np.isfinite(sc).all()
    nme = score(predict_photo(predictor, crops)[0], crops)["nme"]
    delta = abs(nme - ref_nme)
    max_px = float(np.abs(lm - ref_lm).max())
    print(f"\n{spec.name} {precision}: NME {nme:.4f} vs {ref_nme:.4f} (|d| {delta:.5f}), max {max_px:.5f} px")
    assert delta <= MAX_DELTA_NME[precision]
    if precision == "fp32":
        assert max_px <= MAX_PX_FP32


def test_fp16_program_computes_in_fp16(exported):
    """The fp16 package runs the convolutional generator in fp16 and keeps the soft-argmax head in fp32."""
    spec = list_models()[0]
    fn = load_package(exported(spec, "fp16")).program.functions["main"]
    ops = list(fn.operations)
    casts = [op for op in ops if op.op_type == "cast"]
    assert [c.outputs[0].dtype for c in casts].count(types.fp16) >= 1
    assert {c.outputs[0].dtype for c in casts} == {types.fp16, types.fp32}
    assert all(op.outputs[0].dtype == types.fp16 for op in ops if op.op_type in ("conv", "leaky_relu", "max_pool"))
    head = [op for op in ops if op.op_type in ("softmax", "reduce_sum", "stack")]
    assert head and all(op.outputs[0].dtype == types.fp32 for op in head)
    fp32_fn = load_package(exported(spec, "fp32")).program.functions["main"]
    assert not any(op.op_type == "cast" for op in fp32_fn.operations)


# ------------------------------------------------------------------------------------------
# metadata and sidecar
# ------------------------------------------------------------------------------------------

def test_metadata_carries_contract_and_card(exported):
    spec = list_models()[0]
    path = exported(spec, "fp16")
    pkg = load_package(path)
    assert json.loads(pkg.metadata[META_CONTRACT]) == spec.contract.to_dict()
    card = json.loads(pkg.metadata[META_CARD])
    assert (card["name"], card["width"], card["loss"], card["precision"]) == (spec.name, str(spec.width),
                                                                             spec.loss, "fp16")
    assert pkg.metadata["edge_lmk.precision"] == "fp16"
    meta = pkg.spec.description.metadata
    assert meta.author and meta.license and meta.shortDescription and spec.name in meta.versionString
    assert [i.name for i in pkg.description.input] == ["image"]
    assert tuple(pkg.description.input[0].type.multiArrayType.shape) == (1, 3, 80, 80)
    assert {o.name: tuple(o.type.multiArrayType.shape) for o in pkg.description.output} == {
        "landmarks": (1, 68, 2), "scale": (1, 68)}
    assert pkg.spec.WhichOneof("Type") == "mlProgram"
    assert CoreMLPredictor(path).contract == spec.contract

    side = json.loads(sidecar_path(path).read_text())
    assert side["contract"] == spec.contract.to_dict()
    assert (side["model"], side["width"], side["loss"], side["precision"]) == (spec.name, str(spec.width),
                                                                             spec.loss, "fp16")
    assert side["bytes"] > 0 and len(side["sha256"]) == 64
    assert side["smoke_run"]["runtime"] == EXPECTED_RUNTIME
    # nothing half-written beside the artifacts
    assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".")]


def test_load_predictor_picks_coreml_by_suffix(exported):
    predictor = load_predictor(str(exported(list_models()[0], "fp32")))
    assert isinstance(predictor, CoreMLPredictor)


# ------------------------------------------------------------------------------------------
# damaged packages and failed exports
# ------------------------------------------------------------------------------------------

def _truncate(path, fraction):
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(int(size * fraction))


@pytest.mark.parametrize("part", ["Data/com.apple.CoreML/weights/weight.bin", "Data/com.apple.CoreML/model.mlmodel",
                                  "Manifest.json"])
def test_truncated_package_raises_artifact_error(part, exported, tmp_path):
    bad = tmp_path / "bad.mlpackage"
    shutil.copytree(exported(list_models()[0], "fp16"), bad)
    _truncate(bad / part, 0.5)
    with pytest.raises(ArtifactError, match="bad.mlpackage"):
        CoreMLPredictor(bad)
    with pytest.raises(ArtifactError, match="bad.mlpackage"):
        load_predictor(str(bad))


def test_changed_weights_fail_the_sidecar_hash(exported, tmp_path):
    src = exported(list_models()[0], "fp32")
    bad = tmp_path / src.name
    shutil.copytree(src, bad)
    shutil.copy(sidecar_path(src), sidecar_path(bad))
    assert CoreMLPredictor(bad).verified
    blob = bad / "Data/com.apple.CoreML/weights/weight.bin"
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x40  # one flipped bit in a weight: still loads, wrong numbers
    blob.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        CoreMLPredictor(bad)


def test_missing_package_and_missing_contract(exported, tmp_path):
    with pytest.raises(ArtifactError, match="nothing.mlpackage"):
        load_predictor(str(tmp_path / "nothing.mlpackage"))
    with pytest.raises(ArtifactError, match="not an .mlpackage directory"):
        CoreMLPredictor(tmp_path / "nothing.mlpackage")
    (tmp_path / "empty.mlpackage").mkdir()
    with pytest.raises(ArtifactError, match="empty.mlpackage.*manifest"):
        CoreMLPredictor(tmp_path / "empty.mlpackage")
    # a package without the contract is refused: the artifact must say how to crop. Deleting only the
    # contract breaks the package's seal; a package without any edge-lmk metadata gets to the contract check.
    mlmodel = ct.models.MLModel(str(exported(list_models()[0], "fp32")), skip_model_load=True)
    del mlmodel.user_defined_metadata[META_CONTRACT]
    edited = tmp_path / "edited.mlpackage"
    mlmodel.save(str(edited))
    with pytest.raises(ArtifactError, match="edited.mlpackage: contents do not match the sha256 sealed inside it"):
        CoreMLPredictor(edited)
    for key in [k for k in mlmodel.user_defined_metadata if k.startswith("edge_lmk.")]:
        del mlmodel.user_defined_metadata[key]
    bare = tmp_path / "bare.mlpackage"
    mlmodel.save(str(bare))
    with pytest.warns(UserWarning, match="cannot be verified"), pytest.raises(ArtifactError, match="contract"):
        CoreMLPredictor(bare)


def test_failed_export_leaves_previous_artifact_untouched(exported, tmp_path):
    """A model whose outputs break the interface fails in 'convert'; nothing half-written remains."""
    good = exported(list_models()[0], "fp32")
    out = tmp_path / "model.mlpackage"
    shutil.copytree(good, out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    spec = ModelSpec("broken_w1_16", Fraction(1, 16), "laplacekl")
    wrong = LandmarkNet(Fraction(1, 16), num_landmarks=5).eval()  # 5 landmarks, interface says 68
    with pytest.raises(ExportError, match="stage .lower.: .*converted outputs"):
        export(wrong, spec, out, "fp32")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.mlpackage"]
    with pytest.raises(ValueError, match="precision"):
        export(wrong, spec, tmp_path / "x.mlpackage", "int8")
    with pytest.raises(ValueError, match=".mlpackage"):
        export(wrong, spec, tmp_path / "x.mlmodel", "fp32")


# ------------------------------------------------------------------------------------------
# the MIL emulator, op by op, against torch
# ------------------------------------------------------------------------------------------

def _program(fn, *input_specs):
    specs = [mb.TensorSpec(shape=shape, dtype=dtype) for shape, dtype in input_specs]
    return mb.program(input_specs=specs, opset_version=ct.target.iOS16)(fn)


def _run(prog, **feeds):
    out = MILInterpreter(prog).run(feeds)
    return [out[v.name] for v in prog.functions["main"].outputs]


RNG = np.random.default_rng(0)  # op unit tests only; parity uses real faces


def test_emulator_rejects_unknown_op():
    def fn(x):
        return mb.cumsum(x=x, axis=1)

    prog = _program(fn, ((1, 4), types.fp32))
    with pytest.raises(UnsupportedMILOp, match="'cumsum'"):
        MILInterpreter(prog)


def test_emulated_conv_pool_upsample_match_torch():
    x = RNG.standard_normal((1, 3, 9, 9)).astype(np.float32)
    w = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = RNG.standard_normal(4).astype(np.float32)
    wg = RNG.standard_normal((6, 2, 3, 3)).astype(np.float32)

    def fn(x):
        strided = mb.conv(x=x, weight=w, bias=b, strides=[2, 2], pad_type="custom", pad=[1, 1, 1, 1])
        same = mb.conv(x=x, weight=w, pad_type="same")
        grouped = mb.conv(x=mb.concat(values=[x, x], axis=1), weight=wg, groups=3, pad_type="valid")
        mx = mb.max_pool(x=x, kernel_sizes=[2, 2], strides=[2, 2], pad_type="valid")
        avg = mb.avg_pool(x=x, kernel_sizes=[3, 3], strides=[1, 1], pad_type="custom", pad=[1, 1, 1, 1],
                          exclude_padding_from_average=True)
        up = mb.upsample_nearest_neighbor(x=x, scale_factor_height=2, scale_factor_width=2)
        lrelu = mb.leaky_relu(x=strided, alpha=0.2)
        return strided, same, grouped, mx, avg, up, lrelu

    prog = _program(fn, ((1, 3, 9, 9), types.fp32))
    got = _run(prog, x=x)
    tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
    want = [F.conv2d(tx, tw, tb, stride=2, padding=1), F.conv2d(tx, tw, padding="same"),
            F.conv2d(torch.cat([tx, tx], 1), torch.from_numpy(wg), groups=3), F.max_pool2d(tx, 2),
            F.avg_pool2d(tx, 3, 1, padding=1, count_include_pad=False),
            F.interpolate(tx, scale_factor=2, mode="nearest"),
            F.leaky_relu(F.conv2d(tx, tw, tb, stride=2, padding=1), 0.2)]
    for g, ref in zip(got, want):
        np.testing.assert_allclose(g, ref.numpy(), rtol=1e-5, atol=1e-5)


def test_emulated_head_ops_match_torch():
    x = RNG.standard_normal((1, 5, 4, 6)).astype(np.float32)
    m = RNG.standard_normal((6, 3)).astype(np.float32)

    def fn(x):
        flat = mb.reshape(x=x, shape=[1, 5, 24])
        sm = mb.reshape(x=mb.softmax(x=flat, axis=-1), shape=[1, 5, 4, 6])
        sx = mb.reduce_sum(x=sm, axes=[2], keep_dims=False)
        mean = mb.reduce_mean(x=mb.stack(values=[sx, sx], axis=-1), axes=[-1], keep_dims=False)
        d = mb.abs(x=mb.sub(x=sx, y=mb.expand_dims(x=mb.reduce_sum(x=sx, axes=[-1]), axes=[-1])))
        t = mb.transpose(x=x, perm=[0, 2, 1, 3])
        cat = mb.concat(values=[x, x], axis=1)
        sl = mb.slice_by_index(x=x, begin=[0, 1, 0, 5], end=[1, 5, 4, 0], stride=[1, 2, 1, -2],
                               end_mask=[False, False, False, True])
        mm = mb.matmul(x=x, y=m)
        div = mb.real_div(x=mb.exp(x=x), y=mb.add(x=mb.mul(x=x, y=x), y=1.0))
        return sm, sx, mean, d, t, cat, sl, mm, div

    got = _run(_program(fn, ((1, 5, 4, 6), types.fp32)), x=x)
    tx = torch.from_numpy(x)
    sm = torch.softmax(tx.reshape(1, 5, 24), -1).reshape(1, 5, 4, 6)
    sx = sm.sum(2)
    want = [sm, sx, sx, (sx - sx.sum(-1, keepdim=True)).abs(), tx.permute(0, 2, 1, 3), torch.cat([tx, tx], 1),
            torch.from_numpy(x[0:1, 1:5:2, 0:4, 5::-2].copy()), tx @ torch.from_numpy(m),
            tx.exp() / (tx * tx + 1)]
    for g, ref in zip(got, want):
        np.testing.assert_allclose(g, ref.numpy(), rtol=1e-5, atol=1e-6)


def test_emulated_fp16_rounds_like_ieee_half():
    """fp16 casts and elementwise ops are bit-exact with numpy float16 (round to nearest even, overflow to inf)."""
    x = np.concatenate([RNG.standard_normal(60).astype(np.float32) * 3,
                        np.array([1 / 3, 70000.0, -70000.0, 1e-6, 65519.0, 2049.0], np.float32)])[None]

    def fn(x):
        h = mb.cast(x=x, dtype="fp16")
        summed = mb.add(x=mb.mul(x=h, y=h), y=h)
        return h, summed, mb.cast(x=summed, dtype="fp32")

    h, summed, back = _run(_program(fn, ((1, 66), types.fp32)), x=x)
    with np.errstate(over="ignore"):
        h16 = x.astype(np.float16)
    assert h.dtype == np.float16 and summed.dtype == np.float16 and back.dtype == np.float32
    np.testing.assert_array_equal(h.view(np.uint16), h16.view(np.uint16))
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_array_equal(summed.view(np.uint16), (h16 * h16 + h16).view(np.uint16))
    np.testing.assert_array_equal(back, summed.astype(np.float32))


def test_emulated_fp16_conv_softmax_stay_close_to_fp32():
    x = RNG.uniform(0, 1, (1, 3, 10, 10)).astype(np.float32)
    w = (RNG.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32)

    def fn(x):
        h = mb.cast(x=x, dtype="fp16")
        c = mb.conv(x=h, weight=w.astype(np.float16), pad_type="custom", pad=[1, 1, 1, 1])
        sm = mb.softmax(x=mb.reshape(x=c, shape=[1, 4, 100]), axis=-1)
        return c, sm

    prog = _program(fn, ((1, 3, 10, 10), types.fp32))
    ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1)
    ref_sm = torch.softmax(ref.reshape(1, 4, 100), -1).numpy()
    for acc in ("fp32", "fp16-pairwise", "fp16-sequential"):
        out = MILInterpreter(prog, accumulation=acc).run({"x": x})
        c, sm = (out[v.name] for v in prog.functions["main"].outputs)
        assert c.dtype == np.float16 and sm.dtype == np.float16
        np.testing.assert_allclose(c.astype(np.float32), ref.numpy(), rtol=1e-2, atol=1e-2, err_msg=acc)
        np.testing.assert_allclose(sm.astype(np.float32), ref_sm, rtol=3e-2, atol=3e-4, err_msg=acc)


def test_emulator_fp16_accumulation_modes():
    """3000 ones summed in fp16: exact with an fp32 or pairwise accumulator, stuck at 2048 sequentially."""
    def fn(x):
        h = mb.cast(x=x, dtype="fp16")
        return mb.reduce_sum(x=h, axes=[-1], keep_dims=False), mb.softmax(x=h, axis=-1)

    prog = _program(fn, ((1, 3000), types.fp32))
    ones = np.ones((1, 3000), np.float32)
    sums = {acc: MILInterpreter(prog, accumulation=acc).run({"x": ones}) for acc in
            ("fp32", "fp16-pairwise", "fp16-sequential")}
    out = {acc: [r[v.name] for v in prog.functions["main"].outputs] for acc, r in sums.items()}
    assert out["fp32"][0][0] == 3000 and out["fp16-pairwise"][0][0] == 3000
    assert out["fp16-sequential"][0][0] == 2048  # 2048 + 1 rounds back to 2048 (ties to even)
    np.testing.assert_allclose(out["fp32"][1].astype(np.float32), 1 / 3000, rtol=1e-3)
    assert out["fp16-sequential"][1].astype(np.float32)[0, 0] == np.float16(1 / 2048)
    with pytest.raises(ValueError, match="accumulation"):
        MILInterpreter(prog, accumulation="bf16")
