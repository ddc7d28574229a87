"""Model compression as config objects applied by one function, ``quantize(obj, config, spec)``.

    from edge_lmk.compress import Int8Config, quantize, config_for
    gm = quantize(exported_program, Int8Config("xnnpack"), spec)      # PT2E int8, head in float
    ml = quantize(mlmodel, CoreMLWeightConfig("palettize", nbits=4))  # coremltools.optimize

``config_for(format, precision)`` is the one table the exporters (``export/targets.py`` rows)
look precisions up in. Measured numbers: ``edge_lmk/compress/README.md``.
"""
from __future__ import annotations

from typing import Any

from .config import Calibration, CoreMLWeightConfig, Int8Config

# (format, precision) -> config; the exporters' ``precision`` argument is looked up here.
PRECISION_CONFIGS: dict[tuple[str, str], Int8Config | CoreMLWeightConfig] = {
    # Per-tensor weights for .pte: per-channel costs a scale and an int32 bias constant per conv,
    # each named by a SHA-256 key in the delegate and the program (1/16: 40,864 -> 32,352 bytes),
    # and measured no better on 300-W common (1/16 +0.40% vs +0.12%, 1/8 +0.41% vs +0.43% NME
    # over fp32; edge_lmk/compress/README.md).
    ("executorch", "int8"): Int8Config("xnnpack", per_channel=False),
    ("tflite", "int8"): Int8Config("litert", int8_activations=False),
    ("coreml", "int8-weights"): CoreMLWeightConfig("linear"),
    ("coreml", "palettized-8bit"): CoreMLWeightConfig("palettize", nbits=8),
    ("coreml", "palettized-4bit"): CoreMLWeightConfig("palettize", nbits=4),
}


def config_for(fmt: str, precision: str):
    """The compression config of a (format, precision) pair; None for float precisions."""
    if precision in ("fp32", "fp16"):
        return None
    try:
        return PRECISION_CONFIGS[(fmt, precision)]
    except KeyError:
        have = sorted(p for f, p in PRECISION_CONFIGS if f == fmt)
        raise ValueError(f"{fmt}: no compression config for precision {precision!r} "
                         f"(have {', '.join(have) or 'none'})") from None


def quantize(obj: Any, config, spec=None, calibration=None) -> Any:
    """Apply ``config`` with the backend's own library; returns the compressed object.

    - ``Int8Config("xnnpack")``: ``obj`` is a float ``torch.export.ExportedProgram``; returns the
      converted PT2E ``GraphModule`` (re-export it, then lower to XNNPACK).
    - ``Int8Config("litert")``: ``obj`` is a float ``.tflite`` flatbuffer (bytes); returns the
      ai-edge-quantizer int8 flatbuffer.
      For both, ``calibration`` is (N,3,S,S) crops, or None to cut ``config.calibration``
      training faces by ``spec.contract``.
    - ``CoreMLWeightConfig``: ``obj`` is a ``coremltools.models.MLModel``; returns a new one.
    """
    if isinstance(config, Int8Config):
        import numpy as np
        import torch

        from .calibration import calibration_inputs
        from .pt2e import quantize_program

        if calibration is None:
            if spec is None:
                raise ValueError("quantize: Int8Config needs spec (for its crop contract) or calibration crops")
            calibration = calibration_inputs(config.calibration, spec.contract)
        if config.backend == "litert":
            from .litert_aeq import quantize_tflite

            if spec is None:
                raise ValueError("quantize: Int8Config('litert') needs spec (for the number of landmarks)")
            return quantize_tflite(bytes(obj), config, np.asarray(calibration), spec.contract.num_landmarks)
        return quantize_program(obj, config, torch.as_tensor(calibration))
    if isinstance(config, CoreMLWeightConfig):
        from .coreml_weights import compress_weights

        return compress_weights(obj, config)
    raise TypeError(f"quantize: unknown config {type(config).__name__}; expected Int8Config or CoreMLWeightConfig")


__all__ = ["Calibration", "CoreMLWeightConfig", "Int8Config", "PRECISION_CONFIGS", "config_for", "quantize"]
