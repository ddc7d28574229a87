"""PyTorch -> ONNX (opset 18) with the dynamo exporter.

The stages of ``export.pipeline``: capture (``torch.export``) -> lower: ``torch.onnx.export`` of the
ExportedProgram with named input ``image`` and outputs ``landmarks``, ``scale`` -> embed: contract JSON
in ``metadata_props["edge_lmk"]``, ``onnx.checker`` -> atomic save after a smoke run in ONNX Runtime ->
sidecar.
"""
from __future__ import annotations

from pathlib import Path

import torch

from edge_lmk.models import ModelSpec
from edge_lmk.runtimes.artifact_meta import EMBEDDED_KEY

from .capture import INPUT_NAME, OUTPUT_NAMES, example_input
from .pipeline import Backend, Job, run

FORMAT = "onnx"
SUFFIX = ".onnx"
PRECISIONS = ("fp32",)
OPSET = 18


def convert(program: torch.export.ExportedProgram, spec: ModelSpec):
    """ExportedProgram -> onnx.ModelProto (weights inline; these models are far below the 2 GB limit)."""
    onnx_program = torch.onnx.export(program, (example_input(spec),), dynamo=True, opset_version=OPSET,
                                     input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                                     optimize=True, verbose=False, report=False, verify=False)
    return onnx_program.model_proto


def finalize(proto, embedded: str):
    """Drop per-node tracing provenance (stack traces, FX names: most of the file's bytes) and
    attach the contract; the graph itself is unchanged."""
    import onnx

    for node in proto.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    for value in (*proto.graph.input, *proto.graph.output, *proto.graph.value_info):
        del value.metadata_props[:]
    del proto.graph.metadata_props[:]
    entry = next((p for p in proto.metadata_props if p.key == EMBEDDED_KEY), None) or proto.metadata_props.add()
    entry.key, entry.value = EMBEDDED_KEY, embedded
    proto.producer_name = "edge-lmk export.onnx"
    onnx.checker.check_model(proto, full_check=True)
    return proto


class OnnxBackend(Backend):
    """The pipeline's stages for ``.onnx``: the dynamo exporter, then the contract in ``metadata_props``."""

    format, suffix, precisions = FORMAT, SUFFIX, PRECISIONS

    def lower(self, program, model: torch.nn.Module, job: Job):
        return convert(program, job.spec)

    def embed(self, proto, job: Job) -> bytes:
        return finalize(proto, job.embedded).SerializeToString()

    def sidecar_extra(self, job: Job) -> dict:
        return {"opset": OPSET}


BACKEND = OnnxBackend()


def export(model: torch.nn.Module, spec: ModelSpec, out: Path, precision: str = "fp32") -> Path:
    """Write ``out/<name>_<precision>.onnx`` (or ``out`` itself if it ends in .onnx); returns its path."""
    return run(BACKEND, model, spec, out, precision)
