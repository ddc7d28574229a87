"""The one table that says how each runtime is given its thread count.

The project's predictors may or may not take ``threads=``; the harness does not depend on
that. Each row either sets process-wide state before the model is opened (PyTorch,
ExecuTorch) or returns keyword arguments for the runtime's constructor (ONNX Runtime,
LiteRT), and can read back what the runtime says it will use. Every measurement runs in a
fresh subprocess, so a process-wide setting never leaks into another row.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ThreadsNotControllable(RuntimeError):
    """The installed runtime exposes no way to set its thread count from Python."""


@dataclass(frozen=True)
class ThreadControl:
    runtime: str
    how: str  # written into results.json and the report, so readers know what "threads" meant
    apply: Callable[[int], dict[str, Any]]  # -> constructor kwargs (may be empty)
    read_back: Callable[[Any], int | None]  # opened runtime object -> threads it reports, or None


def _torch_apply(n: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(n)
    return {}


def _torch_read(_: Any) -> int | None:
    import torch

    return torch.get_num_threads()


def _ort_apply(n: int) -> dict[str, Any]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = n
    # One graph, batch 1: a second (inter-op) pool would only add threads that never get work.
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return {"sess_options": opts}


def _ort_read(session: Any) -> int | None:
    return int(session.get_session_options().intra_op_num_threads)


def _litert_apply(n: int) -> dict[str, Any]:
    return {"num_threads": n}


def _no_read_back(_: Any) -> int | None:
    return None  # the LiteRT Python interpreter has no getter; the requested value is recorded


def _executorch_pybindings():
    try:
        from executorch.extension.pybindings import portable_lib
    except ImportError as e:
        raise ThreadsNotControllable(f"executorch pybindings not importable ({e})") from None
    if not hasattr(portable_lib, "_unsafe_reset_threadpool"):
        raise ThreadsNotControllable("this executorch build has no _unsafe_reset_threadpool")
    return portable_lib


def _executorch_apply(n: int) -> dict[str, Any]:
    # ExecuTorch's XNNPACK delegate runs on the process-wide extension threadpool; the Python
    # runtime only exposes it through these experimental pybindings (executorch >= 1.0).
    _executorch_pybindings()._unsafe_reset_threadpool(n)
    return {}


def _executorch_read(_: Any) -> int | None:
    lib = _executorch_pybindings()
    return int(lib._threadpool_get_thread_count()) if hasattr(lib, "_threadpool_get_thread_count") else None


THREAD_CONTROL: dict[str, ThreadControl] = {
    "pytorch": ThreadControl("pytorch", "torch.set_num_threads(n)", _torch_apply, _torch_read),
    "onnxruntime": ThreadControl("onnxruntime", "SessionOptions.intra_op_num_threads = n (inter-op 1, sequential)",
                                 _ort_apply, _ort_read),
    "litert": ThreadControl("litert", "ai_edge_litert Interpreter(num_threads=n)", _litert_apply, _no_read_back),
    "executorch": ThreadControl("executorch", "portable_lib._unsafe_reset_threadpool(n) (extension threadpool "
                                "used by the XNNPACK delegate)", _executorch_apply, _executorch_read),
}

RUNTIME_DEFAULT = "runtime default"


def describe(runtime: str) -> str:
    row = THREAD_CONTROL.get(runtime)
    return row.how if row else RUNTIME_DEFAULT
