"""PyTorch -> LiteRT ``.tflite`` with ``litert_torch`` (no ONNX or TensorFlow in between).

Stages: capture (``torch.export``) -> ``litert_torch.convert`` of the captured graph ->
contract JSON added to the flatbuffer's ``metadata`` table -> atomic save after a smoke run
in ``ai_edge_litert`` -> sidecar.

The input stays NCHW (1,3,S,S) as the contract says: litert-torch inserts the layout
transposes itself, so callers feed exactly what the other runtimes get.

fp16 is litert-torch's ``full_fp16_recipe``: weights stored as float16 and dequantized
once at load (litert-torch's FLOAT_CAST, weight-only). Activations stay float32 on CPU;
the GPU delegate runs such models in fp16. It halves the weights, not the arithmetic.

int8 is litert-quantizer static int8 on that float model (``edge_lmk.compress.quantize`` with
``Int8Config("litert")``, calibrated on training faces): CONV_2D, MAX_POOL_2D and
RESIZE_NEAREST_NEIGHBOR run as int8 kernels; the head (softmax, expectation, scale) stays
float32, and the input/outputs stay float32 as the contract says. The sidecar's
``op_precision`` lists the interpreter's ops by the dtype they run in.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edge_lmk.models import ModelSpec
from edge_lmk.runtimes.artifact_meta import EMBEDDED_KEY

from .artifact import contract_json, resolve_out, save_bytes, seal, write_sidecar
from .compression import describe
from .capture import INPUT_NAME, OUTPUT_NAMES, capture, example_input
from .smoke import smoke_run

FORMAT = "tflite"
SUFFIX = ".tflite"
PRECISIONS = ("fp32", "fp16", "int8")


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
    if precision != "fp16":
        return None
    from litert_torch.generative.quantize import quant_recipes

    return quant_recipes.full_fp16_recipe()


def convert(program: torch.export.ExportedProgram, spec: ModelSpec, precision: str, config=None,
            model: torch.nn.Module | None = None) -> bytes:
    """ExportedProgram -> .tflite flatbuffer bytes with signature ``image`` -> ``landmarks``, ``scale``.

    With an ``Int8Config`` the float flatbuffer is then quantized by litert-quantizer (``model``:
    the float model, whose family declares any float-only layers)."""
    import litert_torch

    # litert-torch re-traces what it is given; giving it the captured graph keeps one capture for all targets.
    edge = litert_torch.convert(_NamedOutputs(program.module()), sample_kwargs={INPUT_NAME: example_input(spec)},
                                quant_config=_quant_config(precision))
    data = edge.model_content()
    if config is not None:
        from edge_lmk.compress import quantize

        data = quantize(data, config, spec, model=model)
    return data


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


def export(model: torch.nn.Module, spec: ModelSpec, out: Path, precision: str = "fp32", config=None) -> Path:
    """Write ``out/<name>_<precision>.tflite`` (or ``out`` itself if it ends in .tflite); returns its path.

    ``config`` overrides the precision's compression config (``edge_lmk.compress.config_for``)."""
    if precision not in PRECISIONS:
        raise ValueError(f"tflite: precision {precision!r} not supported here (have {', '.join(PRECISIONS)})")
    from edge_lmk.compress import config_for
    from edge_lmk.compress.op_precision import tflite_precision

    config = config or (config_for(FORMAT, precision) if precision == "int8" else None)
    path = resolve_out(out, spec, precision, SUFFIX)
    program = capture(model, spec)
    data = convert(program, spec, precision, config, model)
    data = seal(embed_metadata(data, EMBEDDED_KEY, contract_json(spec, FORMAT, precision)))
    save_bytes(path, data, check=lambda tmp: smoke_run(tmp, spec))
    extra = {"runtime": "litert", "converter": "litert-torch", "op_precision": tflite_precision(data),
             "weights": {"fp16": "float16", "int8": "int8"}.get(precision, "float32")}
    if config is not None:
        extra["compression"] = describe(config)
    write_sidecar(path, spec, FORMAT, precision, extra)
    return path
