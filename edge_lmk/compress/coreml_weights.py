"""Core ML weight compression with ``coremltools.optimize.coreml`` (weights only; compute stays fp32).

The head has no weights, so it is untouched by construction; ``heatmap_conv=False`` also
skips the final 1x1 conv. Targets iOS16 ops (``constexpr_affine_dequantize``,
``constexpr_lut_to_dense``), matching the packages' deployment target.
"""
from __future__ import annotations

from .config import CoreMLWeightConfig

# Tensors smaller than this stay float (per-op overhead beats the saving); coremltools' default
# is 2048, which would leave most of the 1/16 model uncompressed.
MIN_WEIGHT_ELEMENTS = 64


def _heatmap_conv_ops(mlmodel, num_landmarks: int = 68) -> list[str]:
    """Names of conv ops with ``num_landmarks`` output channels and a 1x1 kernel (to_heatmaps)."""
    prog = mlmodel._mil_program
    names = []
    for op in prog.functions["main"].operations:
        if op.op_type == "conv":
            shape = op.weight.shape
            if shape[0] == num_landmarks and tuple(shape[2:]) == (1, 1):
                names.append(op.name)
    return names


def compress_weights(mlmodel, config: CoreMLWeightConfig):
    """MLModel (fp32 ML program) -> new MLModel with int8 or palettized conv weights."""
    import coremltools.optimize.coreml as cto

    if config.mode == "linear":
        op_config = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                                weight_threshold=MIN_WEIGHT_ELEMENTS)
    else:
        op_config = cto.OpPalettizerConfig(mode="kmeans", nbits=config.nbits, granularity="per_tensor",
                                           weight_threshold=MIN_WEIGHT_ELEMENTS)
    skip = {} if config.heatmap_conv else {name: None for name in _heatmap_conv_ops(mlmodel)}
    opt = cto.OptimizationConfig(global_config=op_config, op_name_configs=skip)
    if config.mode == "linear":
        return cto.linear_quantize_weights(mlmodel, opt)
    return cto.palettize_weights(mlmodel, opt)
