"""PyTorch -> LiteRT ``.tflite`` with ``litert_torch`` (no ONNX or TensorFlow in between).

The stages of ``export.pipeline``: capture (``torch.export``) -> lower: ``litert_torch.convert`` of the
captured graph -> quantize (int8 rows, on the float flatbuffer) -> embed: contract JSON added to the
flatbuffer's ``metadata`` table, intermediate tensor names dropped -> atomic save after a smoke run in ``ai_edge_litert`` -> sidecar.

The input stays NCHW (1,3,S,S) as the contract says: litert-torch inserts the layout
transposes itself, so callers feed exactly what the other runtimes get.

fp16 is litert-torch's ``full_fp16_recipe``: weights stored as float16 and dequantized
once at load (litert-torch's FLOAT_CAST, weight-only). Activations stay float32 on CPU;
the GPU delegate runs such models in fp16. It halves the weights, not the arithmetic.

int8 is litert-quantizer static int8 on that float model (``edge_lmk.compress.quantize`` with
``Int8Config("litert")``, calibrated on training faces): CONV_2D, MAX_POOL_2D and
RESIZE_NEAREST_NEIGHBOR run as int8 kernels, and so do the generator's PAD, CONCATENATION and
LeakyReLUs (rewritten before capture as ``max(x, slope * x)``, ``MaxLeakyReLU``); the head
(softmax, expectation, scale) stays float32, and the input/outputs stay float32 as the contract says. The sidecar's
``op_precision`` lists the interpreter's ops by the dtype they run in.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edge_lmk.models import ModelSpec
from edge_lmk.runtimes.artifact_meta import EMBEDDED_KEY

from .capture import INPUT_NAME, OUTPUT_NAMES, example_input
from .pipeline import Backend, Job, run

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


def convert(program: torch.export.ExportedProgram, spec: ModelSpec, precision: str) -> bytes:
    """ExportedProgram -> .tflite flatbuffer bytes with signature ``image`` -> ``landmarks``, ``scale``."""
    import litert_torch

    # litert-torch re-traces what it is given; giving it the captured graph keeps one capture for all targets.
    edge = litert_torch.convert(_NamedOutputs(program.module()), sample_kwargs={INPUT_NAME: example_input(spec)},
                                quant_config=_quant_config(precision))
    return edge.model_content()


def strip_tensor_names(model) -> int:
    """Blank the names of every tensor that is not a graph or signature input/output (in place; a
    ``ModelT``); returns the bytes of names removed.

    The converter names intermediate tensors after the traced Python path
    (``export.tflite._NamedOutputs;;...``): 3.9 KB of every file, a tenth of the fast 1/16 int8 model,
    read by no runtime. The interpreter addresses tensors by index and the signature keeps its own
    names (``image``, ``landmarks``, ``scale``); the I/O tensors keep theirs for tools that list them.
    """
    removed = 0
    for sg_index, sg in enumerate(model.subgraphs):
        keep = set(sg.inputs or []) | set(sg.outputs or [])
        for sig in model.signatureDefs or []:
            if sig.subgraphIndex == sg_index:
                keep |= {t.tensorIndex for t in (sig.inputs or []) + (sig.outputs or [])}
        for i, t in enumerate(sg.tensors):
            if i not in keep and t.name:
                removed += len(t.name)
                t.name = ""
    return removed


def embed_metadata(data: bytes, name: str, payload: str, strip_names: bool = False) -> bytes:
    """Add (or replace) a named entry in the flatbuffer ``metadata`` table; graph and weights are untouched
    (``strip_names``: also ``strip_tensor_names``)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    if strip_names:
        strip_tensor_names(model)
    buf = schema.BufferT()
    buf.data = np.frombuffer(payload.encode(), dtype=np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (name, name.encode())] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


class MaxLeakyReLU(torch.nn.Module):
    """LeakyReLU(slope) as ``max(x, slope * x)`` (equal for 0 <= slope <= 1): MUL and MAXIMUM in the
    flatbuffer, which litert-quantizer runs in int8, where its LEAKY_RELU stays float."""

    def __init__(self, negative_slope: float):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(x, x * self.negative_slope)


def int8_leaky_relus(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` with every ``nn.LeakyReLU`` module replaced by ``MaxLeakyReLU`` (a functional
    ``F.leaky_relu`` stays a float LEAKY_RELU: correct, only not int8)."""
    import copy

    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.LeakyReLU) and 0.0 <= child.negative_slope <= 1.0:
                setattr(parent, child_name, MaxLeakyReLU(child.negative_slope))
    return model


class LiteRTBackend(Backend):
    """The pipeline's stages for ``.tflite``: litert-torch lowering, then (int8 rows) litert-quantizer on
    the float flatbuffer, then the contract in the flatbuffer's metadata table."""

    format, suffix, precisions, quantizes = FORMAT, SUFFIX, PRECISIONS, "lowered"

    def rewrite(self, model: torch.nn.Module, job: Job) -> torch.nn.Module:
        if job.config is not None and getattr(job.config, "int8_activations", False):
            return int8_leaky_relus(model)
        return model

    def lower(self, program, model: torch.nn.Module, job: Job) -> bytes:
        return convert(program, job.spec, job.precision)

    def embed(self, data: bytes, job: Job) -> bytes:
        from edge_lmk.compress.op_precision import tflite_precision

        # bytes (the fp16 converter hands out a buffer); the debug names of intermediate tensors go
        data = embed_metadata(data, EMBEDDED_KEY, job.embedded, strip_names=True)
        job.report["op_precision"] = tflite_precision(data)
        return data

    def sidecar_extra(self, job: Job) -> dict:
        return {"converter": "litert-torch",
                "weights": {"fp16": "float16", "int8": "int8"}.get(job.precision, "float32")}


BACKEND = LiteRTBackend()


def export(model: torch.nn.Module, spec: ModelSpec, out: Path, precision: str = "fp32", config=None) -> Path:
    """Write ``out/<name>_<precision>.tflite`` (or ``out`` itself if it ends in .tflite); returns its path.

    ``config`` overrides the precision's compression config (``edge_lmk.compress.config_for``)."""
    return run(BACKEND, model, spec, out, precision, config)
