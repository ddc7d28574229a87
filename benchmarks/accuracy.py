"""Per-face NME of every benchmarked model file on one data folder, through ``edge_lmk.evaluate``."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from edge_lmk.contract import DEFAULT_CONTRACT, PreprocessContract
from edge_lmk.data import scan_folder
from edge_lmk.evaluate import CropSet, predict_photo, prepare_crops, score
from edge_lmk.paths import SAMPLE_TEST, default_test_dir
from edge_lmk.runtimes import RUNTIMES, Predictor, load_predictor

from .plan import Job
from .runners import open_runner, split_outputs


def eval_data(data: str | Path | None, quick: bool) -> tuple[Path, str]:
    """-> (folder, description). Default: 300-W test_common from ../shared/data when present, else the sample;
    ``--quick`` uses the bundled sample unless a folder is given."""
    if data is not None:
        folder = Path(data)
    else:
        folder = SAMPLE_TEST if quick else default_test_dir()
    if folder.resolve() == SAMPLE_TEST.resolve():
        kind = "bundled sample (edge_lmk/sample/test_common)"
    elif folder.name == "test_common" and folder.parent.name == "300w":
        kind = "300-W common test set"
    else:
        kind = "custom folder"
    return folder, kind


class RunnerPredictor(Predictor):
    """Fallback when ``edge_lmk.runtimes`` has no class for a suffix yet: the benchmark runner behind
    the Predictor interface, contract from the artifact's sidecar JSON (else the default)."""

    batch_size = 1

    def __init__(self, path: str | Path, runtime: str):
        self.runtime = runtime
        self._opened = open_runner(path, None, runtime)
        side = Path(f"{path}.json")
        meta = json.loads(side.read_text()) if side.is_file() else {}
        self.contract = PreprocessContract.from_dict(meta["contract"]) if "contract" in meta else DEFAULT_CONTRACT

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return split_outputs(self._opened.run(x))


def has_project_runtime(path: str | Path) -> bool:
    """Whether ``edge_lmk.runtimes`` ships a module for this suffix (they land with the export work)."""
    entry = RUNTIMES.get(Path(path).suffix.lower())
    return entry is not None and importlib.util.find_spec(entry[0]) is not None


def predictor_for(job: Job) -> tuple[Predictor, str]:
    """The project's own runtime class when it has one for this file, else the benchmark runner.

    Only a missing module falls back: an artifact the project's runtime refuses (sidecar hash
    mismatch, bad file) is an error in results.json, not silently re-run another way."""
    if job.role == "baseline":
        return load_predictor(job.model), "edge_lmk.runtimes.load_predictor"
    if has_project_runtime(job.path):
        return load_predictor(job.path), "edge_lmk.runtimes.load_predictor"
    return RunnerPredictor(job.path, job.runtime), "benchmarks.runners (edge_lmk.runtimes has no module for it)"


def load_crops(folder: Path, contract: PreprocessContract, limit: int | None = None) -> CropSet:
    records = scan_folder(folder)
    return prepare_crops(records[:limit] if limit else records, contract, desc="accuracy crops")


def job_accuracy(job: Job, crops: CropSet) -> dict:
    predictor, via = predictor_for(job)
    pred, _ = predict_photo(predictor, crops)
    res = score(pred, crops)
    per_face = res.pop("per_face")
    res.pop("subsets", None)
    return {"key": job.key, "model": job.model, "width": job.width, "format": job.format,
            "precision": job.precision, "runtime": job.runtime, "predictor": via, **res,
            "per_face_nme": [round(float(v), 5) for v in per_face]}
