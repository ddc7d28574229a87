"""Per-face NME of every benchmarked model file on one data folder, through ``edge_lmk.evaluate``."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from edge_lmk.contract import DEFAULT_CONTRACT, PreprocessContract
from edge_lmk.data import scan_folder
from edge_lmk.evaluation import CropSet, predict_photo, prepare_crops, score
from edge_lmk.paths import SAMPLE_TEST, default_test_dir
from edge_lmk.runtimes import Predictor, load_predictor
from edge_lmk.runtimes.table import BY_SUFFIX

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
    row = BY_SUFFIX.get(Path(path).suffix.lower())
    return row is not None and importlib.util.find_spec(row.predictor_module) is not None


def predictor_for(job: Job, threads: int | None = None) -> tuple[Predictor, str]:
    """The project's own runtime class when it has one for this file, else the benchmark runner.

    Only a missing module falls back: an artifact the project's runtime refuses (sidecar hash
    mismatch, bad file) is an error in results.json, not silently re-run another way."""
    kw = {} if threads is None else {"threads": threads}
    if job.role == "baseline":
        return load_predictor(job.model, **kw), "edge_lmk.runtimes.load_predictor"
    if has_project_runtime(job.path):
        return load_predictor(job.path, **kw), "edge_lmk.runtimes.load_predictor"
    return RunnerPredictor(job.path, job.runtime), "benchmarks.runners (edge_lmk.runtimes has no module for it)"


def load_crops(folder: Path, contract: PreprocessContract, limit: int | None = None) -> CropSet:
    records = scan_folder(folder)
    return prepare_crops(records[:limit] if limit else records, contract, desc="accuracy crops")


def job_accuracy(job: Job, crops: CropSet, threads: int | None = None) -> dict:
    predictor, via = predictor_for(job, threads)
    pred, _ = predict_photo(predictor, crops)
    res = score(pred, crops)
    per_face = res.pop("per_face")
    res.pop("subsets", None)
    return {**job_fields(job), "predictor": via, **res, "per_face_nme": [round(float(v), 5) for v in per_face]}


def job_fields(job: Job) -> dict:
    """What identifies an accuracy entry, with or without a result."""
    return {"key": job.key, "model": job.model, "width": job.width, "format": job.format,
            "precision": job.precision, "runtime": job.runtime}


def error_entry(job: Job, e: Exception) -> dict:
    return {**job_fields(job), "error": f"{type(e).__name__}: {e}"}


_CROPS: CropSet | None = None


def _init_worker(crops: CropSet) -> None:
    global _CROPS
    _CROPS = crops


def _entry(job: Job) -> dict:
    try:
        return job_accuracy(job, _CROPS, threads=1)
    except Exception as e:  # recorded; the other rows still get scored
        return error_entry(job, e)


def accuracy_entries(jobs: list[Job], crops: CropSet, workers: int, done=None,
                     cost: dict[str, float] | None = None) -> list[dict]:
    """NME of every job on ``crops``, ``workers`` jobs at a time, each in its own process at one
    runtime thread (the models are batch 1 and small; processes scale, intra-op threads barely
    do). Entries come back in ``jobs`` order; ``done(entry)`` is called as each one finishes.
    ``cost`` (job key -> expected seconds, e.g. the measured latency) starts the longest jobs
    first, so a slow full-width row does not run alone at the end while the other cores idle.

    Not a timing: the latency rows are all measured before this runs.
    """
    if workers <= 1 or len(jobs) <= 1:
        _init_worker(crops)
        out = []
        for job in jobs:
            out.append(_entry(job))
            if done:
                done(out[-1])
        return out
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: the parent has torch/XNNPACK thread pools that a forked child would inherit
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=mp.get_context("spawn"),
                             initializer=_init_worker, initargs=(crops,)) as pool:
        order = sorted(range(len(jobs)), key=lambda i: -(cost or {}).get(jobs[i].key, 0.0))
        futures = {pool.submit(_entry, jobs[i]): i for i in order}
        out: list[dict | None] = [None] * len(jobs)
        for f in as_completed(futures):
            out[futures[f]] = f.result()
            if done:
                done(out[futures[f]])
    return out  # type: ignore[return-value]
