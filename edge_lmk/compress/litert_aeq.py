"""LiteRT int8: litert-quantizer static int8 on the float .tflite, op types chosen so the head stays float.

Why not litert-torch's PT2E path: its STATIC Q/DQ conversion turns the graph input into an
int8 tensor, which breaks the contract's float32 ``image`` input (and every runtime that feeds
it). litert-quantizer quantizes an existing float model and keeps float I/O, inserting
QUANTIZE/DEQUANTIZE at the boundaries of the quantized region.

``INT8_OPS`` are int8 wherever they are; the head has none of them. With ``int8_activations``
the elementwise and layout ops of ``GENERATOR_INT8_OPS`` are int8 too, but only in the
generator: the ops up to the family's logit convs, whose output tensors are renamed
``generator;<op index>`` so that a recipe scope can name them (the head's MULs and its
CONCATENATION stay float32). LEAKY_RELU has no int8 implementation in litert-quantizer's
policy; the LiteRT exporter writes each LeakyReLU as ``max(x, slope * x)`` (MUL, MAXIMUM),
which it has, so the generator becomes one int8 region instead of a DEQUANTIZE -> float
LEAKY_RELU -> QUANTIZE detour after every conv (measured in ``compress/README.md``).
"""
from __future__ import annotations

import re

import numpy as np

from .config import Int8Config

INT8_OPS = ("CONV_2D", "MAX_POOL_2D", "RESIZE_NEAREST_NEIGHBOR")
GENERATOR_INT8_OPS = ("PAD", "MUL", "MAXIMUM", "CONCATENATION")
GENERATOR_SCOPE = "generator;"
SIGNATURE = "serving_default"


def _proportional(found: np.ndarray, declared: np.ndarray) -> bool:
    """``found`` == c * ``declared`` for one c > 0, to float32 rounding."""
    f, d = found.astype(np.float64).ravel(), declared.astype(np.float64).ravel()
    if not d.any():
        return not f.any()
    c = float(f @ d) / float(d @ d)
    return c > 0 and bool(np.allclose(f, c * d, rtol=1e-5, atol=1e-6 * float(np.abs(f).max())))


def conv_outputs_with_weights(model_content: bytes, weights: list[np.ndarray]) -> list[str]:
    """Output tensor names of the CONV_2D ops whose filters are ``weights`` (PyTorch OIHW, float32).

    The layers are declared by the model's family and found here by their values (a .tflite keeps
    no module names), up to a positive factor: the converter folds the head's inverse temperature
    (``beta``, a multiply of the logits) into the logit conv. Each must match exactly one conv."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_content)
    interp.allocate_tensors()
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    convs = [op for op in interp._get_ops_details() if op["op_name"] == "CONV_2D"]
    names = []
    for w in weights:
        ohwi = np.ascontiguousarray(np.transpose(w, (0, 2, 3, 1)), np.float32)
        hits = [op for op in convs if tuple(tensors[op["inputs"][1]]["shape"]) == ohwi.shape
                and _proportional(interp.get_tensor(op["inputs"][1]), ohwi)]
        if len(hits) != 1:
            raise RuntimeError(f"{len(hits)} CONV_2D ops carry the weights of a layer declared float-only "
                               f"(shape {w.shape}); expected exactly one")
        names.append(tensors[hits[0]["outputs"][0]]["name"])
    return names


def mark_generator(model_content: bytes, logit_weights: list[np.ndarray]) -> bytes:
    """Rename the output tensors of every op up to the last conv carrying ``logit_weights`` (the
    family's ``ExportHints.logit_layers``, PyTorch OIHW) to ``generator;<op index>;``: the region a
    recipe scope can then name. TFLite ops are in execution order, so nothing of the head (which
    reads the logits) comes before them."""
    from ai_edge_litert.tools import flatbuffer_utils

    names = set(conv_outputs_with_weights(model_content, logit_weights))
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_content))
    graph = model.subgraphs[0]
    ends = [i for i, op in enumerate(graph.operators)
            if any(graph.tensors[t].name.decode() in names for t in op.outputs)]
    for i, op in enumerate(graph.operators[:max(ends) + 1]):
        for t in op.outputs:
            # the closing ';' keeps op 5's name from being a prefix (a regex match) of op 50's
            graph.tensors[t].name = f"{GENERATOR_SCOPE}{i};"
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def quantize_tflite(float_model: bytes, config: Int8Config, calibration: np.ndarray,
                    float_weights: list[np.ndarray] = (), input_name: str = "image",
                    logit_weights: list[np.ndarray] = ()) -> bytes:
    """Static int8 (per-channel or per-tensor weights as ``config.per_channel`` says, per-tensor
    activations) of the generator ops; the convs
    carrying ``float_weights`` (the family's float-only layers, ``compress.float_layers``) stay float.
    With ``config.int8_activations``, ``logit_weights`` (the family's logit convs) mark where the
    generator ends, and its PAD, MUL, MAXIMUM and CONCATENATION ops are int8 as well."""
    from litert_quantizer import qtyping, quantizer
    from litert_quantizer.algorithm_manager import AlgorithmName

    granularity = qtyping.QuantGranularity.CHANNELWISE if config.per_channel else qtyping.QuantGranularity.TENSORWISE
    scoped = config.int8_activations and len(logit_weights) > 0
    if scoped:
        float_model = mark_generator(float_model, list(logit_weights))
    qt = quantizer.Quantizer(bytearray(float_model))
    ops = [(".*", op) for op in INT8_OPS]
    if scoped:
        ops += [(re.escape(GENERATOR_SCOPE) + ".*", op) for op in GENERATOR_INT8_OPS]
    ops += [(".*", op) for op in config.litert_head_ops]
    for regex, op in ops:
        qt.add_static_config(regex, getattr(qtyping.TFLOperationName, op), activation_num_bits=8, weight_num_bits=8,
                             weight_granularity=granularity)
    for name in conv_outputs_with_weights(float_model, list(float_weights)) if len(float_weights) else ():
        # Later scopes override earlier ones: this conv keeps float weights and activations.
        qt.update_quantization_recipe(regex=re.escape(name), operation_name=qtyping.TFLOperationName.CONV_2D,
                                      algorithm_key=AlgorithmName.NO_QUANTIZE)
    samples = [{input_name: np.ascontiguousarray(x[None], dtype=np.float32)} for x in calibration]
    result = qt.quantize(qt.calibrate({SIGNATURE: samples}, num_threads=1), enable_progress_report=False)
    return bytes(result.quantized_model)
