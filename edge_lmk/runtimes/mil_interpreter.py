"""Run a Core ML ML Program (MIL) on any OS by interpreting its ops with torch on the CPU.

Core ML itself only predicts on macOS. To check an ``.mlpackage`` on Linux we load the
program back from the saved package (``model.mlmodel`` protobuf + ``weights/weight.bin``)
with coremltools' own MIL-proto reader and evaluate it op by op through the table in
``mil_ops``.

Dtype policy (the point of the exercise for fp16 programs): every value produced by an op
is rounded to the dtype the program *declares* for that op's output (round to nearest even,
overflow to inf), so a tensor the program types as fp16 only ever holds fp16 values, and a
``cast`` rounds where the program casts. Inside one op the arithmetic runs in fp32: for
elementwise ops this gives exactly the IEEE fp16 result (fp32 has more than 2*11+2 bits, so
rounding twice is harmless). Ops that accumulate (conv, linear, matmul, reduce_sum,
reduce_mean, softmax) need a model of the accumulator, which Apple does not document:
``accumulation="fp32"`` (default) sums in fp32 and rounds once; ``"fp16-pairwise"`` rounds
every partial sum of a pairwise tree to fp16 (GPU-style reductions); ``"fp16-sequential"``
rounds after every single addition (the worst case). The fp16 modes only touch ops whose
declared output is fp16. See ``export/README_coreml.md`` for what this does and does not prove.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import ArtifactError


ACCUMULATIONS = ("fp32", "fp16-pairwise", "fp16-sequential")


class UnsupportedMILOp(NotImplementedError):
    """The program uses an op the emulator has no implementation for; the message names it."""


class MILEmulationError(RuntimeError):
    """An op failed, or produced a shape the program does not declare; the message names the op."""


# MIL builtin dtype name -> torch dtype of the stored value.
_TORCH_DTYPES = {
    "fp16": torch.float16, "fp32": torch.float32, "fp64": torch.float64,
    "int8": torch.int8, "uint8": torch.uint8, "int16": torch.int16, "uint16": torch.uint16,
    "int32": torch.int32, "uint32": torch.uint32, "int64": torch.int64, "bool": torch.bool,
}


def mil_dtype_name(builtin) -> str:
    from coremltools.converters.mil.mil import types

    return types.builtin_to_string(builtin)


def torch_dtype(builtin) -> torch.dtype:
    name = mil_dtype_name(builtin)
    if name not in _TORCH_DTYPES:
        raise MILEmulationError(f"MIL dtype {name!r} has no emulation")
    return _TORCH_DTYPES[name]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """fp16 values are held and computed in fp32 (exactly representable); others as they are."""
    return torch.float32 if dtype == torch.float16 else dtype


# ------------------------------------------------------------------------------------------
# Loading a saved package
# ------------------------------------------------------------------------------------------

@dataclass
class LoadedPackage:
    path: Path
    program: Any  # coremltools.converters.mil.Program
    spec: Any  # coremltools.proto.Model_pb2.Model
    weights_dir: Path
    metadata: dict[str, str]  # user_defined_metadata

    @property
    def description(self):
        return self.spec.description


def load_package(path: str | Path) -> LoadedPackage:
    """Read an ``.mlpackage`` from disk into a MIL Program; any damage -> ArtifactError naming the path."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"{path}: not an .mlpackage directory")
    try:
        import coremltools as ct
        from coremltools.converters.mil.frontend.milproto import load as milproto
    except ImportError as e:
        raise ArtifactError(f"{path}: coremltools is needed to read Core ML packages ({e})") from None
    stage = "package manifest / model spec"
    try:
        # skip_model_load: never ask the Core ML framework to compile it; we only read the files.
        mlmodel = ct.models.MLModel(str(path), skip_model_load=True)
        spec = mlmodel.get_spec()
        if spec.WhichOneof("Type") != "mlProgram":
            raise ValueError(f"model type is {spec.WhichOneof('Type')!r}, not an ML Program")
        weights_dir = Path(mlmodel.weights_dir) if mlmodel.weights_dir else path / "Data/com.apple.CoreML/weights"
        stage = "MIL program / weights"
        program = milproto.load(spec, spec.specificationVersion, str(weights_dir))
    except ArtifactError:
        raise
    except Exception as e:  # truncated protobuf, corrupt manifest, short weight.bin, ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ArtifactError(f"{path}: unreadable Core ML package ({stage}): {type(e).__name__}: {msg}") from None
    metadata = dict(spec.description.metadata.userDefined)
    return LoadedPackage(path, program, spec, weights_dir, metadata)


# ------------------------------------------------------------------------------------------
# The interpreter
# ------------------------------------------------------------------------------------------

_REQUIRED = object()


class OpArgs:
    """What one op handler sees: its inputs (tensors in compute dtype) and const parameters."""

    __slots__ = ("op", "inputs", "accumulation", "_env", "_params")

    def __init__(self, op, env: dict[str, Any], params: dict[str, Any], inputs: dict | None = None,
                 accumulation: str = "fp32"):
        self.op = op
        self.accumulation = accumulation
        self.inputs = dict(op.inputs) if inputs is None else inputs  # op.inputs rebuilds a dict per call
        self._env = env
        self._params = params  # const values already turned into Python, shared across runs

    def has(self, name: str) -> bool:
        return self.inputs.get(name) is not None

    def tensor(self, name: str) -> torch.Tensor:
        return self._env[self.inputs[name].name]

    def tensors(self, name: str) -> list[torch.Tensor]:
        return [self._env[v.name] for v in self.inputs[name]]

    def value(self, name: str, default: Any = _REQUIRED) -> Any:
        """A parameter as plain Python (scalars, lists, str); ``default`` when the op omits it."""
        var = self.inputs.get(name)
        if var is None:
            if default is _REQUIRED:
                raise MILEmulationError(f"op {self.op.op_type} {self.op.name!r}: missing input {name!r}")
            return default
        if var.name in self._params:
            return self._params[var.name]
        v = self._env[var.name]
        return v.tolist() if isinstance(v, torch.Tensor) else v

    def out_dtype(self, i: int = 0) -> torch.dtype:
        return torch_dtype(self.op.outputs[i].dtype)

    def out_shape(self, i: int = 0) -> tuple[int, ...]:
        return tuple(int(d) for d in self.op.outputs[i].shape)

    def fp16_accumulation(self) -> str | None:
        """``pairwise`` / ``sequential`` when this op should accumulate in fp16, else None."""
        if self.accumulation == "fp32" or self.out_dtype() != torch.float16:
            return None
        return self.accumulation.split("-", 1)[1]


def _const_value(var) -> Any:
    """A const op's value: str stays str, everything else becomes a tensor at its declared dtype."""
    from coremltools.converters.mil.mil import types

    val = var.val
    if isinstance(val, str) or types.is_str(var.dtype):
        return val
    dtype = torch_dtype(var.dtype)
    arr = np.array(val, copy=True)  # not ascontiguousarray: that turns 0-d scalars into 1-d
    return torch.from_numpy(arr).to(dtype).to(compute_dtype(dtype))


class MILInterpreter:
    """Evaluate one function of a MIL Program with the ``mil_ops`` table.

    ``run({"image": (1,3,80,80) float32})`` -> ``{"landmarks": (1,68,2), "scale": (1,68)}``
    as numpy arrays at the program's declared output dtypes. Unknown ops are reported when
    the interpreter is built, before anything runs.
    """

    def __init__(self, program, function: str = "main", threads: int | None = 1, accumulation: str = "fp32"):
        from .mil_ops import OPS

        if accumulation not in ACCUMULATIONS:
            raise ValueError(f"accumulation must be one of {ACCUMULATIONS}, got {accumulation!r}")
        self.accumulation = accumulation
        if function not in program.functions:
            raise MILEmulationError(f"program has no function {function!r} (has {sorted(program.functions)})")
        self.function = program.functions[function]
        self.ops = list(self.function.operations)
        unknown = sorted({op.op_type for op in self.ops if op.op_type != "const" and op.op_type not in OPS})
        if unknown:
            first = next(op for op in self.ops if op.op_type == unknown[0])
            raise UnsupportedMILOp(
                f"MIL op {unknown[0]!r} (e.g. {first.name!r}) has no emulation in edge_lmk.runtimes.mil_ops"
                + (f"; also unsupported: {', '.join(unknown[1:])}" if len(unknown) > 1 else "")
                + f". Supported ops: {', '.join(sorted(OPS))}")
        for op in self.ops:
            if op.blocks:
                raise UnsupportedMILOp(f"MIL op {op.op_type!r} ({op.name!r}) has nested blocks (control flow); "
                                       "the emulator only runs straight-line programs")
        self.threads = threads
        self._consts = {op.outputs[0].name: _const_value(op.outputs[0]) for op in self.ops if op.op_type == "const"}
        self._params = {k: (v.tolist() if isinstance(v, torch.Tensor) and v.numel() <= 64 else v)
                        for k, v in self._consts.items() if not isinstance(v, torch.Tensor) or v.numel() <= 64}
        self._compute_ops = [op for op in self.ops if op.op_type != "const"]
        # Per op: handler, declared outputs (name, stored dtype, static shape or None), names to free.
        self._plan = [(op, dict(op.inputs), OPS[op.op_type], [_declared(v) for v in op.outputs], free)
                      for op, free in zip(self._compute_ops, self._last_uses())]
        self.input_names = list(self.function.inputs)
        self.output_names = [v.name for v in self.function.outputs]

    @classmethod
    def from_package(cls, path: str | Path, **kwargs) -> "MILInterpreter":
        return cls(load_package(path).program, **kwargs)

    def op_types(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.ops:
            counts[op.op_type] = counts.get(op.op_type, 0) + 1
        return counts

    def _last_uses(self) -> list[list[str]]:
        # Drop intermediates once their last reader has run, so big feature maps do not pile up.
        keep = {v.name for v in self.function.outputs}
        last: dict[str, int] = {}
        for i, op in enumerate(self._compute_ops):
            for v in op.inputs.values():
                for u in (v if isinstance(v, (list, tuple)) else (v,)):
                    if u.name not in self._consts and u.name not in keep:
                        last[u.name] = i
        free: list[list[str]] = [[] for _ in self._compute_ops]
        for name, i in last.items():
            free[i].append(name)
        return free

    def _feed(self, name: str, value: np.ndarray) -> torch.Tensor:
        var = self.function.inputs[name]
        want = tuple(int(d) for d in var.shape)
        arr = np.asarray(value)
        if tuple(arr.shape) != want:
            raise ValueError(f"input {name!r}: expected shape {want}, got {tuple(arr.shape)}")
        dtype = torch_dtype(var.dtype)
        return torch.from_numpy(np.ascontiguousarray(arr)).to(dtype).to(compute_dtype(dtype))

    @staticmethod
    def _conform(op, declared: tuple, value) -> torch.Tensor:
        """Round an op result to its declared dtype and check its declared shape."""
        name, dtype, shape = declared
        if not isinstance(value, torch.Tensor):
            value = torch.as_tensor(value)
        value = value.to(dtype).to(compute_dtype(dtype))
        if shape is not None and tuple(value.shape) != shape:
            raise MILEmulationError(f"op {op.op_type} {op.name!r}: emulation produced shape {tuple(value.shape)} "
                                    f"but the program declares {shape} for {name!r}")
        return value

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = set(self.input_names) - set(feeds)
        if missing:
            raise ValueError(f"missing inputs {sorted(missing)}; the program takes {self.input_names}")
        # Small per-op work: extra intra-op threads mostly add synchronisation, and on a busy
        # machine they cost 10-20x. Restore the caller's setting afterwards.
        prev = torch.get_num_threads()
        if self.threads and prev != self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.no_grad():
                return self._run(feeds)
        finally:
            if self.threads and prev != self.threads:
                torch.set_num_threads(prev)

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env: dict[str, Any] = dict(self._consts)
        for name in self.input_names:
            env[name] = self._feed(name, feeds[name])
        for op, inputs, handler, declared, free in self._plan:
            try:
                result = handler(OpArgs(op, env, self._params, inputs, self.accumulation))
            except (UnsupportedMILOp, MILEmulationError):
                raise
            except Exception as e:
                raise MILEmulationError(f"op {op.op_type} {op.name!r} failed: {type(e).__name__}: {e}") from e
            results = result if isinstance(result, (tuple, list)) else (result,)
            if len(results) != len(declared):
                raise MILEmulationError(f"op {op.op_type} {op.name!r}: {len(results)} results for "
                                        f"{len(declared)} declared outputs")
            for decl, value in zip(declared, results):
                env[decl[0]] = self._conform(op, decl, value)
            for name in free:
                env.pop(name, None)
        return {var.name: env[var.name].to(torch_dtype(var.dtype)).numpy() for var in self.function.outputs}


def _declared(var) -> tuple[str, torch.dtype, tuple[int, ...] | None]:
    shape = var.shape
    static = all(isinstance(d, (int, np.integer)) for d in shape)
    return var.name, torch_dtype(var.dtype), tuple(int(d) for d in shape) if static else None
