"""Model compression as config objects applied by one function, ``quantize(obj, config, spec)``.

    from edge_lmk.compress import Int8Config, quantize, config_for
    gm = quantize(exported_program, Int8Config("xnnpack"), spec)      # PT2E int8, head in float
    ml = quantize(mlmodel, CoreMLWeightConfig("palettize", nbits=4))  # coremltools.optimize

``config_for(format, precision)`` is the one table the exporters (``export/targets.py`` rows)
look precisions up in. Measured numbers: ``edge_lmk/compress/README.md``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..models.family import export_hints
from .config import Calibration, CoreMLWeightConfig, Int8Config

# (format, precision) -> config; the exporters' ``precision`` argument is looked up here.
PRECISION_CONFIGS: dict[tuple[str, str], Int8Config | CoreMLWeightConfig] = {
    # Per-tensor weights for .pte: per-channel costs a scale and an int32 bias constant per conv,
    # each named by a SHA-256 key in the delegate and the program (1/16: 40,864 -> 32,352 bytes),
    # and measured no better on 300-W common (1/16 +0.40% vs +0.12%, 1/8 +0.41% vs +0.43% NME
    # over fp32; edge_lmk/compress/README.md).
    ("executorch", "int8"): Int8Config("xnnpack", per_channel=False),
    # Per-tensor weights for .tflite as well: its per-channel tables cost 24 bytes per output channel
    # (float scale + int64 zero point, for the filter and again for the bias), 7 KB of the fast 1/8
    # file, for no NME or speed (compress/README.md). int8 activations in LiteRT too where the family
    # opts in: LeakyReLU as MUL + MAXIMUM (``litert_aeq``).
    ("tflite", "int8"): Int8Config("litert", per_channel=False),
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


def for_model(config, model):
    """``config`` as it applies to ``model``: a family whose graph needs float activations in int8
    (``ExportHints.int8_activations``), or for LiteRT one that has not opted in
    (``ExportHints.litert_int8_activations``), gets ``int8_activations=False``. Exporters record this config."""
    if isinstance(config, Int8Config) and config.int8_activations:
        hints = export_hints(model)
        if not hints.int8_activations or (config.backend == "litert" and not hints.litert_int8_activations):
            return replace(config, int8_activations=False)
    return config


def float_layers(model, config) -> tuple[str, ...]:
    """Module names (inside the ``LandmarkNet``) that ``config`` keeps float, as the model's family
    declares them (``ExportHints.logit_layers`` when ``heatmap_conv=False``); every backend keeps
    exactly these, found by name (PT2E) or by their weights in the converted graph (LiteRT, Core ML)."""
    if getattr(config, "heatmap_conv", True):
        return ()
    hints = export_hints(model)
    return hints.scoped(hints.logit_layers)


def _float_weights(model, names: tuple[str, ...]) -> list:
    return [model.get_submodule(n).weight.detach().cpu().numpy() for n in names]


def quantize(obj: Any, config, spec=None, calibration=None, model=None) -> Any:
    """Apply ``config`` with the backend's own library; returns the compressed object.

    ``model``: the float ``LandmarkNet`` that ``obj`` was made from; needed when the config keeps
    layers float (``heatmap_conv=False``), which its family declares.

    - ``Int8Config("xnnpack")``: ``obj`` is a float ``torch.export.ExportedProgram``; returns the
      converted PT2E ``GraphModule`` (re-export it, then lower to XNNPACK).
    - ``Int8Config("litert")``: ``obj`` is a float ``.tflite`` flatbuffer (bytes); returns the
      litert-quantizer int8 flatbuffer.
      For both, ``calibration`` is (N,3,S,S) crops, or None to cut ``config.calibration``
      training faces by ``spec.contract``.
    - ``CoreMLWeightConfig``: ``obj`` is a ``coremltools.models.MLModel``; returns a new one.
    """
    if not getattr(config, "heatmap_conv", True) and model is None:
        raise ValueError(f"quantize: {type(config).__name__}(heatmap_conv=False) needs the float model, whose "
                         f"family declares the layers to keep float")
    if model is not None:
        config = for_model(config, model)
    keep_float = float_layers(model, config) if model is not None else ()
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

            hints = export_hints(model) if model is not None else None
            logits = _float_weights(model, hints.scoped(hints.logit_layers)) \
                if hints is not None and config.int8_activations else []
            return quantize_tflite(bytes(obj), config, np.asarray(calibration), _float_weights(model, keep_float),
                                   logit_weights=logits)
        return quantize_program(obj, config, torch.as_tensor(calibration), keep_float)
    if isinstance(config, CoreMLWeightConfig):
        from .coreml_weights import compress_weights

        return compress_weights(obj, config, _float_weights(model, keep_float))
    raise TypeError(f"quantize: unknown config {type(config).__name__}; expected Int8Config or CoreMLWeightConfig")


__all__ = ["Calibration", "CoreMLWeightConfig", "Int8Config", "PRECISION_CONFIGS", "config_for", "float_layers",
           "for_model", "quantize"]
