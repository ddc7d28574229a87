"""``load_predictor(name_or_path)`` picks the runtime from the file suffix through one table."""
from __future__ import annotations

import importlib
from pathlib import Path

from .base import ArtifactError, Predictor

# suffix -> (module, class); modules import their runtime lazily so a missing optional
# runtime only matters when its artifact is used.
RUNTIMES = {
    ".pt": ("edge_lmk.runtimes.torch_runtime", "TorchPredictor"),
    ".pte": ("edge_lmk.runtimes.executorch_runtime", "ExecuTorchPredictor"),
    ".tflite": ("edge_lmk.runtimes.litert_runtime", "LiteRTPredictor"),
    ".onnx": ("edge_lmk.runtimes.onnx_runtime", "OnnxPredictor"),
    ".mlpackage": ("edge_lmk.runtimes.coreml_runtime", "CoreMLPredictor"),
}


def load_predictor(name_or_path: str, **kwargs) -> Predictor:
    p = Path(str(name_or_path))
    suffix = p.suffix.lower()
    if suffix not in RUNTIMES or suffix == ".pt":
        from .torch_runtime import TorchPredictor

        return TorchPredictor(str(name_or_path), **kwargs)
    if not p.exists():
        raise ArtifactError(f"{p}: artifact not found")
    mod, cls = RUNTIMES[suffix]
    try:
        module = importlib.import_module(mod)
    except ModuleNotFoundError as e:
        raise ArtifactError(f"{p}: no runtime for {suffix} files ({e})") from None
    return getattr(module, cls)(p, **kwargs)


__all__ = ["ArtifactError", "Predictor", "RUNTIMES", "load_predictor"]
