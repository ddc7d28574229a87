"""Core ML ``.mlpackage`` predictor.

On macOS it runs the package with Core ML itself (``MLModel.predict``, runtime ``coreml``).
Elsewhere Core ML cannot predict, so it evaluates the saved MIL program op by op at the
program's declared dtypes (``mil_interpreter``, runtime ``coreml-mil-emulated``). Either
way the package is first read back from disk, so a damaged artifact fails here with an
``ArtifactError`` naming the path.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..contract import PreprocessContract
from .artifact_meta import compare_records, parse_contract
from .base import ArtifactError, Predictor
from .mil_interpreter import LoadedPackage, MILInterpreter, load_package
from .verify import verify_package

# user_defined_metadata keys written by export/coreml.py.
META_CONTRACT = "edge_lmk.contract"
META_CARD = "edge_lmk.model_card"
META_INTEGRITY = "edge_lmk.integrity"  # '{"integrity":"sha256:..."}', the package's seal (integrity.py)
INPUT_NAME = "image"
OUTPUT_NAMES = ("landmarks", "scale")
MODES = ("auto", "coreml", "emulate")


def package_contract(pkg: LoadedPackage) -> PreprocessContract:
    raw = pkg.metadata.get(META_CONTRACT)
    if raw is None:
        raise ArtifactError(f"{pkg.path}: no preprocessing contract in the model metadata (key {META_CONTRACT!r})")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ArtifactError(f"{pkg.path}: metadata {META_CONTRACT!r} is not a contract ({e})") from None
    return parse_contract(f"{pkg.path} (metadata {META_CONTRACT!r})", data)


def embedded_record(pkg: LoadedPackage, contract: PreprocessContract) -> dict:
    """What the package says about itself, in the keys a sidecar uses (for ``compare_records``)."""
    record = {"contract": contract.to_dict()}
    for key in ("model", "precision"):
        if f"edge_lmk.{key}" in pkg.metadata:
            record[key] = pkg.metadata[f"edge_lmk.{key}"]
    return record


def check_interface(pkg: LoadedPackage, contract: PreprocessContract) -> None:
    """The package takes ``image`` (1,3,S,S) float32 and returns ``landmarks`` and ``scale``."""
    desc = pkg.description
    inputs = {f.name: f for f in desc.input}
    outputs = {f.name for f in desc.output}
    s = contract.input_size
    if set(inputs) != {INPUT_NAME}:
        raise ArtifactError(f"{pkg.path}: expected one input {INPUT_NAME!r}, found {sorted(inputs)}")
    shape = tuple(inputs[INPUT_NAME].type.multiArrayType.shape)
    if shape != (1, 3, s, s):
        raise ArtifactError(f"{pkg.path}: input {INPUT_NAME!r} has shape {shape}, contract says (1, 3, {s}, {s})")
    if not set(OUTPUT_NAMES) <= outputs:
        raise ArtifactError(f"{pkg.path}: expected outputs {OUTPUT_NAMES}, found {sorted(outputs)}")


def sidecar_path(package: Path) -> Path:
    """``x.mlpackage`` -> ``x.mlpackage.json``, written by export/coreml.py."""
    return package.with_name(package.name + ".json")




def verify_sidecar(package: Path) -> bool:
    """Sidecar sha256 and embedded seal checked (``verify.verify_package``); True when either verified it.

    Loading catches truncation; this also catches bytes changed in place (a flipped weight).
    """
    return verify_package(package)[1]


def on_macos() -> bool:
    return sys.platform == "darwin"


class CoreMLPredictor(Predictor):
    """``CoreMLPredictor(path, mode="auto")``: (N,3,80,80) float32 -> landmarks (N,68,2), scale (N,68).

    ``mode``: ``auto`` (Core ML on macOS, MIL emulation elsewhere), ``coreml`` or ``emulate``.
    ``threads``: intra-op threads for the emulator (1 is fastest for these small ops).
    ``compute_units``: Core ML compute units on macOS (``ALL``, ``CPU_ONLY``, ``CPU_AND_GPU``,
    ``CPU_AND_NE``); ignored by the emulator.
    ``accumulation``: the emulator's model of fp16 accumulation (``mil_interpreter.ACCUMULATIONS``);
    ``fp32`` by default, the fp16 modes are sensitivity checks.
    """

    batch_size = 1  # the converted program has a fixed (1,3,80,80) input

    def __init__(self, path: str | Path, mode: str = "auto", threads: int | None = 1, compute_units: str = "ALL",
                 accumulation: str = "fp32"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.path = Path(path)
        # Hashes before parsing: coremltools' weight reader is native code.
        sidecar, self.verified = verify_package(self.path)
        pkg = load_package(self.path)
        self.contract = package_contract(pkg)
        if sidecar is not None:
            compare_records(self.path, sidecar, embedded_record(pkg, self.contract))
        check_interface(pkg, self.contract)
        self.metadata = pkg.metadata
        self.source = str(self.path)
        if mode == "auto":
            mode = "coreml" if on_macos() else "emulate"
        self._mlmodel = None
        self._interpreter = None
        if mode == "coreml":
            if not on_macos():
                raise RuntimeError(f"{self.path}: Core ML prediction needs macOS; use mode='emulate' here")
            import coremltools as ct

            try:
                self._mlmodel = ct.models.MLModel(str(self.path), compute_units=ct.ComputeUnit[compute_units])
            except Exception as e:
                raise ArtifactError(f"{self.path}: Core ML could not load the package ({type(e).__name__}: {e})") \
                    from None
            self.runtime = "coreml"
        else:
            self._interpreter = MILInterpreter(pkg.program, threads=threads, accumulation=accumulation)
            self.runtime = "coreml-mil-emulated" + ("" if accumulation == "fp32" else f"[{accumulation}]")

    @property
    def card(self) -> dict:
        raw = self.metadata.get(META_CARD)
        return json.loads(raw) if raw else {}

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feeds = {INPUT_NAME: x}
        out = self._mlmodel.predict(feeds) if self._mlmodel is not None else self._interpreter.run(feeds)
        return np.asarray(out["landmarks"]), np.asarray(out["scale"])
