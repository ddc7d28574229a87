"""LiteRT (TensorFlow Lite) predictor for ``.tflite`` files via ``ai_edge_litert.interpreter``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .artifact_meta import EMBEDDED_KEY, parse_embedded, resolve_meta
from .base import ArtifactError, Predictor
from .verify import verified_bytes


def read_tflite_metadata(data: bytes, name: str) -> bytes | None:
    """Raw bytes of the named entry of a .tflite flatbuffer's ``metadata`` table, or None."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == name.encode():
            return bytes(model.Buffers(entry.Buffer()).DataAsNumpy())
    return None


class LiteRTPredictor(Predictor):
    runtime = "litert"
    batch_size = 1  # static (1,3,S,S) input; resizing would re-plan every call

    def __init__(self, path, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        data, sidecar = verified_bytes(self.path)  # header, sidecar hash and seal before the interpreter
        try:
            interp = Interpreter(model_content=data, num_threads=threads)
            interp.allocate_tensors()
            embedded = parse_embedded(self.path, read_tflite_metadata(data, EMBEDDED_KEY))
        except Exception as e:  # the interpreter raises ValueError/RuntimeError for bad flatbuffers
            raise ArtifactError(f"{self.path}: not a loadable .tflite model ({type(e).__name__}: {e})") from None
        self._interp = interp
        inputs = interp.get_input_details()
        if len(inputs) != 1:
            raise ArtifactError(f"{self.path}: expected one input tensor, found {len(inputs)}")
        self._input = inputs[0]["index"]
        self._outputs = self._map_outputs(interp)
        self.meta, self.contract = resolve_meta(self.path, embedded, tuple(int(d) for d in inputs[0]["shape"]),
                                                sidecar)

    def _map_outputs(self, interp) -> tuple[int, int]:
        """-> (landmarks index, scale index): by signature output name when present, else by rank."""
        named: dict[str, int] = {}
        if interp.get_signature_list():
            named = {k: d["index"] for k, d in interp.get_signature_runner().get_output_details().items()}
        if "landmarks" in named and "scale" in named:
            return named["landmarks"], named["scale"]
        details = interp.get_output_details()
        by_rank = {len(d["shape"]): d["index"] for d in details}
        if len(details) != 2 or set(by_rank) != {2, 3}:
            raise ArtifactError(f"{self.path}: outputs {[(d['name'], list(d['shape'])) for d in details]} are not "
                                f"(landmarks (1,K,2), scale (1,K))")
        return by_rank[3], by_rank[2]

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        try:
            self._interp.set_tensor(self._input, x)
            self._interp.invoke()
            return self._interp.get_tensor(self._outputs[0]).copy(), self._interp.get_tensor(self._outputs[1]).copy()
        except Exception as e:
            raise ArtifactError(f"{self.path}: LiteRT execution failed ({type(e).__name__}: {e})") from None
