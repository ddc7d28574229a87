"""ONNX Runtime predictor for ``.onnx`` files (CPU execution provider)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .artifact_meta import EMBEDDED_KEY, parse_embedded, resolve_meta
from .base import ArtifactError, Predictor
from .verify import verified_bytes


class OnnxPredictor(Predictor):
    runtime = "onnxruntime"
    batch_size = 1  # exported with a static (1,3,S,S) input

    def __init__(self, path, threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        data, sidecar = verified_bytes(self.path)  # header, sidecar hash and seal before ONNX Runtime
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # the CPU provider's info chatter is not actionable
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self._session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # InvalidProtobuf / Fail / InvalidGraph, all subclasses of RuntimeError
            raise ArtifactError(f"{self.path}: not a loadable ONNX model ({type(e).__name__}: {e})") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ArtifactError(f"{self.path}: expected one input, found {[i.name for i in inputs]}")
        self._input = inputs[0].name
        names = [o.name for o in self._session.get_outputs()]
        # Named outputs from export.onnx; otherwise trust the (landmarks, scale) order of LandmarkNet.forward.
        self._outputs = ["landmarks", "scale"] if {"landmarks", "scale"} <= set(names) else names[:2]
        props = self._session.get_modelmeta().custom_metadata_map
        embedded = parse_embedded(self.path, props.get(EMBEDDED_KEY))
        shape = inputs[0].shape
        static = tuple(shape) if all(isinstance(d, int) for d in shape) else None
        if static is None:
            self.batch_size = None  # a symbolic batch dimension takes any batch at once
            static = (1, *[d if isinstance(d, int) else -1 for d in shape[1:]])
        self.meta, self.contract = resolve_meta(self.path, embedded, static, sidecar)

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        try:
            lm, sc = self._session.run(self._outputs, {self._input: x})
        except Exception as e:
            raise ArtifactError(f"{self.path}: ONNX Runtime execution failed ({type(e).__name__}: {e})") from None
        return lm, sc
