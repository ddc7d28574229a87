"""PyTorch -> LiteRT ``.tflite`` with ``litert_torch`` (no ONNX or TensorFlow in between).

Stages: capture (``torch.export``) -> ``litert_torch.convert`` of the captured graph ->
contract JSON added to the flatbuffer's ``metadata`` table -> atomic save after a smoke run
in ``ai_edge_litert`` -> sidecar.

The input stays NCHW (1,3,S,S) as the contract says: litert-torch inserts the layout
transposes itself, so callers feed exactly what the other runtimes get.

fp16 is litert-torch's ``full_fp16_recipe``: weights stored as float16 and dequantized
once at load (ai-edge-quantizer FLOAT_CAST, weight-only). Activations stay float32 on CPU;
the GPU delegate runs such models in fp16. It halves the weights, not the arithmetic.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edge_lmk.models import ModelSpec
from edge_lmk.runtimes.artifact_meta import EMBEDDED_KEY

from .artifact import contract_json, resolve_out, save_bytes, write_sidecar
from .capture import INPUT_NAME, OUTPUT_NAMES, capture, example_input
from .smoke import smoke_run

FORMAT = "tflite"
SUFFIX = ".tflite"
PRECISIONS = ("fp32", "fp16")


class _NamedOutputs(torch.nn.Module):
    """litert-torch names signature outputs after dict keys; a tuple would give output_0/output_1."""

    def __init__(self, captured: torch.nn.Module):
        super().__init__()
        self.captured = captured
        # Named "captured", not "graph": a submodule called graph would shadow GraphModule.graph on re-export.
        # The captured GraphModule refuses .eval(); it is already inference-only, so only the
        # flag litert-torch inspects is cleared, which silences its training-mode warning.
        self.training = False

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(OUTPUT_NAMES, self.captured(image)))


def _quant_config(precision: str):
    if precision == "fp32":
        return None
    from litert_torch.generative.quantize import quant_recipes

    return quant_recipes.full_fp16_recipe()


def convert(program: torch.export.ExportedProgram, spec: ModelSpec, precision: str) -> bytes:
    """ExportedProgram -> .tflite flatbuffer bytes with signature ``image`` -> ``landmarks``, ``scale``."""
    import litert_torch

    # litert-torch re-traces what it is given; giving it the captured graph keeps one capture for all targets.
    edge = litert_torch.convert(_NamedOutputs(program.module()), sample_kwargs={INPUT_NAME: example_input(spec)},
                                quant_config=_quant_config(precision))
    return edge.model_content()


def embed_metadata(data: bytes, name: str, payload: str) -> bytes:
    """Add (or replace) a named entry in the flatbuffer ``metadata`` table; graph and weights are untouched."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    buf = schema.BufferT()
    buf.data = np.frombuffer(payload.encode(), dtype=np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (name, name.encode())] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def export(model: torch.nn.Module, spec: ModelSpec, out: Path, precision: str = "fp32") -> Path:
    """Write ``out/<name>_<precision>.tflite`` (or ``out`` itself if it ends in .tflite); returns its path."""
    if precision not in PRECISIONS:
        raise ValueError(f"tflite: precision {precision!r} not supported here (have {', '.join(PRECISIONS)})")
    path = resolve_out(out, spec, precision, SUFFIX)
    program = capture(model, spec)
    data = convert(program, spec, precision)
    data = embed_metadata(data, EMBEDDED_KEY, contract_json(spec, FORMAT, precision))
    save_bytes(path, data, check=lambda tmp: smoke_run(tmp, spec))
    write_sidecar(path, spec, FORMAT, precision, {"runtime": "litert", "converter": "litert-torch",
                                                  "weights": "float16" if precision == "fp16" else "float32"})
    return path
