"""Export a LandmarkNet to a Core ML ML Program (``.mlpackage``, iOS 16+), fp32 or fp16.

    from export.coreml import export
    export(model, spec, Path("artifacts/laplacekl_w1_8_fp16.mlpackage"), "fp16")

Stages, each its own function:

1. ``capture``: ``torch.export`` of ``fold_batchnorm(copy.deepcopy(model))``. coremltools 9
   converts the exported program cleanly; ``torch.jit.trace`` bakes the head's
   ``reshape(b, k, h*w)`` into ops its TorchScript frontend cannot convert.
2. ``convert``: coremltools 9 -> ``mlprogram`` with named input ``image`` (1,3,80,80) fp32 and
   outputs ``landmarks`` (1,68,2), ``scale`` (1,68) fp32; ``compute_precision`` FLOAT32 or
   FLOAT16 (fp16 inserts the casts inside the program; the interface stays fp32).
3. ``annotate``: preprocessing contract + short model card in ``user_defined_metadata``,
   author / license / short_description / version, feature descriptions.
4. save to a temp directory beside ``out``, made reproducible (``normalize_package``: no debug
   mapping, identifiers derived from item paths, deterministic protobuf) and sealed with its
   sha256 (``edge_lmk.runtimes.integrity``); 5. ``smoke_run`` that temp package in
   ``CoreMLPredictor`` (Core ML on macOS, the MIL emulator elsewhere) on a real face;
6. rename into place, then write the sidecar ``<out>.json`` (``x.mlpackage.json``).
A failure at any stage leaves ``out`` as it was (absent, or the previous artifact) and no
temp directory behind. coremltools' own temporary packages (normally in ``$TMPDIR``, removed
only at interpreter exit) live in that same hidden directory beside ``out``, so a run killed
with SIGKILL leaves them where the next ``export.all`` removes them (``remove_stale_temps``).
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from edge_lmk import __version__ as EDGE_LMK_VERSION
from edge_lmk.compress import config_for, quantize
from edge_lmk.files import atomic_write_json, sha256, size_on_disk, tool_versions
from edge_lmk.compress.op_precision import coreml_precision
from edge_lmk.models import ModelSpec, count_params, fold_batchnorm
from edge_lmk.runtimes import integrity
from edge_lmk.runtimes.coreml_runtime import (INPUT_NAME, META_CARD, META_CONTRACT, META_INTEGRITY, OUTPUT_NAMES,
                                              CoreMLPredictor, sidecar_path)

from .compression import describe

PRECISIONS = ("fp32", "fp16", "int8-weights", "palettized-8bit", "palettized-4bit")
SIDECAR_FORMAT = "edge-lmk-coreml/1"
# Smoke-run bound on max |landmark difference| vs the PyTorch model, in crop pixels, on one
# real face. It catches a broken graph, not a precision regression (that is the parity test).
SMOKE_MAX_PX = {"fp32": 0.05, "fp16": 1.0, "int8-weights": 2.0, "palettized-8bit": 2.0, "palettized-4bit": 40.0}
LICENSE = ("Code: Apache-2.0. Weights: trained on 300-W (iBUG; LFPW/HELEN photos), research and non-commercial "
           "use only; see edge_lmk/sample/README.md.")


class ExportError(RuntimeError):
    """A Core ML export stage failed; the message names the stage and the artifact."""


# ------------------------------------------------------------------------------------------
# stages
# ------------------------------------------------------------------------------------------

def capture(model: torch.nn.Module, spec: ModelSpec) -> torch.export.ExportedProgram:
    """torch.export of the BN-folded eval copy; the caller's model is left untouched.

    Example input is (1,3,S,S) zeros: only its shape and dtype are recorded.
    """
    folded = fold_batchnorm(copy.deepcopy(model)).eval()
    s = spec.contract.input_size
    with torch.no_grad():
        ep = torch.export.export(folded, (torch.zeros(1, 3, s, s),))
    # Inference IR with an empty decomposition table: functional ops, conv/softmax kept whole.
    return ep.run_decompositions({})


# The soft-argmax head sums 6400 softmax bins per landmark; a backend that accumulates such
# sums in fp16 moves points by pixels (measured with the emulator's sequential-fp16 mode), so
# fp16 packages keep the head's ops in fp32 and run only the convolutional generator in fp16.
FP32_HEAD_OPS = frozenset({"softmax", "reduce_sum", "reduce_mean", "reduce_max", "mul", "sub", "add", "abs",
                           "real_div", "exp", "square", "pow", "stack", "expand_dims"})


def fp16_except_head(op) -> bool:
    """coremltools op selector: True = compute this op in fp16."""
    return op.op_type not in FP32_HEAD_OPS


def convert(exported: torch.export.ExportedProgram, spec: ModelSpec, precision: str):
    """ExportedProgram -> in-memory ``ct.models.MLModel`` (ML Program, iOS16 opset)."""
    import coremltools as ct

    s = spec.contract.input_size
    k = spec.contract.num_landmarks
    mlmodel = ct.convert(
        exported,
        convert_to="mlprogram",
        minimum_deployment_target=ct.target.iOS16,
        compute_precision=(ct.transform.FP16ComputePrecision(op_selector=fp16_except_head) if precision == "fp16"
                           else ct.precision.FLOAT32),
        inputs=[ct.TensorType(name=INPUT_NAME, shape=(1, 3, s, s), dtype=np.float32)],
        outputs=[ct.TensorType(name=n, dtype=np.float32) for n in OUTPUT_NAMES],
    )
    got = {o.name: tuple(o.type.multiArrayType.shape) for o in mlmodel.get_spec().description.output}
    want = {"landmarks": (1, k, 2), "scale": (1, k)}
    if got != want:
        raise ExportError(f"{spec.name}: converted outputs {got}, expected {want}")
    return mlmodel


def model_card(model: torch.nn.Module, spec: ModelSpec, precision: str) -> dict:
    """Short card stored in the package; the full card stays in edge_lmk/weights/NAME.md."""
    shipped = spec.card()
    card = {"name": spec.name, "width": str(spec.width), "loss": spec.loss, "scale_kind": spec.scale_kind,
            # beta: what the network computes, whatever spec the caller passed
            "beta": float(model.head.beta), "params": count_params(model), "precision": precision,
            "architecture": "LaplaceKL recombinator generator (4 branches, 80/40/20/10 px) + soft-argmax head",
            "outputs": "landmarks (1,68,2) crop pixels (x, y); scale (1,68) predicted spread, lower = more confident",
            "edge_lmk_version": EDGE_LMK_VERSION}
    if shipped.get("test_common"):
        card["pytorch_test_common_nme"] = shipped["test_common"].get("nme")
    if shipped.get("training"):
        card["epochs_trained"] = shipped["training"].get("epochs_trained")
    return card


def annotate(mlmodel, model: torch.nn.Module, spec: ModelSpec, precision: str) -> None:
    s = spec.contract.input_size
    mlmodel.author = "edge-lmk"
    mlmodel.license = LICENSE
    mlmodel.version = f"{EDGE_LMK_VERSION}+{spec.name}.{precision}"
    mlmodel.short_description = (
        f"{spec.name} ({precision}): 68-point facial landmarks from a {s}x{s} RGB face crop. LaplaceKL "
        f"recombinator network, width {spec.width}, {spec.loss} loss. Crop and scaling follow the "
        f"'{META_CONTRACT}' metadata.")
    mlmodel.input_description[INPUT_NAME] = (
        f"(1,3,{s},{s}) float32 RGB in [0,1] (uint8 * {spec.contract.pixel_scale:.8g}), NCHW, crop rule "
        f"'{spec.contract.crop_rule}' x{spec.contract.crop_scale}")
    mlmodel.output_description["landmarks"] = "(1,68,2) landmark (x, y) in crop pixels, pixel i spans [i, i+1)"
    mlmodel.output_description["scale"] = "(1,68) predicted spread in crop pixels; lower = more confident"
    meta = mlmodel.user_defined_metadata
    meta[META_CONTRACT] = spec.contract.to_json()
    meta[META_CARD] = json.dumps(model_card(model, spec, precision), sort_keys=True)
    meta["edge_lmk.model"] = spec.name
    meta["edge_lmk.width"] = str(spec.width)
    meta["edge_lmk.loss"] = spec.loss
    meta["edge_lmk.precision"] = precision
    meta["edge_lmk.format"] = SIDECAR_FORMAT
    meta[META_INTEGRITY] = json.dumps({integrity.FIELD: integrity.PLACEHOLDER}, separators=(",", ":"))
    # The conversion date would make the same export differ from one day to the next.
    if NONREPRODUCIBLE_META in meta:
        del meta[NONREPRODUCIBLE_META]


NONREPRODUCIBLE_META = "com.github.apple.coremltools.conversion_date"
DEBUG_MAPPING = "executorch_debug_handle_mapping.json"  # coremltools' ExecuTorch debug aid; not part of the model
MODEL_SPEC = "Data/com.apple.CoreML/model.mlmodel"


def normalize_package(package: Path) -> None:
    """Make a saved package a function of the model only: drop the ExecuTorch debug mapping, derive
    the manifest's item identifiers from their paths (coremltools draws random UUIDs) and write the
    spec with deterministic protobuf serialization (map entries such as the metadata sorted)."""
    from coremltools.proto import Model_pb2

    (package / DEBUG_MAPPING).unlink(missing_ok=True)
    manifest_path = package / "Manifest.json"
    manifest = json.loads(manifest_path.read_text())
    ids = {old: str(uuid.uuid5(uuid.NAMESPACE_URL, f"edge-lmk:{entry['path']}")).upper()
           for old, entry in manifest["itemInfoEntries"].items()}
    manifest["itemInfoEntries"] = {ids[old]: entry for old, entry in manifest["itemInfoEntries"].items()}
    manifest["rootModelIdentifier"] = ids[manifest["rootModelIdentifier"]]
    manifest_path.write_text(json.dumps(manifest, indent=4, sort_keys=True) + "\n")
    spec = Model_pb2.Model()
    spec.ParseFromString((package / MODEL_SPEC).read_bytes())
    (package / MODEL_SPEC).write_bytes(spec.SerializeToString(deterministic=True))
    for f in package.rglob("*"):
        os.chmod(f, 0o755 if f.is_dir() else 0o644)  # coremltools writes the spec 0600


@contextlib.contextmanager
def temporaries_in(directory: Path) -> Iterator[None]:
    """Point ``tempfile`` (coremltools' temporary packages, spec files, weight dirs) at ``directory``."""
    previous = tempfile.tempdir
    directory.mkdir(exist_ok=True)
    tempfile.tempdir = str(directory)
    try:
        yield
    finally:
        tempfile.tempdir = previous


def smoke_run(package: Path, model: torch.nn.Module, spec: ModelSpec, precision: str) -> dict:
    """Run the saved package on one real face (bundled calibration sample) and compare with PyTorch."""
    from edge_lmk.data import scan_folder
    from edge_lmk.evaluation import prepare_crops
    from edge_lmk.paths import SAMPLE_CALIB

    crops = prepare_crops(scan_folder(SAMPLE_CALIB)[:1], spec.contract, desc="smoke crop")
    predictor = CoreMLPredictor(package)
    lm, sc = predictor.predict(crops.inputs)
    reference = copy.deepcopy(model).eval()  # leave the caller's model (and its train/eval mode) alone
    with torch.no_grad():
        ref_lm, ref_sc = (t.numpy() for t in reference(torch.from_numpy(crops.inputs)))
    k = spec.contract.num_landmarks
    if lm.shape != (1, k, 2) or sc.shape != (1, k):
        raise ExportError(f"{package}: smoke run gave shapes {lm.shape}, {sc.shape}")
    if not (np.isfinite(lm).all() and np.isfinite(sc).all()):
        raise ExportError(f"{package}: smoke run gave non-finite outputs")
    max_px = float(np.abs(lm - ref_lm).max())
    if max_px > SMOKE_MAX_PX[precision]:
        raise ExportError(f"{package}: smoke run landmarks differ from PyTorch by {max_px:.4f} px "
                          f"(> {SMOKE_MAX_PX[precision]} px for {precision})")
    return {"runtime": predictor.runtime, "face": crops.records[0].pts.name, "max_abs_px": max_px,
            "max_abs_scale": float(np.abs(sc - ref_sc).max())}


# ------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------

def _replace_dir(src: Path, dst: Path, scratch: Path) -> None:
    """Move directory ``src`` to ``dst``; an existing ``dst`` is moved into ``scratch`` first.

    Both renames stay on one filesystem (``scratch`` is beside ``dst``), so readers see the
    old package or the new one, never a mix; POSIX has no atomic swap of non-empty
    directories, so ``dst`` is briefly absent between the two renames.
    """
    previous = None
    if dst.exists() or dst.is_symlink():
        previous = scratch / "previous"
        os.rename(dst, previous)
    try:
        os.rename(src, dst)
    except BaseException:
        if previous is not None:
            os.rename(previous, dst)  # put the old artifact back rather than lose it with the scratch dir
        raise


# ------------------------------------------------------------------------------------------
# entry point
# ------------------------------------------------------------------------------------------

def export(model: torch.nn.Module, spec: ModelSpec, out: Path, precision: str) -> Path:
    """Export ``model`` to ``out`` (an ``.mlpackage`` directory) at ``precision`` fp32|fp16.

    Returns ``out``. Also writes ``out.name + '.json'`` beside it (contract, model, width,
    loss, precision, bytes, sha256, smoke-run result).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    out = Path(out)
    if out.suffix != ".mlpackage":
        raise ValueError(f"{out}: a Core ML ML Program must be saved as a .mlpackage directory")
    out.parent.mkdir(parents=True, exist_ok=True)

    stage = "capture"
    scratch = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.stem}.", suffix=".tmp"))
    try:
        with temporaries_in(scratch / "tmp"):
            exported = capture(model, spec)
            stage = "convert"
            mlmodel = convert(exported, spec, precision)
            if precision not in ("fp32", "fp16"):
                # Weight-only compression of the fp32 program (edge_lmk.compress, coremltools.optimize).
                stage = "compress"
                mlmodel = quantize(mlmodel, config_for("coreml", precision), spec, model=model)
            stage = "annotate"
            annotate(mlmodel, model, spec, precision)
            stage = "save"
            staged = scratch / out.name
            mlmodel.save(str(staged))
        normalize_package(staged)
        integrity.seal_package(staged)
        stage = "smoke-run"
        smoke = smoke_run(staged, model, spec, precision)
        stage = "install"
        info = {"format": SIDECAR_FORMAT, "artifact": out.name, "model": spec.name, "width": str(spec.width),
                "loss": spec.loss, "precision": precision, "config": spec.config(),
                "contract": spec.contract.to_dict(), "bytes": size_on_disk(staged), "sha256": sha256(staged),
                "capture": "torch.export", "minimum_deployment_target": "iOS16",
                "tools": {**tool_versions(("coremltools", "torch")), "edge_lmk": EDGE_LMK_VERSION}, "smoke_run": smoke, "op_precision": coreml_precision(mlmodel)}
        if precision not in ("fp32", "fp16"):
            info["compression"] = describe(config_for("coreml", precision))
        # Drop a stale sidecar first: its sha256 would reject the new package until rewritten.
        sidecar_path(out).unlink(missing_ok=True)
        _replace_dir(staged, out, scratch)
        atomic_write_json(sidecar_path(out), info, indent=2, sort_keys=True)
    except Exception as e:
        what = str(e) if isinstance(e, ExportError) else f"{type(e).__name__}: {e}"
        raise ExportError(f"{out}: Core ML export failed at stage '{stage}': {what}") from e
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out

