"""The one export pipeline every backend runs, stage by stage (ExecuTorch's export recipes, as stages).

    rewrite -> capture -> quantize -> lower -> embed -> atomic save (smoke run on the finished
    temporary, then rename) -> sidecar

A backend (``export/<format>.py``) is a ``Backend`` subclass that fills in the stages it needs
and says where its compression applies (``quantizes``: on the captured program, as PT2E does, or
on the lowered artifact, as litert-quantizer and coremltools.optimize do). Everything else is
here once: the precision check, the compression config of a (format, precision) row and its
adaptation to the model's family, the capture, the integrity seal, the atomic write (a file or
an ``.mlpackage`` directory), the smoke run in the artifact's real runtime on a real face, the
sidecar, and one error type that names the artifact and the stage that failed.

    from export.pipeline import run
    from export.tflite import BACKEND
    run(BACKEND, model, spec, Path("artifacts"), "int8")
"""
from __future__ import annotations

import contextlib
import copy
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_lmk.models import ModelSpec
from edge_lmk.runtimes import ArtifactError
from edge_lmk.runtimes.table import BY_FORMAT

from .artifact import atomic_artifact, contract_json, resolve_out, seal, sidecar_path, write_sidecar
from .capture import capture
from .compression import describe

# Smoke-run bound on max |landmark difference| from PyTorch on one real face, in crop pixels, per
# precision. It catches a broken graph, not a precision regression (the parity check does that);
# precisions not listed (int8 activations, 4-bit) are only checked for shape and finiteness.
SMOKE_MAX_PX = {"fp32": 0.05, "fp16": 1.0, "int8-weights": 2.0, "palettized-8bit": 2.0, "palettized-4bit": 40.0}


class ExportError(RuntimeError):
    """An export stage failed; the message names the artifact, the backend and the stage."""


@dataclass
class Job:
    """One export: what the stages read, and ``report`` where they leave what the sidecar records."""

    model: torch.nn.Module  # the float model as given (the reference of the smoke run)
    spec: ModelSpec
    format: str
    precision: str
    path: Path  # the final artifact path
    config: Any = None  # compression config as it applies to this model, or None for float rows
    report: dict = field(default_factory=dict)
    stage: str = "start"  # the stage running (named in an ExportError)

    @property
    def embedded(self) -> str:
        """The compact JSON record embedded inside the artifact (contract, identity, seal placeholder)."""
        return contract_json(self.spec, self.format, self.precision)


class Backend:
    """One export target format. Subclasses set the class attributes and override ``lower`` (and, where
    the format needs it, the other stages); ``run`` calls them in order."""

    format: str = ""
    suffix: str = ""
    precisions: tuple[str, ...] = ("fp32",)
    quantizes: str = "program"  # where a compression config applies: "program" (captured) or "lowered"

    # -- stages ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def staging(self, job: Job) -> Iterator[None]:
        """Context every stage runs in (e.g. where a converter puts its own temporary files)."""
        yield

    def rewrite(self, model: torch.nn.Module, job: Job) -> torch.nn.Module:
        """Module-level export-time rewrites (a deep copy; the caller's model is untouched)."""
        return model

    def capture(self, model: torch.nn.Module, job: Job) -> torch.export.ExportedProgram:
        return capture(model, job.spec)

    def quantize(self, obj: Any, model: torch.nn.Module, job: Job) -> Any:
        """Apply ``job.config`` to the captured program or the lowered artifact (``quantizes``)."""
        from edge_lmk.compress import quantize

        return quantize(obj, job.config, job.spec, model=model)

    def lower(self, program: torch.export.ExportedProgram, model: torch.nn.Module, job: Job) -> Any:
        raise NotImplementedError

    def embed(self, lowered: Any, job: Job) -> Any:
        """Put the contract record inside the artifact (formats with a metadata slot)."""
        return lowered

    def save(self, lowered: Any, tmp: Path, job: Job) -> None:
        """Write the artifact to ``tmp`` (default: sealed bytes)."""
        tmp.write_bytes(seal(lowered))

    def smoke(self, tmp: Path, job: Job) -> dict:
        return smoke_run(tmp, job)

    def sidecar_extra(self, job: Job) -> dict:
        """Format-specific sidecar entries (the runtime's name comes from the runtime table)."""
        return {}


def smoke_run(path: Path, job: Job) -> dict:
    """Load ``path`` in its real runtime (the predictor the evaluate CLI uses), run one real face of the
    bundled sample and compare with the float model: shapes, finiteness and, for precisions with a bound
    in ``SMOKE_MAX_PX``, the largest landmark difference. -> what the sidecar records."""
    import warnings

    from edge_lmk.runtimes import load_predictor

    spec = job.spec
    crops = _smoke_crops(spec.contract.to_json())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the temporary has no sidecar yet: the contract warning is expected
        predictor = load_predictor(str(path))
    lm, sc = predictor.predict(crops.inputs)
    k = spec.contract.num_landmarks
    if lm.shape != (1, k, 2) or sc.shape != (1, k):
        raise ArtifactError(f"{path}: smoke run gave shapes {lm.shape}, {sc.shape}; expected (1, {k}, 2), (1, {k})")
    if not (np.isfinite(lm).all() and np.isfinite(sc).all()):
        raise ArtifactError(f"{path}: smoke run produced non-finite outputs")
    reference = copy.deepcopy(job.model).eval()  # leave the caller's model (and its train/eval mode) alone
    with torch.no_grad():
        ref_lm, ref_sc = (t.numpy() for t in reference(torch.from_numpy(crops.inputs)))
    max_px = float(np.abs(lm - ref_lm).max())
    bound = SMOKE_MAX_PX.get(job.precision)
    if bound is not None and max_px > bound:
        raise ArtifactError(f"{path}: smoke run landmarks differ from PyTorch by {max_px:.4f} px "
                            f"(> {bound} px for {job.precision})")
    return {"runtime": predictor.runtime, "face": crops.records[0].pts.name, "max_abs_px": max_px,
            "max_abs_scale": float(np.abs(sc - ref_sc).max())}


@functools.lru_cache(maxsize=4)
def _smoke_crops(contract_json: str):
    """The smoke run's face (the bundled calibration sample's first), cut once per contract for every export
    of a process rather than once per artifact."""
    from edge_lmk.contract import PreprocessContract
    from edge_lmk.data import scan_folder
    from edge_lmk.evaluation import prepare_crops
    from edge_lmk.paths import SAMPLE_CALIB

    contract = PreprocessContract.from_dict(json.loads(contract_json))
    return prepare_crops(scan_folder(SAMPLE_CALIB)[:1], contract, desc=None)


def run(backend: Backend, model: torch.nn.Module, spec: ModelSpec, out: Path, precision: str = "fp32",
        config=None) -> Path:
    """Export ``model`` with ``backend`` to ``out`` (a folder, or the artifact path itself); -> the artifact.

    ``config`` overrides the row's compression config (``edge_lmk.compress.config_for``), e.g. a smaller
    calibration set in tests. A failure at any stage raises ``ExportError`` naming the stage and leaves
    ``out`` as it was (absent, or the previous artifact), with no temporary behind."""
    if precision not in backend.precisions:
        raise ValueError(f"{backend.format}: precision {precision!r} not supported here "
                         f"(have {', '.join(backend.precisions)})")
    out = Path(out)
    # A path with another suffix (``x.mlmodel``, ``x.onnx`` for a .pte) is a mistake, not a folder to create.
    if out.suffix and out.suffix.lower() != backend.suffix and not out.is_dir():
        raise ValueError(f"{out}: a {backend.format} artifact must be saved as a {backend.suffix} "
                         f"{'directory' if backend.suffix == '.mlpackage' else 'file'} (or give a folder)")
    path = resolve_out(out, spec, precision, backend.suffix)
    job = Job(model, spec, backend.format, precision, path)
    try:
        with backend.staging(job):
            _run_stages(backend, job, config)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        what = str(e) if isinstance(e, ExportError) else f"{type(e).__name__}: {e}"
        raise ExportError(f"{path}: {backend.format} export failed at stage '{job.stage}': {what}") from e
    return path


def _run_stages(backend: Backend, job: Job, config) -> None:
    """The stages in order; ``job.stage`` names the one running, for the error message."""
    from edge_lmk.compress import config_for, for_model

    # the config first: a backend's rewrite may depend on it (LiteRT's int8 LeakyReLU form)
    config = config if config is not None else config_for(backend.format, job.precision)
    job.config = for_model(config, job.model) if config is not None else None
    job.stage = "rewrite"
    model = backend.rewrite(job.model, job)
    job.stage = "capture"
    program = backend.capture(model, job)
    if job.config is not None and backend.quantizes == "program":
        job.stage = "quantize"
        program = backend.quantize(program, model, job)
    job.stage = "lower"
    lowered = backend.lower(program, model, job)
    if job.config is not None and backend.quantizes == "lowered":
        job.stage = "quantize"
        lowered = backend.quantize(lowered, model, job)
    job.stage = "embed"
    lowered = backend.embed(lowered, job)
    job.stage = "save"
    with atomic_artifact(job.path) as tmp:
        backend.save(lowered, tmp, job)
        job.stage = "smoke-run"
        job.report["smoke_run"] = backend.smoke(tmp, job)
        # A previous sidecar's sha256 would reject the new artifact until the new sidecar is written.
        sidecar_path(job.path).unlink(missing_ok=True)
        job.stage = "install"
    job.stage = "sidecar"
    extra = {"runtime": BY_FORMAT[backend.format].name, **backend.sidecar_extra(job)}
    if job.config is not None:
        extra["compression"] = describe(job.config)
    write_sidecar(job.path, job.spec, backend.format, job.precision, {**job.report, **extra})
