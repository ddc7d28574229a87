"""Last stage of every exporter: load the finished file in its real runtime and run it once."""
from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import numpy as np

from edge_lmk.models import ModelSpec
from edge_lmk.runtimes import RUNTIMES, ArtifactError

from .capture import example_input


def smoke_run(path: Path, spec: ModelSpec) -> None:
    """Raise ArtifactError unless ``path`` loads and maps one (1,3,S,S) input to finite
    landmarks (1,K,2) and scale (1,K). Uses the same predictor class the evaluate CLI uses."""
    path = Path(path)
    module, cls = RUNTIMES[path.suffix.lower()]
    with warnings.catch_warnings():
        # The temporary file has no sidecar yet; the contract warning is expected here.
        warnings.simplefilter("ignore")
        predictor = getattr(importlib.import_module(module), cls)(path)
    lm, sc = predictor.predict(example_input(spec).numpy())
    k = spec.contract.num_landmarks
    if lm.shape != (1, k, 2) or sc.shape != (1, k):
        raise ArtifactError(f"{path}: smoke run gave shapes {lm.shape}, {sc.shape}; expected (1, {k}, 2), (1, {k})")
    if not (np.isfinite(lm).all() and np.isfinite(sc).all()):
        raise ArtifactError(f"{path}: smoke run produced non-finite outputs")
