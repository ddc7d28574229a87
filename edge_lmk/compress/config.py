"""Compression configs: what to do to a model, as plain frozen dataclasses.

A config says *what* (int8 convolutions with a float head, 4-bit palettized weights); the one
function ``edge_lmk.compress.quantize_`` says *how*, with the backend's maintained library
(PT2E quantizers for ExecuTorch/XNNPACK and LiteRT, ``coremltools.optimize`` for Core ML).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PT2E_BACKENDS = ("xnnpack", "litert")
COREML_MODES = ("linear", "palettize")


@dataclass(frozen=True)
class Calibration:
    """Training faces used to observe activation ranges; test faces are refused.

    ``data`` None = the training folders of ``../shared/data`` when present, else the
    bundled calibration sample (``edge_lmk.paths.SAMPLE_CALIB``). ``n_faces`` are taken
    evenly spaced over the sorted file list so every subset (HELEN, LFPW) is represented.
    """

    n_faces: int = 256
    data: tuple[Path, ...] | None = None

    def __post_init__(self):
        if self.n_faces < 1:
            raise ValueError(f"Calibration.n_faces must be >= 1, got {self.n_faces}")


@dataclass(frozen=True)
class Int8Config:
    """Static int8 (symmetric weights, per-channel or per-tensor; activations per-tensor affine) for the generator's
    convolutions; the soft-argmax head (softmax, expectation, scale) is never quantized.

    ``backend``: ``xnnpack`` = PT2E with the XNNPACK quantizer (ExecuTorch); ``litert`` =
    litert-quantizer static int8 on the float .tflite (see ``litert_aeq`` for why not PT2E).

    ``heatmap_conv``: quantize the final 1x1 ``to_heatmaps`` conv too (its output feeds the softmax
    logits directly, so its int8 output step becomes a logit step; measured in the README table).

    ``int8_activations``: also run the LeakyReLUs in int8 (``xnnpack``: XNNPACK's QS8 leaky_relu;
    ``litert``: the generator's PAD, MUL, MAXIMUM and CONCATENATION, with each LeakyReLU exported as
    ``max(x, slope * x)``). With them float, every activation is a dequantize/quantize pair in the graph.
    """

    backend: str
    per_channel: bool = True
    heatmap_conv: bool = True
    int8_activations: bool = True
    calibration: Calibration = field(default_factory=Calibration)
    # LiteRT op types of the head to quantize as well (e.g. ("SOFTMAX",)): a measurement knob; int8
    # probabilities were slower and less accurate (compress/README.md), so no precision uses it
    litert_head_ops: tuple[str, ...] = ()

    def __post_init__(self):
        if self.backend not in PT2E_BACKENDS:
            raise ValueError(f"Int8Config.backend must be one of {PT2E_BACKENDS}, got {self.backend!r}")


@dataclass(frozen=True)
class CoreMLWeightConfig:
    """Weight-only compression of a converted Core ML program (``coremltools.optimize.coreml``).

    ``mode="linear"``: int8 symmetric per-channel weights (``constexpr_affine_dequantize``);
    ``mode="palettize"``: ``nbits``-bit k-means lookup tables (``constexpr_lut_to_dense``).
    Activations stay float either way; weights are expanded at load.
    ``heatmap_conv``: compress the final 1x1 conv too.
    """

    mode: str
    nbits: int = 8
    heatmap_conv: bool = True

    def __post_init__(self):
        if self.mode not in COREML_MODES:
            raise ValueError(f"CoreMLWeightConfig.mode must be one of {COREML_MODES}, got {self.mode!r}")
        if self.mode == "linear" and self.nbits != 8:
            raise ValueError("CoreMLWeightConfig: linear mode is int8 only (nbits=8)")
        if self.nbits not in (1, 2, 3, 4, 6, 8):
            raise ValueError(f"CoreMLWeightConfig.nbits must be one of 1, 2, 3, 4, 6, 8, got {self.nbits}")
