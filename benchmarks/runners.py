"""Open one model file in its own runtime, with a thread count, as a bare ``run(x) -> outputs``.

This is what the latency numbers time: the runtime's own call with a (1,3,S,S) float32
input, outputs copied out, no Python pre/post-processing. Only the runtime named is
imported, so a worker process's peak RSS holds that runtime and nothing else (ExecuTorch's
Python runtime imports torch itself; that is part of its cost).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_lmk.runtimes.table import BY_NAME, RUNTIMES

from .threads import RUNTIME_DEFAULT, THREAD_CONTROL, ThreadsNotControllable

# suffix -> runtime name, from the one runtime table (edge_lmk.runtimes.table)
RUNTIME_BY_SUFFIX = {r.suffix: r.name for r in RUNTIMES}


class NotRunnableHere(RuntimeError):
    """The runtime cannot run on this machine (Core ML needs macOS); the row is skipped, not failed."""


@dataclass
class Opened:
    run: Callable[[np.ndarray], Sequence[Any]]
    input_shape: tuple[int, ...]
    threads_applied: int | None  # what the runtime reports after opening; None if it cannot say
    thread_control: str  # how the thread count was set, or "runtime default"


def runtime_for(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in RUNTIME_BY_SUFFIX:
        raise ValueError(f"{path}: no runtime for {suffix or 'files without a suffix'} "
                         f"(known: {', '.join(RUNTIME_BY_SUFFIX)})")
    return RUNTIME_BY_SUFFIX[suffix]


def check_runnable(runtime: str) -> None:
    row = BY_NAME[runtime]
    if not row.runnable_here:
        raise NotRunnableHere(f"{runtime} models run only on {row.platform} (this is {sys.platform})")


def import_runtime(runtime: str) -> None:
    check_runnable(runtime)
    if runtime == "executorch":
        skip_exporter_package()
    importlib.import_module(BY_NAME[runtime].imports)


def skip_exporter_package() -> bool:
    """Let ``executorch.runtime`` load without ExecuTorch's exporter; -> whether it was skipped.

    The pybindings import ``executorch.exir._warnings`` for one warning class, and
    ``executorch/exir/__init__.py`` pulls in the whole exporter (torch.export, torch._dynamo):
    ~6 of the ~8 s a fresh process spends importing the runtime, which no app on a device pays
    and which made the ExecuTorch rows the slowest part of a benchmark run. ``executorch.exir``
    is registered as a bare package instead (its submodules still import on demand). Only for
    benchmark worker processes, which never export: anything that needs ``exir``'s top-level
    names must not run in the same process.
    """
    if "executorch.exir" in sys.modules:
        return False
    spec = importlib.util.find_spec("executorch")
    if spec is None or not spec.submodule_search_locations:
        return False
    exir_dir = Path(next(iter(spec.submodule_search_locations))) / "exir"
    if not (exir_dir / "_warnings.py").is_file():
        return False  # another layout: import normally
    pkg = types.ModuleType("executorch.exir")
    pkg.__path__ = [str(exir_dir)]
    pkg.__package__ = "executorch.exir"
    sys.modules["executorch.exir"] = pkg
    return True


def _open_pytorch(path: Path, kw: dict) -> tuple[Callable, tuple[int, ...], Any]:
    import torch

    from edge_lmk.models import load_checkpoint

    model, spec, _ = load_checkpoint(path)
    s = spec.contract.input_size

    def run(x: np.ndarray):
        with torch.inference_mode():
            lm, sc = model(torch.from_numpy(x))
        return lm.numpy(), sc.numpy()

    return run, (1, 3, s, s), model


def _open_executorch(path: Path, kw: dict) -> tuple[Callable, tuple[int, ...], Any]:
    import torch
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(path).load_method("forward")
    shape = tuple(int(d) for d in method.metadata.input_tensor_meta(0).sizes())

    def run(x: np.ndarray):
        return [o.numpy() for o in method.execute([torch.from_numpy(x)])]

    return run, shape, method


def _open_onnxruntime(path: Path, kw: dict) -> tuple[Callable, tuple[int, ...], Any]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"], **kw)
    inp = session.get_inputs()[0]
    shape = tuple(d if isinstance(d, int) else 1 for d in inp.shape)  # symbolic batch -> 1
    name = inp.name

    def run(x: np.ndarray):
        return session.run(None, {name: x})

    return run, shape, session


def _open_litert(path: Path, kw: dict) -> tuple[Callable, tuple[int, ...], Any]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), **kw)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    index, outs = inp["index"], [d["index"] for d in interp.get_output_details()]

    def run(x: np.ndarray):
        interp.set_tensor(index, x)
        interp.invoke()
        return [interp.get_tensor(i) for i in outs]

    return run, tuple(int(d) for d in inp["shape"]), interp


OPENERS = {"pytorch": _open_pytorch, "executorch": _open_executorch, "onnxruntime": _open_onnxruntime,
           "litert": _open_litert}


def open_runner(path: str | Path, threads: int | None, runtime: str | None = None) -> Opened:
    """Apply ``threads`` through the thread table, then open ``path``; ``None`` keeps the runtime's default."""
    path = Path(path)
    runtime = runtime or runtime_for(path)
    check_runnable(runtime)
    if runtime not in OPENERS:
        raise NotRunnableHere(f"no runner for {runtime}")
    control, kw = RUNTIME_DEFAULT, {}
    if threads is not None and runtime in THREAD_CONTROL:
        try:
            kw = THREAD_CONTROL[runtime].apply(threads)
            control = THREAD_CONTROL[runtime].how
        except ThreadsNotControllable:
            control, kw = RUNTIME_DEFAULT, {}
    run, shape, handle = OPENERS[runtime](path, kw)
    applied = None
    if control != RUNTIME_DEFAULT:
        applied = THREAD_CONTROL[runtime].read_back(handle)
    return Opened(run, shape, applied, control)


def split_outputs(outputs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """-> (landmarks (1,K,2), scale (1,K)) picked by rank, whatever order the runtime returns them in."""
    arrays = [np.asarray(o) for o in outputs]
    lm = [a for a in arrays if a.ndim == 3 and a.shape[-1] == 2]
    sc = [a for a in arrays if a.ndim == 2]
    if len(lm) != 1 or len(sc) != 1:
        raise ValueError(f"outputs {[a.shape for a in arrays]} are not (landmarks (N,K,2), scale (N,K))")
    return lm[0], sc[0]
