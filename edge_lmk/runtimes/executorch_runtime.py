"""ExecuTorch predictor for ``.pte`` programs (XNNPACK-delegated by ``export.executorch``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .artifact_meta import EMBEDDED_KEY, parse_embedded, resolve_meta
from .base import ArtifactError, Predictor
from .verify import verified_bytes


def _embedded(program, path: Path) -> dict | None:
    """The contract is stored as a constant method returning its JSON as a uint8 tensor."""
    if EMBEDDED_KEY not in program.method_names:
        return None
    out = program.load_method(EMBEDDED_KEY).execute([])
    return parse_embedded(path, bytes(np.asarray(out[0], dtype=np.uint8)))


class ExecuTorchPredictor(Predictor):
    runtime = "executorch"
    batch_size = 1  # exported with a static (1,3,S,S) input

    def __init__(self, path, threads: int | None = None):
        from executorch.runtime import Runtime

        self.path = Path(path)
        # Header, sidecar hash and seal first: the pybindings abort the process on some malformed files.
        data, sidecar = verified_bytes(self.path)
        try:
            program = Runtime.get().load_program(data)
            self._program = program  # owns the buffer the loaded method runs from
            self._method = program.load_method("forward")
            embedded = _embedded(program, self.path)
        except Exception as e:  # the pybinding raises RuntimeError/ValueError for bad flatbuffers
            raise ArtifactError(f"{self.path}: not a loadable ExecuTorch program ({type(e).__name__}: {e})") from None
        meta_in = self._method.metadata.input_tensor_meta(0)
        self.meta, self.contract = resolve_meta(self.path, embedded, tuple(meta_in.sizes()), sidecar)
        self.backends = tuple(Runtime.get().backend_registry.registered_backend_names)

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        try:
            lm, sc = self._method.execute([torch.from_numpy(x)])[:2]
        except Exception as e:
            raise ArtifactError(f"{self.path}: ExecuTorch execution failed ({type(e).__name__}: {e})") from None
        return lm.numpy().copy(), sc.numpy().copy()
