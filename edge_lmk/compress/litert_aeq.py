"""LiteRT int8: ai-edge-quantizer static int8 on the float .tflite, op types chosen so the head stays float.

Why not litert-torch's PT2E path: its STATIC Q/DQ conversion turns the graph input into an
int8 tensor, which breaks the contract's float32 ``image`` input (and every runtime that feeds
it). ai-edge-quantizer quantizes an existing float model and keeps float I/O, inserting
QUANTIZE/DEQUANTIZE at the boundaries of the quantized region.

Only generator op types are listed (``INT8_OPS``); SOFTMAX, SUM, MUL, SUB, ABS, MEAN and the
head's CONCATENATION are never in the recipe, so they run in float32. LEAKY_RELU has no int8
implementation in ai-edge-quantizer's policy and stays float between the int8 convolutions.
"""
from __future__ import annotations

import re

import numpy as np

from .config import Int8Config

INT8_OPS = ("CONV_2D", "MAX_POOL_2D", "RESIZE_NEAREST_NEIGHBOR")
SIGNATURE = "serving_default"


def heatmap_conv_output(model_content: bytes, num_landmarks: int) -> str:
    """Name of the output tensor of the last CONV_2D with ``num_landmarks`` filters (to_heatmaps)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_content)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    convs = [op for op in interp._get_ops_details()
             if op["op_name"] == "CONV_2D" and tensors[op["inputs"][1]]["shape"][0] == num_landmarks]
    if not convs:
        raise RuntimeError(f"no CONV_2D with {num_landmarks} filters found (the heatmap conv)")
    return tensors[convs[-1]["outputs"][0]]["name"]


def quantize_tflite(float_model: bytes, config: Int8Config, calibration: np.ndarray, num_landmarks: int,
                    input_name: str = "image") -> bytes:
    """Static int8 (per-channel weights, per-tensor activations) of the generator ops."""
    from ai_edge_quantizer import qtyping, quantizer
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    granularity = qtyping.QuantGranularity.CHANNELWISE if config.per_channel else qtyping.QuantGranularity.TENSORWISE
    qt = quantizer.Quantizer(bytearray(float_model))
    for op in INT8_OPS:
        qt.add_static_config(".*", getattr(qtyping.TFLOperationName, op), activation_num_bits=8, weight_num_bits=8,
                             weight_granularity=granularity)
    if not config.heatmap_conv:
        # Later scopes override earlier ones: this one conv keeps float weights and activations.
        qt.update_quantization_recipe(regex=re.escape(heatmap_conv_output(float_model, num_landmarks)),
                                      operation_name=qtyping.TFLOperationName.CONV_2D,
                                      algorithm_key=AlgorithmName.NO_QUANTIZE)
    samples = [{input_name: np.ascontiguousarray(x[None], dtype=np.float32)} for x in calibration]
    result = qt.quantize(qt.calibrate({SIGNATURE: samples}, num_threads=1), enable_progress_report=False)
    return bytes(result.quantized_model)
