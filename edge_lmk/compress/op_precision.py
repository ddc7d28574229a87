"""Which ops of an exported artifact run in int8 and which in float: a small dict per artifact.

Recorded in the sidecar and the manifest entry (``op_precision``), so "the head stays in float"
is checked on the artifact, not assumed from the config.
"""
from __future__ import annotations

from collections import Counter

Q_OPS = ("quantize_per_tensor", "quantize_per_channel")
DQ_OPS = ("dequantize_per_tensor", "dequantize_per_channel")


def _op_name(node) -> str:
    """``aten.convolution.default`` -> ``convolution``; ``quantized_decomposed.quantize_per_tensor.default``
    -> ``quantize_per_tensor``."""
    name = getattr(node.target, "__name__", str(node.target))
    parts = name.split(".")
    return parts[1] if len(parts) >= 3 else parts[0]


def _is(node, names) -> bool:
    return getattr(node, "op", None) == "call_function" and _op_name(node).startswith(names)


def edge_graph_precision(graph, where: str, into: dict) -> None:
    """Classify the compute ops of one FX graph: int8 when every tensor input comes through a
    dequantize and every user is a quantize (XNNPACK fuses such a Q/DQ island into a QS8
    op), float otherwise."""
    for node in graph.nodes:
        if node.op != "call_function" or _is(node, Q_OPS + DQ_OPS) or _op_name(node) in ("getitem",
                                                                                         "executorch_call_delegate"):
            continue
        inputs = [a for a in node.all_input_nodes if a.op == "call_function"]
        int8 = bool(inputs) and all(_is(a, DQ_OPS) for a in inputs) and \
            bool(node.users) and all(_is(u, Q_OPS) for u in node.users)
        into.setdefault("int8" if int8 else "float32", Counter())[f"{where}:{_op_name(node)}"] += 1


def executorch_precision(edge_manager) -> dict:
    """Per-op precision of a lowered ExecuTorch program, inside (``xnnpack:``) and outside
    (``portable:``) the XNNPACK delegate; call before ``to_executorch``."""
    from executorch.exir.lowered_backend_module import get_lowered_submodules

    out: dict[str, Counter] = {}
    gm = edge_manager.exported_program().graph_module
    for _, lowered, _ in get_lowered_submodules(gm):
        edge_graph_precision(lowered.original_module.graph, "xnnpack", out)
    edge_graph_precision(gm.graph, "portable", out)
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


def tflite_precision(model_content: bytes) -> dict:
    """Per-op precision of a .tflite as the interpreter sees it: an op is listed under the dtype
    of its first input (int8 kernels take int8 in); QUANTIZE/DEQUANTIZE are the conversions."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_content)
    dtypes = {t["index"]: t["dtype"].__name__ for t in interp.get_tensor_details()}
    out: dict[str, Counter] = {}
    for op in interp._get_ops_details():  # the only public-ish view of the op list
        name = op["op_name"]
        ins = [i for i in op["inputs"] if i >= 0]
        key = "convert" if name in ("QUANTIZE", "DEQUANTIZE") else (dtypes.get(ins[0], "?") if ins else "none")
        out.setdefault(key, Counter())[name] += 1
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


def coreml_precision(mlmodel) -> dict:
    """Core ML program ops by dtype of their output; constexpr_* ops (compressed weights, expanded
    at load) are listed under ``weights`` with the stored dtype of their data."""
    from coremltools.converters.mil.mil.types import builtin_to_string as name_of

    out: dict[str, Counter] = {}
    for op in mlmodel._mil_program.functions["main"].operations:
        if op.op_type == "const":
            continue
        if op.op_type.startswith("constexpr_"):
            stored = next((v for k, v in op.inputs.items() if k in ("quantized_data", "indices", "data")), None)
            kind = f"weights:{name_of(stored.dtype) if stored is not None else '?'}"
            out.setdefault(kind, Counter())[op.op_type] += 1
            continue
        dtype = name_of(op.outputs[0].dtype) if op.outputs else "none"
        out.setdefault(dtype, Counter())[op.op_type] += 1
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}
