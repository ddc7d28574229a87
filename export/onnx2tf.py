"""Optional second TFLite path: our ONNX export -> onnx2tf -> ``.tflite``.

onnx2tf pulls in TensorFlow, which conflicts with this project's pins, so it is not a
dependency: install it in a separate environment (export/README.md). ``export.targets``
lists this target only when ``onnx2tf`` is importable, and calling it without onnx2tf
raises ``TargetUnavailable`` with the install line. This path has not been run in the
pinned environment; ``python -m export.all --formats tflite`` in the onnx2tf environment
runs it through the same parity check as every other target.
"""
from __future__ import annotations

import glob
import importlib.util
import tempfile
from pathlib import Path

import torch

from edge_lmk.models import ModelSpec
from edge_lmk.runtimes.artifact_meta import EMBEDDED_KEY

from .artifact import contract_json, resolve_out
from .capture import INPUT_NAME
from .pipeline import Backend, Job, run
from .targets import TargetUnavailable

FORMAT = "tflite"
SUFFIX = ".tflite"
VARIANT = "onnx2tf"
PRECISIONS = ("fp32", "fp16")
INSTALL = ("onnx2tf is not installed. It is optional and needs TensorFlow; install it in a separate "
           "environment: pip install 'onnx2tf==1.28.*' 'tensorflow==2.21.*' (see export/README.md)")


def available() -> bool:
    return importlib.util.find_spec("onnx2tf") is not None


class Onnx2TfBackend(Backend):
    """The pipeline's stages for the onnx2tf ``.tflite``: ONNX, then onnx2tf, then the LiteRT metadata."""

    format, suffix, precisions = FORMAT, SUFFIX, PRECISIONS

    def lower(self, program, model: torch.nn.Module, job: Job) -> bytes:
        import onnx2tf

        from .onnx import convert as to_onnx
        from .onnx import finalize

        spec = job.spec
        proto = finalize(to_onnx(program, spec), contract_json(spec, "onnx", "fp32"))
        with tempfile.TemporaryDirectory(prefix="edge_lmk_onnx2tf_") as work:
            # keep_ncw_or_nchw_or_ncdhw_input_names keeps the (1,3,S,S) input of the contract
            # instead of onnx2tf's default NHWC rewrite.
            source = Path(work) / f"{spec.name}.onnx"
            source.write_bytes(proto.SerializeToString())
            onnx2tf.convert(input_onnx_file_path=str(source), output_folder_path=work,
                            keep_ncw_or_nchw_or_ncdhw_input_names=[INPUT_NAME],
                            copy_onnx_input_output_names_to_tflite=True, output_signaturedefs=True, non_verbose=True)
            want = "float16" if job.precision == "fp16" else "float32"
            found = sorted(glob.glob(f"{work}/*_{want}.tflite"))
            if not found:
                raise RuntimeError(f"onnx2tf wrote no *_{want}.tflite in {work}")
            return Path(found[0]).read_bytes()

    def embed(self, data: bytes, job: Job) -> bytes:
        from .tflite import embed_metadata

        return embed_metadata(data, EMBEDDED_KEY, job.embedded)

    def sidecar_extra(self, job: Job) -> dict:
        return {"converter": "onnx2tf"}


BACKEND = Onnx2TfBackend()


def export(model: torch.nn.Module, spec: ModelSpec, out: Path, precision: str = "fp32") -> Path:
    """Write ``out/<name>_<precision>_onnx2tf.tflite``; returns its path. Input kept NCHW."""
    if not available():
        raise TargetUnavailable(INSTALL)
    out = Path(out)
    if out.suffix.lower() != SUFFIX:  # a folder: the variant goes into the file name
        out = resolve_out(out, spec, precision, SUFFIX, VARIANT)
    return run(BACKEND, model, spec, out, precision)
