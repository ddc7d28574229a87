"""What to measure: one row per (model file, runtime), from the export manifest and the shipped weights."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from edge_lmk.files import size_on_disk
from edge_lmk.models import ModelSpec, default_model, list_models

from .files import read_json
from .runners import RUNTIME_BY_SUFFIX, NotRunnableHere, check_runnable

MANIFEST = "manifest.json"
ROLES = ("baseline", "artifact", "reference", "floor")


class ManifestMissing(FileNotFoundError):
    """No export manifest where one was expected; the message says how to make one."""


@dataclass(frozen=True)
class Job:
    key: str  # "<model>/<format>/<precision>[/<variant>]", unique per row
    role: str  # baseline = PyTorch eager of a shipped model; artifact = exported file; reference = peer model;
    # floor = the soft-argmax head alone (benchmarks/floor.py)
    model: str
    width: str | None
    format: str
    precision: str
    runtime: str
    path: str
    bytes: int
    manifest_status: str | None = None
    skip_reason: str | None = None  # set when this machine cannot run the row (Core ML off macOS)

    def to_dict(self) -> dict:
        return asdict(self)


def how_to_export(folder: Path) -> str:
    return (f"no export manifest at {folder / MANIFEST}; make one with `python -m export.all --out {folder}` "
            f"(then re-run with --artifacts {folder}), or leave --artifacts out to time PyTorch eager only")


def read_manifest(folder: str | Path) -> dict:
    """The manifest as a dict with an ``artifacts`` list (a bare list of entries is accepted too)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise ManifestMissing(how_to_export(folder))
    data = read_json(path)
    if isinstance(data, list):
        data = {"artifacts": data}
    if not isinstance(data, dict) or not isinstance(data.get("artifacts"), list):
        raise ValueError(f"{path}: not an export manifest (expected a list of artifact entries)")
    return data


def baseline_jobs(specs: list[ModelSpec]) -> list[Job]:
    return [Job(f"{s.name}/pytorch/fp32", "baseline", s.name, str(s.width), "pytorch", "fp32", "pytorch",
                str(s.weights_path), size_on_disk(s.weights_path)) for s in specs]


def artifact_jobs(manifest: dict, folder: str | Path, models: set[str] | None = None) -> list[Job]:
    """Every manifest entry that has a file; failed exports (no file) are left out."""
    folder = Path(folder)
    jobs = []
    for e in manifest["artifacts"]:
        if not e.get("path") or (models and e.get("model") not in models):
            continue
        path = Path(e["path"]) if Path(e["path"]).is_absolute() else folder / e["path"]
        if not path.exists():
            continue
        runtime = RUNTIME_BY_SUFFIX.get(path.suffix.lower())
        if runtime is None:
            continue
        skip = None
        try:
            check_runnable(runtime)
        except NotRunnableHere as err:
            skip = str(err)
        key = "/".join([e["model"], e["format"], e["precision"]] + ([e["variant"]] if e.get("variant") else []))
        jobs.append(Job(key, "artifact", e["model"], e.get("width"), e["format"], e["precision"], runtime, str(path),
                        size_on_disk(path), e.get("status"), skip))
    return jobs


def reference_job(path: str | Path) -> Job:
    path = Path(path)
    return Job("mediapipe_face_landmark/tflite/fp32", "reference", "mediapipe_face_landmark", None, "tflite",
               "fp32", "litert", str(path), size_on_disk(path))


def shipped_specs(names: list[str] | None) -> list[ModelSpec]:
    """``names`` (or ``["all"]``: every shipped model); None: the default model of every shipped
    width (``laplacekl_wW``), the ladder the report's charts compare."""
    specs = list_models()
    if names == ["all"]:
        return specs
    if names is None:
        defaults = {default_model(s.width) for s in specs}
        return [s for s in specs if s.name in defaults]
    if names:
        known = {s.name for s in specs}
        bad = sorted(set(names) - known)
        if bad:
            raise SystemExit(f"not shipped models: {', '.join(bad)}; shipped: {', '.join(sorted(known))}")
        specs = [s for s in specs if s.name in names]
    return specs
