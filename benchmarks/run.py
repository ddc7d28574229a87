"""Measure every shipped model and exported artifact on this machine; write ``OUT/results.json``.

    python -m benchmarks.run [--artifacts DIR] [--out DIR] [--quick]
                             [--models NAME ...] [--threads N ...] [--data DIR]
                             [--reference-tflite PATH] [--no-accuracy]

Rows: PyTorch eager of each shipped model (the baseline) and every artifact in
``DIR/manifest.json`` (written by ``python -m export.all --out DIR``), each at 1 thread and
at all threads (``os.cpu_count()``), batch 1, a real face crop from the bundled sample as
input. Each row runs in a fresh subprocess (``benchmarks.worker``) that times the runtime
import, the load, the first inference and the steady state (warm-up, then median / p90 /
p99), and reads its peak RSS (VmHWM). Also measured: this CPU's fp32 GEMM peak at the same
thread counts, MACs and parameters per width, and per-face NME of every row on the test
data (300-W test_common from ../shared/data when present, else the bundled sample).

MediaPipe's ``face_landmark.tflite`` is timed in LiteRT as a peer reference row in every run
that has it (``--reference-tflite``, ``EDGE_LMK_MEDIAPIPE_TFLITE``, or by default the extracted
``third_party/mediapipe/face_landmark.tflite``; ``--no-reference`` leaves it out); the report
gives every row's latency as a ratio to it (latency only: it predicts 468 points, not 68). See
benchmarks/README.md for the one-time extraction.

Timings are only as quiet as the machine: run it when nothing else is busy. results.json
is rewritten after every row, so an interrupted run leaves a valid, incomplete file.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge_lmk import cli
from edge_lmk.cli import cli_main, writable_dir
from edge_lmk.files import sha256

from .files import write_json
from .machine import load_average, machine_info
from .measure import BUDGETS
from .plan import Job, ManifestMissing, artifact_jobs, baseline_jobs, how_to_export, read_manifest, reference_job, \
    shipped_specs
from .targets import check_targets
from .threads import THREAD_CONTROL, describe

RESULTS_SCHEMA = "edge-lmk-bench-results/1"
REPO_DIR = Path(__file__).resolve().parent.parent
REFERENCE_ENV = "EDGE_LMK_MEDIAPIPE_TFLITE"
REFERENCE_SOURCE = "mediapipe==0.10.14 wheel: mediapipe/modules/face_landmark/face_landmark.tflite"
DEFAULT_ARTIFACTS = Path("artifacts")
WORKER_TIMEOUT_S = 600  # a cold torch import on a loaded 2-core machine has taken 45 s; this is a hang guard
MARKER = "BENCH-RESULT "
DEFAULT_PRECISIONS = ("fp32", "int8")


def run_subprocess(args: list[str], timeout: float = WORKER_TIMEOUT_S) -> dict:
    """Run ``python -m <args>`` from the repo root in a fresh interpreter -> its BENCH-RESULT/JSON line."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_DIR), os.environ.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)}
    try:
        proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO_DIR, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
        if line.startswith("{"):
            return json.loads(line)
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"status": "failed", "error": f"exit {proc.returncode}: " + " | ".join(tail)}


def latency_row(job: Job, threads: int, input_path: Path, budget: str) -> dict:
    row = {**job.to_dict(), "threads": threads}
    if job.skip_reason:
        return {**row, "status": "skipped", "error": job.skip_reason, "thread_control": describe(job.runtime)}
    spec = {"runtime": job.runtime, "path": job.path, "threads": threads, "input": str(input_path), "budget": budget}
    return {**row, **run_subprocess(["benchmarks.worker", json.dumps(spec)])}


def resolve_artifacts(given: str | None) -> tuple[Path | None, dict | None, str | None]:
    """-> (folder, manifest, note). A folder named on the command line must hold a manifest."""
    if given is not None:
        folder = Path(given)
        return folder, read_manifest(folder), None  # ManifestMissing propagates to main
    if (DEFAULT_ARTIFACTS / "manifest.json").is_file():
        return DEFAULT_ARTIFACTS, read_manifest(DEFAULT_ARTIFACTS), None
    return None, None, how_to_export(DEFAULT_ARTIFACTS)


def resolve_reference(given: str | None, off: bool = False) -> Path | None:
    """``--reference-tflite``, else ``$EDGE_LMK_MEDIAPIPE_TFLITE``, else the extracted
    ``third_party/mediapipe/face_landmark.tflite`` when present: MediaPipe is in every run that can have it."""
    from edge_lmk import peer_presence

    if off:
        return None
    default = peer_presence.DEFAULT_PATH
    value = given or os.environ.get(REFERENCE_ENV) or (str(default) if default.is_file() else None)
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise SystemExit(f"reference model {path} not found; extract it once with the command in "
                         f"benchmarks/README.md (MediaPipe peer reference)")
    return path


def one_thread_ms(rows: list[dict]) -> dict[str, float]:
    """Row key -> its measured 1-thread median (ms): what one face costs in the NME pass."""
    return {r["key"]: r["latency_ms"]["median"] for r in rows
            if r.get("threads") == 1 and r.get("status") == "ok" and r.get("latency_ms")}


def summary_lines(rows: list[dict]) -> list[str]:
    lines = [f"{'row':40s} {'thr':>3s} {'load ms':>8s} {'median':>8s} {'p90':>8s} {'p99':>8s} {'RSS MB':>7s}  status"]
    for r in rows:
        lat = r.get("latency_ms") or {}
        cells = [f"{r.get(k, 0) or 0:8.1f}" for k in ("load_ms",)] + \
                [f"{lat.get(k, float('nan')):8.3f}" for k in ("median", "p90", "p99")] + \
                [f"{r.get('peak_rss_mb') or float('nan'):7.1f}"]
        lines.append(f"{r['key']:40s} {r['threads']:3d} {' '.join(cells)}  {r['status']}"
                     + (f": {r['error']}" if r.get("error") else ""))
    return lines


@cli_main
def main(argv: list[str] | None = None) -> int:
    ap = cli.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", default=None,
                    help="folder with manifest.json from `python -m export.all --out DIR` (default: artifacts/ when "
                         "it has one, else PyTorch eager only)")
    ap.add_argument("--out", default="reports/bench", help="output folder for results.json (default: reports/bench)")
    ap.add_argument("--quick", action="store_true",
                    help="few timed runs, accuracy on the bundled sample: a smoke test, not numbers to report")
    ap.add_argument("--models", nargs="+", default=None,
                    help="shipped model names, or 'all' (default: the default model of every shipped width)")
    ap.add_argument("--precisions", nargs="+", default=list(DEFAULT_PRECISIONS),
                    help="artifact precisions to time, as in the manifest, or 'all' (default: fp32 int8, what "
                         "ships to devices); PyTorch eager is always timed")
    ap.add_argument("--threads", nargs="+", type=cli.positive_int, default=None,
                    help="thread counts (default: 1 and os.cpu_count())")
    ap.add_argument("--data", default=None, help="300-W layout folder for NME (default: shared test_common, "
                                                 "else the bundled sample)")
    ap.add_argument("--no-reference", action="store_true",
                    help="do not time MediaPipe even where its model is extracted (third_party/mediapipe/)")
    ap.add_argument("--reference-tflite", default=None,
                    help=f"MediaPipe face_landmark.tflite to time as a peer reference (or set {REFERENCE_ENV})")
    ap.add_argument("--no-accuracy", action="store_true", help="skip the per-face NME pass")
    ap.add_argument("--no-floor", action="store_true",
                    help="skip the head-only floor rows (the soft-argmax head exported and timed alone)")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    try:
        art_dir, manifest, note = resolve_artifacts(args.artifacts)
    except ManifestMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if note:
        print(f"note: {note}", file=sys.stderr)
    reference = resolve_reference(args.reference_tflite, args.no_reference)
    specs = shipped_specs(args.models)
    names = {s.name for s in specs}
    arts = artifact_jobs(manifest, art_dir, names) if manifest else []
    if arts and args.precisions and args.precisions != ["all"]:
        known = sorted({j.precision for j in arts})
        bad = sorted(set(args.precisions) - set(known))
        if bad and args.precisions == list(DEFAULT_PRECISIONS) and set(known) & set(args.precisions):
            bad = []  # a manifest without int8 rows (e.g. --precisions fp32 at export) is fine by default
        if bad:
            print(f"error: no artifacts with precision {', '.join(bad)} in the manifest (have: {', '.join(known)})",
                  file=sys.stderr)
            return 2
        arts = [j for j in arts if j.precision in args.precisions]
    jobs = baseline_jobs(specs) + arts
    if reference is not None:
        jobs.append(reference_job(reference))
    thread_counts = sorted(set(args.threads or [1, os.cpu_count() or 1]))
    budget = "quick" if args.quick else "full"
    out = writable_dir(args.out, "--out")
    given = sys.argv[1:] if argv is None else argv

    # Imported here: cv2 / the evaluation stack are only needed once the plan is known to be valid.
    from .accuracy import accuracy_entries, eval_data, load_crops
    from .cost import all_widths
    from .inputs import reference_io, resize_input, sample_face

    contract = specs[0].contract if specs else None
    if contract is None:
        raise SystemExit("no shipped models to benchmark (python -m edge_lmk.models)")
    x, face = sample_face(contract)
    data_dir, data_kind = eval_data(args.data, args.quick)
    results: dict = {
        "schema": RESULTS_SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.run", *map(shlex.quote, given)]),
        "quick": args.quick, "complete": False, "wall_s": None,
        "machine": machine_info(),
        "settings": {"budget": budget, **BUDGETS[budget].to_dict(), "batch": 1, "thread_counts": thread_counts,
                     "input": {"face": f"edge_lmk/sample/test_common/{face}", "shape": list(x.shape)},
                     "thread_control": {k: v.how for k, v in THREAD_CONTROL.items()},
                     "timer": "time.perf_counter_ns around one runtime call; GC paused while timing"},
        "artifacts": None if manifest is None else {"dir": str(art_dir), "manifest_schema": manifest.get("schema"),
                                                    "manifest_command": manifest.get("command"),
                                                    "n_entries": len(manifest["artifacts"])},
        "artifacts_note": note,
        "reference": None if reference is None else {"path": str(reference), "sha256": sha256(reference),
                                                     "source": REFERENCE_SOURCE},
        "cost": {"widths": [], "peak": []},
        "latency": [],
        "accuracy": None,
    }

    def save() -> None:
        results["wall_s"] = round(time.perf_counter() - start, 1)
        write_json(out / "results.json", results)

    steps = len(thread_counts) * (1 + len(jobs)) + (0 if args.no_accuracy else 1 + sum(
        j.role not in ("reference", "floor") and not j.skip_reason for j in jobs)) + 1
    bar = tqdm(total=steps, desc="benchmarks", unit="step", dynamic_ncols=True)
    try:
        with tempfile.TemporaryDirectory(prefix="edge-lmk-bench-") as tmp:
            x_path = Path(tmp) / "input.npy"
            np.save(x_path, x)
            ref_path = None
            if reference is not None:
                shape, points = reference_io(reference)
                ref_path = Path(tmp) / "reference_input.npy"
                np.save(ref_path, resize_input(x, shape))
                results["reference"].update(input_shape=list(shape), points=points)

            floor_path = None
            if not args.no_floor:
                bar.set_postfix_str("exporting the head-only floor")
                from .floor import floor_jobs, head_and_logits

                floor_spec = min(specs, key=lambda s: s.width)
                head, logits = head_and_logits(floor_spec, x)
                floor_path = Path(tmp) / "floor_input.npy"
                np.save(floor_path, logits)
                (out / "floor").mkdir(exist_ok=True)
                fjobs, ferrors = floor_jobs(head, logits, out / "floor")
                jobs.extend(fjobs)
                results["floor"] = {"from_model": floor_spec.name, "dir": str(out / "floor"), "errors": ferrors}
                bar.total += len(fjobs) * len(thread_counts)
                for err in ferrors:
                    bar.write(f"floor export failed: {err}")

            bar.set_postfix_str("cost model")
            results["cost"]["widths"] = all_widths()
            bar.update(1)
            for n in thread_counts:
                bar.set_postfix_str(f"GEMM peak, {n} thread(s)")
                peak = run_subprocess(["benchmarks.cost", "--peak", str(n)] + (["--quick"] if args.quick else []))
                results["cost"]["peak"].append({"threads": n, **peak})
                bar.update(1)
                save()
            for job in jobs:
                for n in thread_counts:
                    bar.set_postfix_str(f"{job.key} x{n}")
                    inp = {"reference": ref_path, "floor": floor_path}.get(job.role, x_path)
                    row = latency_row(job, n, inp, budget)
                    results["latency"].append(row)
                    if row["status"] == "failed":
                        bar.write(f"{job.key} threads={n}: failed: {row['error']}")
                    bar.update(1)
                    save()

        if not args.no_accuracy:
            bar.set_postfix_str(f"cropping {data_dir}")
            crops = load_crops(data_dir, contract)
            bar.update(1)
            workers = os.cpu_count() or 1
            acc = {"data": str(data_dir), "data_kind": data_kind, "n": len(crops.records), "entries": [],
                   "processes": workers, "threads_per_process": 1}
            results["accuracy"] = acc
            scored = [j for j in jobs if j.role not in ("reference", "floor") and not j.skip_reason]
            bar.set_postfix_str(f"NME of {len(scored)} rows, {workers} processes")

            def done(entry: dict) -> None:
                if entry.get("error"):
                    bar.write(f"{entry['key']}: accuracy failed: {entry['error']}")
                bar.update(1)

            acc["entries"] = accuracy_entries(scored, crops, workers, done, cost=one_thread_ms(results["latency"]))
            save()
    finally:
        bar.close()
    results["machine"]["load_avg_end"] = load_average()
    # CPU seconds actually consumed: on a busy machine wall_s mostly measures waiting, and this is
    # the better guide to how long the same run takes on an idle one.
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    results["cpu_s"] = {"parent": round(own.ru_utime + own.ru_stime, 1), "workers": round(kids.ru_utime + kids.ru_stime, 1)}
    results["complete"] = True
    save()

    print("\n".join(summary_lines(results["latency"])))
    for t in check_targets(results["latency"]):
        if t["best"] is None:
            print(f"target {t['width']}: no artifact measured at 1 thread")
            continue
        speed = f"{t['speedup']:.2f}x eager" if t["speedup"] else "no eager row"
        print(f"target {t['width']} <= {t['target_ms']} ms and >= {t['min_speedup']:.0f}x eager at 1 thread: "
              f"best {t['best']} {t['best_median_ms']:.3f} ms, {speed} -> {'met' if t['met'] else 'NOT met'}")
    load = results["machine"].get("load_avg_start")
    if load and load[0] > 0.5:
        print(f"warning: load average {load[0]:.2f} at start: other work was running, timings are noisy")
    print(f"results: {out / 'results.json'} ({results['wall_s']:.0f} s); "
          f"report: python -m benchmarks.report --results {out}")
    failed = [f"{r['key']} x{r['threads']}" for r in results["latency"] if r["status"] == "failed"]
    if failed:
        print(f"{len(failed)} row(s) failed (errors in results.json): {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
