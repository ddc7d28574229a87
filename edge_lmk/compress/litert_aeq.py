"""LiteRT int8: litert-quantizer static int8 on the float .tflite, op types chosen so the head stays float.

Why not litert-torch's PT2E path: its STATIC Q/DQ conversion turns the graph input into an
int8 tensor, which breaks the contract's float32 ``image`` input (and every runtime that feeds
it). litert-quantizer quantizes an existing float model and keeps float I/O, inserting
QUANTIZE/DEQUANTIZE at the boundaries of the quantized region.

Only generator op types are listed (``INT8_OPS``); SOFTMAX, SUM, MUL, SUB, ABS, MEAN and the
head's CONCATENATION are never in the recipe, so they run in float32. LEAKY_RELU has no int8
implementation in litert-quantizer's policy and stays float between the int8 convolutions.
"""
from __future__ import annotations

import re

import numpy as np

from .config import Int8Config

INT8_OPS = ("CONV_2D", "MAX_POOL_2D", "RESIZE_NEAREST_NEIGHBOR")
SIGNATURE = "serving_default"


def conv_outputs_with_weights(model_content: bytes, weights: list[np.ndarray]) -> list[str]:
    """Output tensor names of the CONV_2D ops whose filters are ``weights`` (PyTorch OIHW, float32).

    The layers to keep float are declared by the model's family and found here by their values
    (a .tflite keeps no module names); each must match exactly one conv."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_content)
    interp.allocate_tensors()
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    convs = [op for op in interp._get_ops_details() if op["op_name"] == "CONV_2D"]
    names = []
    for w in weights:
        ohwi = np.ascontiguousarray(np.transpose(w, (0, 2, 3, 1)), np.float32)
        hits = [op for op in convs if tuple(tensors[op["inputs"][1]]["shape"]) == ohwi.shape
                and np.array_equal(interp.get_tensor(op["inputs"][1]), ohwi)]
        if len(hits) != 1:
            raise RuntimeError(f"{len(hits)} CONV_2D ops carry the weights of a layer declared float-only "
                               f"(shape {w.shape}); expected exactly one")
        names.append(tensors[hits[0]["outputs"][0]]["name"])
    return names


def quantize_tflite(float_model: bytes, config: Int8Config, calibration: np.ndarray,
                    float_weights: list[np.ndarray] = (), input_name: str = "image") -> bytes:
    """Static int8 (per-channel weights, per-tensor activations) of the generator ops; the convs
    carrying ``float_weights`` (the family's float-only layers, ``compress.float_layers``) stay float."""
    from litert_quantizer import qtyping, quantizer
    from litert_quantizer.algorithm_manager import AlgorithmName

    granularity = qtyping.QuantGranularity.CHANNELWISE if config.per_channel else qtyping.QuantGranularity.TENSORWISE
    qt = quantizer.Quantizer(bytearray(float_model))
    for op in INT8_OPS:
        qt.add_static_config(".*", getattr(qtyping.TFLOperationName, op), activation_num_bits=8, weight_num_bits=8,
                             weight_granularity=granularity)
    for name in conv_outputs_with_weights(float_model, list(float_weights)) if len(float_weights) else ():
        # Later scopes override earlier ones: this conv keeps float weights and activations.
        qt.update_quantization_recipe(regex=re.escape(name), operation_name=qtyping.TFLOperationName.CONV_2D,
                                      algorithm_key=AlgorithmName.NO_QUANTIZE)
    samples = [{input_name: np.ascontiguousarray(x[None], dtype=np.float32)} for x in calibration]
    result = qt.quantize(qt.calibrate({SIGNATURE: samples}, num_threads=1), enable_progress_report=False)
    return bytes(result.quantized_model)
