"""Export a LandmarkNet to a Core ML ML Program (``.mlpackage``, iOS 16+), fp32 or fp16.

    from export.coreml import export
    export(model, spec, Path("artifacts/laplacekl_w1_8_fp16.mlpackage"), "fp16")

The stages of ``export.pipeline`` (shared with every backend), as this backend fills them in:

1. capture: the shared ``torch.export`` capture (BN folded), in inference IR with an empty
   decomposition table (``capture_for_coreml``). coremltools 9 converts the exported program
   cleanly; ``torch.jit.trace`` bakes the head's ``reshape(b, k, h*w)`` into ops its TorchScript
   frontend cannot convert.
2. lower (``convert``): coremltools 9 -> ``mlprogram`` with named input ``image`` (1,3,80,80) fp32
   and outputs ``landmarks`` (1,68,2), ``scale`` (1,68) fp32; ``compute_precision`` FLOAT32 or
   FLOAT16 (fp16 inserts the casts inside the program; the interface stays fp32).
3. quantize (weight-only rows): ``coremltools.optimize`` through ``edge_lmk.compress.quantize``.
4. embed (``annotate``): preprocessing contract + short model card (the checkpoint's config and
   the family's architecture) in ``user_defined_metadata``, author / license / description / version.
5. save: the package written to a hidden temporary beside ``out``, made reproducible
   (``normalize_package``: no debug mapping, identifiers derived from item paths, deterministic
   protobuf) and sealed with its sha256 (``edge_lmk.runtimes.integrity``); the smoke run loads that
   temporary in ``CoreMLPredictor`` (Core ML on macOS, the MIL emulator elsewhere) on a real face;
6. rename into place, then the sidecar ``<out>.json`` (``x.mlpackage.json``).
A failure at any stage leaves ``out`` as it was (absent, or the previous artifact) and no
temp directory behind. coremltools' own temporary packages (normally in ``$TMPDIR``, removed
only at interpreter exit) live in a hidden directory beside ``out`` (``CoreMLBackend.staging``), so a
run killed with SIGKILL leaves them where the next ``export.all`` removes them (``remove_stale_temps``).
"""
from __future__ import annotations

import contextlib
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
from edge_lmk.compress.op_precision import coreml_precision
from edge_lmk.files import tool_versions
from edge_lmk.models import ModelSpec, count_params
from edge_lmk.models.family import architecture
from edge_lmk.runtimes import integrity
from edge_lmk.runtimes.coreml_runtime import INPUT_NAME, META_CARD, META_CONTRACT, META_INTEGRITY, OUTPUT_NAMES

from .capture import capture
from .pipeline import Backend, ExportError, Job, run

PRECISIONS = ("fp32", "fp16", "int8-weights", "palettized-8bit", "palettized-4bit")
SIDECAR_FORMAT = "edge-lmk-coreml/1"  # the package's own metadata tag (edge_lmk.format); the sidecar is the shared one
LICENSE = ("Code: Apache-2.0. Weights: trained on 300-W (iBUG; LFPW/HELEN photos), research and non-commercial "
           "use only; see edge_lmk/sample/README.md.")


# ------------------------------------------------------------------------------------------
# stages
# ------------------------------------------------------------------------------------------

def capture_for_coreml(program: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """The shared capture (``export.capture``) in inference IR with an empty decomposition table:
    functional ops, conv/softmax kept whole, which is what coremltools 9 converts cleanly."""
    return program.run_decompositions({})


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
    params = count_params(model)
    # The checkpoint's configuration (what rebuilds the network), without the pruning provenance (its config
    # and command stay in the sidecar and the weights' card): the package card is kept short.
    config = {k: v for k, v in spec.config().items() if k != "pruning"}
    card = {**config,
            # beta: what the network computes, whatever spec the caller passed
            "beta": float(model.head.beta), "params": params, "precision": precision,
            "family": spec.family, "architecture": architecture(spec, params),
            "outputs": "landmarks (1,68,2) crop pixels (x, y); scale (1,68) predicted spread, lower = more confident",
            "edge_lmk_version": EDGE_LMK_VERSION}
    if shipped.get("test_common"):
        card["pytorch_test_common_nme"] = shipped["test_common"].get("nme")
    if shipped.get("training"):
        card["epochs_trained"] = shipped["training"].get("epochs_trained")
    return card


def annotate(mlmodel, model: torch.nn.Module, spec: ModelSpec, precision: str) -> None:
    s = spec.contract.input_size
    card = model_card(model, spec, precision)
    mlmodel.author = "edge-lmk"
    mlmodel.license = LICENSE
    mlmodel.version = f"{EDGE_LMK_VERSION}+{spec.name}.{precision}"
    mlmodel.short_description = (
        f"{spec.name} ({precision}): 68-point facial landmarks from a {s}x{s} RGB face crop. "
        f"{card['architecture']}, width {spec.width}, {spec.loss} loss. Crop and scaling follow the "
        f"'{META_CONTRACT}' metadata.")
    mlmodel.input_description[INPUT_NAME] = (
        f"(1,3,{s},{s}) float32 RGB in [0,1] (uint8 * {spec.contract.pixel_scale:.8g}), NCHW, crop rule "
        f"'{spec.contract.crop_rule}' x{spec.contract.crop_scale}")
    mlmodel.output_description["landmarks"] = "(1,68,2) landmark (x, y) in crop pixels, pixel i spans [i, i+1)"
    mlmodel.output_description["scale"] = "(1,68) predicted spread in crop pixels; lower = more confident"
    meta = mlmodel.user_defined_metadata
    meta[META_CONTRACT] = spec.contract.to_json()
    meta[META_CARD] = json.dumps(card, sort_keys=True, separators=(",", ":"))
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


# ------------------------------------------------------------------------------------------
# the pipeline's backend
# ------------------------------------------------------------------------------------------

class CoreMLBackend(Backend):
    """The pipeline's stages for ``.mlpackage``: coremltools conversion of the captured program,
    coremltools.optimize on the converted model (weight-only rows), metadata and card, then a package
    saved deterministically and sealed. coremltools' own temporaries live in a hidden folder beside the
    artifact (``staging``), so a run killed with SIGKILL leaves them where ``remove_stale_temps`` finds them."""

    format, suffix, precisions, quantizes = "coreml", ".mlpackage", PRECISIONS, "lowered"

    @contextlib.contextmanager
    def staging(self, job: Job) -> Iterator[None]:
        scratch = Path(tempfile.mkdtemp(dir=job.path.parent, prefix=f".{job.path.stem}.", suffix=".tmp"))
        try:
            with temporaries_in(scratch / "tmp"):
                yield
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def capture(self, model: torch.nn.Module, job: Job) -> torch.export.ExportedProgram:
        return capture_for_coreml(capture(model, job.spec, named_input=False))

    def lower(self, program, model: torch.nn.Module, job: Job):
        return convert(program, job.spec, job.precision)

    def embed(self, mlmodel, job: Job):
        annotate(mlmodel, job.model, job.spec, job.precision)
        job.report["op_precision"] = coreml_precision(mlmodel)
        return mlmodel

    def save(self, mlmodel, tmp: Path, job: Job) -> None:
        mlmodel.save(str(tmp))
        normalize_package(tmp)
        integrity.seal_package(tmp)

    def sidecar_extra(self, job: Job) -> dict:
        return {"capture": "torch.export", "minimum_deployment_target": "iOS16",
                "tools": {**tool_versions(("coremltools", "torch")), "edge_lmk": EDGE_LMK_VERSION}}


BACKEND = CoreMLBackend()


def export(model: torch.nn.Module, spec: ModelSpec, out: Path, precision: str = "fp32", config=None) -> Path:
    """Export ``model`` to ``out`` (an ``.mlpackage`` path, or a folder) at one of ``PRECISIONS``; -> the package.

    Also writes ``<package>.json`` beside it (contract, config, bytes, sha256, smoke-run result, ...)."""
    return run(BACKEND, model, spec, out, precision, config)
