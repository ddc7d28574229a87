"""Core ML weight compression with ``coremltools.optimize.coreml`` (weights only; compute stays fp32).

The head has no weights, so it is untouched by construction; ``heatmap_conv=False`` also
skips the convs the model's family declares as its heatmap-logit layers. Targets iOS16 ops (``constexpr_affine_dequantize``,
``constexpr_lut_to_dense``), matching the packages' deployment target.
"""
from __future__ import annotations

import numpy as np

from .config import CoreMLWeightConfig

# Tensors smaller than this stay float (per-op overhead beats the saving); coremltools' default
# is 2048, which would leave most of the 1/16 model uncompressed.
MIN_WEIGHT_ELEMENTS = 64


def conv_ops_with_weights(mlmodel, weights: list[np.ndarray]) -> list[str]:
    """Names of the conv ops whose weights are ``weights`` (PyTorch OIHW): the family's float-only
    layers, found by value (each must match exactly one conv)."""
    convs = [op for op in mlmodel._mil_program.functions["main"].operations if op.op_type == "conv"]
    names = []
    for w in weights:
        hits = [op for op in convs if op.weight.val is not None and tuple(op.weight.shape) == w.shape
                and np.array_equal(np.asarray(op.weight.val, np.float32), w)]
        if len(hits) != 1:
            raise RuntimeError(f"{len(hits)} Core ML conv ops carry the weights of a layer declared float-only "
                               f"(shape {w.shape}); expected exactly one")
        names.append(hits[0].name)
    return names


def compress_weights(mlmodel, config: CoreMLWeightConfig, float_weights: list[np.ndarray] = ()):
    """MLModel (fp32 ML program) -> new MLModel with int8 or palettized conv weights; the convs
    carrying ``float_weights`` (``compress.float_layers``) stay float."""
    import coremltools.optimize.coreml as cto

    if config.mode == "linear":
        op_config = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                                weight_threshold=MIN_WEIGHT_ELEMENTS)
    else:
        op_config = cto.OpPalettizerConfig(mode="kmeans", nbits=config.nbits, granularity="per_tensor",
                                           weight_threshold=MIN_WEIGHT_ELEMENTS)
    skip = {name: None for name in conv_ops_with_weights(mlmodel, list(float_weights))}
    opt = cto.OptimizationConfig(global_config=op_config, op_name_configs=skip)
    if config.mode == "linear":
        return cto.linear_quantize_weights(mlmodel, opt)
    return cto.palettize_weights(mlmodel, opt)
