"""PT2E post-training int8 for ExecuTorch: annotate the generator's convolutions, calibrate, convert.

The quantizer is XNNPACK's own; we only choose *where* it applies. Given the whole graph it
would also quantize the head's ``mul``/``add`` (the soft-argmax expectation): int8 probabilities
over 6400 bins move coordinates by tens of pixels. So annotation is limited to nodes traced
inside ``generator`` and the head never sees a quantize node.
"""
from __future__ import annotations

import torch
from torch.fx import GraphModule

from .config import Int8Config

GENERATOR = "generator"
HEATMAP_CONV = "to_heatmaps"


def _module_path(node) -> str:
    """Dotted path of the innermost module a node was traced from ('' for top-level ops)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    return list(stack.values())[-1][0]


def in_generator(node, heatmap_conv: bool) -> bool:
    """True for nodes traced inside the generator (optionally excluding the final 1x1 conv).

    Weights and biases (placeholders / get_attr) carry no module stack; the annotators ask the
    filter about them too, so they pass and their consuming conv decides.
    """
    if node.op != "call_function":
        return True
    parts = _module_path(node).replace("L['self'].", "").split(".")
    if GENERATOR not in parts:
        return False
    return heatmap_conv or HEATMAP_CONV not in parts


def make_quantizer(config: Int8Config):
    """The XNNPACK PT2E quantizer, restricted to the generator."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                          get_symmetric_quantization_config)

    return (XNNPACKQuantizer()
            .set_global(get_symmetric_quantization_config(is_per_channel=config.per_channel))
            .set_filter_function(lambda n: in_generator(n, config.heatmap_conv)))


def quantize_program(program: torch.export.ExportedProgram, config: Int8Config,
                     calibration: torch.Tensor) -> GraphModule:
    """ExportedProgram (float) -> converted GraphModule with Q/DQ around the generator's convs.

    ``calibration``: (N,3,S,S) float32 training crops, run one at a time (the graph is batch 1).
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = program.module()
    prepared = prepare_pt2e(graph, make_quantizer(config))
    with torch.no_grad():
        for x in calibration:
            prepared(x.unsqueeze(0))
    return convert_pt2e(prepared)
