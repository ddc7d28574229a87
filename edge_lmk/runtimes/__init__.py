"""``load_predictor(name_or_path)`` picks the runtime from the file suffix through one table."""
from __future__ import annotations

from pathlib import Path

from .base import ArtifactError, Predictor

# The suffix picks the row of the runtime table (``table.RUNTIMES``); predictor modules import their
# runtime lazily so a missing optional runtime only matters when its artifact is used.
from .table import BY_SUFFIX, RUNTIMES, Runtime


def load_predictor(name_or_path: str, **kwargs) -> Predictor:
    p = Path(str(name_or_path))
    suffix = p.suffix.lower()
    row = BY_SUFFIX.get(suffix)
    if row is None or row.format == "pytorch":  # a checkpoint, or a registry name
        from .torch_runtime import TorchPredictor

        return TorchPredictor(str(name_or_path), **kwargs)
    if not p.exists():
        raise ArtifactError(f"{p}: artifact not found")
    try:
        cls = row.predictor_class()
    except ModuleNotFoundError as e:
        raise ArtifactError(f"{p}: no runtime for {suffix} files ({e})") from None
    return cls(p, **kwargs)


__all__ = ["ArtifactError", "Predictor", "RUNTIMES", "Runtime", "load_predictor"]
