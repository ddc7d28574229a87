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

from ..models.family import QUANT_SCOPE


def _module_path(node) -> str:
    """Dotted path of the innermost module a node was traced from ('' for top-level ops)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    return list(stack.values())[-1][0]


def _within(path: str, name: str) -> bool:
    """Whether the dotted module ``path`` lies in module ``name``, matched on whole path segments and
    wherever it starts: the captured graph wraps the model (``export.capture.NamedIO.model``)."""
    return f".{name}." in f".{path}."


def in_generator(node, float_layers: tuple[str, ...] = ()) -> bool:
    """True for nodes traced inside the generator (``family.QUANT_SCOPE``) and outside
    ``float_layers`` (dotted module names in the model, e.g. the family's logit layers).

    Weights and biases (placeholders / get_attr) carry no module stack; the annotators ask the
    filter about them too, so they pass and their consuming conv decides.
    """
    if node.op != "call_function":
        return True
    path = _module_path(node).replace("L['self'].", "")
    return _within(path, QUANT_SCOPE) and not any(_within(path, f) for f in float_layers)


ANNOTATION = "quantization_annotation"


def make_quantizer(config: Int8Config, float_layers: tuple[str, ...] = ()):
    """XNNPACK's PT2E quantizer, confined to the generator less ``float_layers``; see ``GeneratorQuantizer``."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                          get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, Quantizer, SharedQuantizationSpec

    qconfig = get_symmetric_quantization_config(is_per_channel=config.per_channel)
    per_tensor = get_symmetric_quantization_config(is_per_channel=False)
    keep = lambda n: in_generator(n, float_layers)  # noqa: E731
    xnnpack = XNNPACKQuantizer().set_global(qconfig).set_filter_function(keep)
    act = qconfig.input_activation
    # XNNPACK's QS8 max-pool needs one scale on both sides.
    shared_ops = (torch.ops.aten.max_pool2d.default,)

    class GeneratorQuantizer(Quantizer):
        """The XNNPACK quantizer's annotations, then two corrections:

        - annotations outside the generator are dropped: its ``cat`` annotator ignores the
          filter function, and a quantized concatenation in the head rounds landmark
          coordinates to int8 steps;
        - with ``config.int8_activations``, the LeakyReLUs get an int8 output and the
          max-pools after them share their input's scale. XNNPACK's quantizer has
          no LeakyReLU pattern, so each one sat between a dequantize and a quantize in float;
          XNNPACK itself has a QS8 LeakyReLU kernel (``export.executorch.partitioner_configs``).
          The generator then becomes one int8 region.
        """

        def annotate(self, model: GraphModule) -> GraphModule:
            for node in model.graph.nodes:
                # The upsampling transposed convs (``export.delegable.NearestUp2x``): their 0/1
                # weights are exact per-tensor, and they need no per-channel scales.
                if node.op == "call_function" and node.target == torch.ops.aten.conv_transpose2d.input \
                        and keep(node):
                    node.meta[ANNOTATION] = QuantizationAnnotation(
                        input_qspec_map={node.args[0]: act, node.args[1]: per_tensor.weight},
                        output_qspec=act, _annotated=True)
            xnnpack.annotate(model)
            for node in model.graph.nodes:
                if node.op == "call_function" and ANNOTATION in node.meta and not keep(node):
                    del node.meta[ANNOTATION]
            if config.int8_activations:
                for node in model.graph.nodes:
                    if node.op != "call_function" or not keep(node) or ANNOTATION in node.meta:
                        continue
                    src = node.args[0]
                    if node.target == torch.ops.aten.leaky_relu.default:
                        node.meta[ANNOTATION] = QuantizationAnnotation(
                            input_qspec_map={src: act}, output_qspec=act, _annotated=True)
                    elif node.target in shared_ops and isinstance(src, torch.fx.Node) and ANNOTATION in src.meta:
                        node.meta[ANNOTATION] = QuantizationAnnotation(
                            input_qspec_map={src: SharedQuantizationSpec(src)},
                            output_qspec=SharedQuantizationSpec((src, node)), _annotated=True)
            return model

        def validate(self, model: GraphModule) -> None:
            xnnpack.validate(model)

    return GeneratorQuantizer()


def quantize_program(program: torch.export.ExportedProgram, config: Int8Config,
                     calibration: torch.Tensor, float_layers: tuple[str, ...] = ()) -> GraphModule:
    """ExportedProgram (float) -> converted GraphModule with Q/DQ around the generator's convs.

    ``calibration``: (N,3,S,S) float32 training crops, run one at a time (the graph is batch 1).
    ``float_layers``: module names that stay float (``compress.float_layers``).
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = program.module()
    prepared = prepare_pt2e(graph, make_quantizer(config, float_layers))
    with torch.no_grad():
        for x in calibration:
            prepared(x.unsqueeze(0))
    return convert_pt2e(prepared)
