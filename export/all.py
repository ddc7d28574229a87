"""Export every shipped model to every target, check parity on real faces, write a manifest.

    python -m export.all [--models NAME ...] [--formats executorch coreml tflite onnx]
                         [--precisions fp32 fp16] [--out artifacts] [--data DIR]

Offline by default: the shipped weights (``python -m edge_lmk.models``) and the bundled
64-face sample. ``--data`` takes any 300-W layout folder. Writes ``OUT/<model>_<precision>.<ext>``
with a ``.json`` sidecar each, ``OUT/manifest.json`` (one entry per artifact, failures
included), ``OUT/report.md`` and ``OUT/export.log`` (converter output). A failed target is
reported and the run goes on; the exit status is 1 when any target failed or missed its
parity tolerance.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from edge_lmk import cli
from edge_lmk.cli import cli_main, writable_dir
from edge_lmk.data import scan_folder
from edge_lmk.evaluation import CropSet, prepare_crops
from edge_lmk.models import REGISTRY, ModelSpec, list_models
from edge_lmk.paths import SAMPLE_TEST

from edge_lmk.files import sha256, size_on_disk

from .artifact import artifact_name, remove_stale_temps, sidecar_path, write_sidecar
from .inventory import merge, on_disk_entries, previous_entries
from .parity import Reference, check_artifact, reference, within
from .report import text_table, write_manifest, write_report
from .targets import FORMATS, Target, select


@contextlib.contextmanager
def output_to(log: Path | None) -> Iterator[None]:
    """Send fd 1 and 2 (Python and the converters' C++ code alike) to ``log``; no-op when None."""
    if log is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (kill, CI timeouts) unwinds like Ctrl-C, so partial files are removed on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def resolve_models(names: list[str] | None) -> list[ModelSpec]:
    shipped = list_models()
    if not names:
        return shipped
    bad = [n for n in names if n not in REGISTRY or not REGISTRY[n].shipped]
    if bad:
        raise SystemExit(f"not shipped models: {', '.join(bad)}; shipped: {', '.join(s.name for s in shipped)}")
    return [REGISTRY[n] for n in names]


def precision_label(spec: ModelSpec, target: Target) -> str:
    """The manifest's precision: the target's, prefixed ``pruned-`` for structurally pruned models."""
    return f"pruned-{target.precision}" if spec.pruned else target.precision


def base_entry(spec: ModelSpec, target: Target) -> dict:
    return {"model": spec.name, "width": str(spec.width), "loss": spec.loss, "format": target.format,
            "precision": precision_label(spec, target), "parent": spec.parent, "variant": target.variant or None,
            "path": None, "bytes": None,
            "sha256": None, "sidecar": None, "parity": None, "tolerance": asdict(target.tolerance),
            "status": "failed", "error": None, "export_s": None, "parity_s": None}


def run_target(model, spec: ModelSpec, target: Target, out: Path, crops: CropSet, ref: Reference,
               log: Path | None) -> dict:
    """Export one row and check it; never raises for an export or runtime failure."""
    entry = base_entry(spec, target)
    t0 = time.perf_counter()
    try:
        with output_to(log):
            if log is not None:
                print(f"\n=== {spec.name} {target.key} ===", flush=True)
            exporter = target.exporter()
            compress = target.compressor()
            source = compress(model, spec) if compress else model
            # The full artifact path, not the folder: every exporter accepts it, and export.coreml requires it.
            want = out / artifact_name(spec, target.precision, target.suffix, target.variant)
            path = Path(exporter(source, spec, want, target.precision))
        if not path.exists() or path.suffix.lower() != target.suffix:
            raise RuntimeError(f"{target.module}.export returned {path}, expected an existing {target.suffix}")
        if not sidecar_path(path).is_file():  # every artifact gets one, even from an exporter that forgot it
            write_sidecar(path, spec, target.format, target.precision)
        entry.update(path=os.path.relpath(path, out), bytes=size_on_disk(path), sha256=sha256(path),
                     sidecar=os.path.relpath(sidecar_path(path), out), export_s=round(time.perf_counter() - t0, 2))
        t1 = time.perf_counter()
        with output_to(log):
            entry["parity"] = check_artifact(path, crops, ref)
        entry["parity_s"] = round(time.perf_counter() - t1, 2)
        entry["parity"]["rel_delta_nme"] = entry["parity"]["delta_nme"] / entry["parity"]["nme_torch"]
        side = json.loads(sidecar_path(path).read_text())
        for key in ("op_precision", "compression"):  # which ops ran in what precision, and the config used
            if key in side:
                entry[key] = side[key]
        problems = within(entry["parity"], target.tolerance, str(spec.width))
        entry["status"], entry["error"] = ("parity_failed", "; ".join(problems)) if problems else ("ok", None)
    except Exception as e:  # one row's failure is recorded and the others still run
        entry["error"] = f"{type(e).__name__}: {e}".strip()
        if entry["export_s"] is None:
            entry["export_s"] = round(time.perf_counter() - t0, 2)
    return entry


def model_rows(spec: ModelSpec, targets: list[Target], out: Path, records: list, log: Path | None,
               crops_by_contract: dict[str, CropSet] | None = None,
               on_target: Callable[[ModelSpec, Target], None] | None = None) -> Iterator[dict]:
    """Every target of one model, row by row. ``crops_by_contract``: crops shared by models with the same
    contract (one process exporting several models); ``on_target`` is told which row starts."""
    model, spec = spec.load_with_spec()  # the checkpoint's config (beta, ...) is what every record states
    cache = {} if crops_by_contract is None else crops_by_contract
    key = spec.contract.to_json()
    if key not in cache:
        cache[key] = prepare_crops(records, spec.contract)
    ref = reference(model, spec, cache[key])
    for target in targets:
        if on_target is not None:
            on_target(spec, target)
        yield run_target(model, spec, target, out, cache[key], ref, log)


def export_one_model(spec: ModelSpec, targets: list[Target], out: Path, records: list,
                     log: Path | None) -> list[dict]:
    """Every target of one model: a worker process's job."""
    return list(model_rows(spec, targets, out, records, log))


def _report_failure(bar, spec_name: str, target: Target, entry: dict) -> None:
    if entry["status"] != "ok":
        bar.write(f"{spec_name} {target.key}: {entry['status']}: {entry['error']}")


def _worker_init(threads: int) -> None:
    """A worker dies with its parent (a killed export.all leaves no process writing into --out) and uses
    ``threads`` torch threads, so the workers together use the cores once."""
    import ctypes
    import torch

    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux; elsewhere a no-op)
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    torch.set_num_threads(threads)


def default_workers(n_models: int) -> int:
    """One process per core, at most one per model: the rows of one model run in order in one process."""
    return max(1, min(os.cpu_count() or 1, n_models))


def export_models(specs: list[ModelSpec], targets: list[Target], out: Path, records: list, run: dict,
                  log: Path | None, kept: list[dict] | None = None, workers: int = 1) -> list[dict]:
    """Every spec x target; the manifest (``kept``, the valid artifacts already on disk, with this run's rows
    merged in) is rewritten after each row (one worker) or each model (several) so a killed run leaves a true
    one. With ``workers`` > 1 the models are spread over that many processes; rows keep the serial order."""
    if workers > 1 and len(specs) > 1:
        return _export_parallel(specs, targets, out, records, run, log, kept, workers)
    entries: list[dict] = []
    crops_by_contract: dict[str, CropSet] = {}  # models sharing a contract share crops
    bar = tqdm(total=len(specs) * len(targets), desc="export", unit="artifact", dynamic_ncols=True)
    try:
        for spec in specs:
            rows = model_rows(spec, targets, out, records, log, crops_by_contract,
                              lambda s, t: bar.set_postfix_str(f"{s.name} {t.key}"))
            for target, entry in zip(targets, rows):
                entries.append(entry)
                bar.update(1)
                _report_failure(bar, spec.name, target, entry)
                write_manifest(out / "manifest.json", merge(kept or [], entries), run)
    finally:
        bar.close()
    return entries


def _export_parallel(specs, targets, out, records, run, log, kept, workers: int) -> list[dict]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // workers)
    done: dict[int, list[dict]] = {}
    bar = tqdm(total=len(specs) * len(targets), desc=f"export ({workers} processes)", unit="artifact",
               dynamic_ncols=True)
    ex = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                             initargs=(threads,))
    try:
        futures = {ex.submit(export_one_model, spec, targets, out, records, log): i for i, spec in enumerate(specs)}
        for fut in as_completed(futures):
            i = futures[fut]
            done[i] = rows = fut.result()
            for target, entry in zip(targets, rows):
                _report_failure(bar, specs[i].name, target, entry)
            bar.update(len(rows))
            write_manifest(out / "manifest.json", merge(kept or [], [e for i in sorted(done) for e in done[i]]), run)
    except BaseException:
        ex.shutdown(wait=True, cancel_futures=True)  # running rows finish and clean up their temporaries
        raise
    finally:
        bar.close()
    ex.shutdown(wait=True)
    return [e for i in range(len(specs)) for e in done[i]]


@cli_main
def main(argv: list[str] | None = None) -> int:
    ap = cli.ArgumentParser(prog="python -m export.all", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=None, help="registry names (default: every shipped model)")
    ap.add_argument("--formats", nargs="+", default=None, choices=FORMATS, help="default: all")
    ap.add_argument("--precisions", nargs="+", default=None, help="default: all rows of the target table")
    ap.add_argument("--out", default="artifacts", help="output folder (default: artifacts/)")
    ap.add_argument("--data", default=None, help="300-W layout folder for parity (default: the bundled sample, "
                                                 "edge_lmk/sample/test_common)")
    ap.add_argument("--verbose", action="store_true", help="show converter output instead of writing OUT/export.log")
    ap.add_argument("--workers", type=cli.positive_int, default=None,
                    help="processes exporting models side by side (default: one per core, at most one per model)")
    ap.add_argument("--android", default=None, metavar="ASSETS_DIR",
                    help="also place the .pte/.tflite artifacts and their contracts into this Android assets folder "
                         "(e.g. android_demo/app/src/main/assets); see android_demo/README.md")
    args = ap.parse_args(argv)

    start, cpu_start = time.perf_counter(), time.process_time()
    specs = resolve_models(args.models)
    try:
        targets = select(args.formats, args.precisions)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    out = writable_dir(args.out, "--out")
    stale = remove_stale_temps(out)
    if stale:
        print(f"removed {len(stale)} temporary file(s) left by an interrupted run")
    log = None if args.verbose else out / "export.log"
    if log is not None:
        log.write_text("")
    data = Path(args.data) if args.data else SAMPLE_TEST
    records = scan_folder(data)
    given = sys.argv[1:] if argv is None else argv
    run = {"command": " ".join(["python -m export.all", *map(shlex.quote, given)]), "data": str(data),
           "n_faces": len(records), "cpus": os.cpu_count(), "wall_s": None, "cpu_s": None, "complete": False,
           "tolerances": {t.key: asdict(t.tolerance) for t in targets}}

    # From here on the manifest lists what is on disk and valid: earlier runs' artifacts (rebuilt from
    # their sidecars) and this run's rows as they finish.
    previous, unreadable = previous_entries(out)
    kept, skipped = on_disk_entries(out, previous)
    for why in ([unreadable] if unreadable else []) + skipped:
        print(f"not listed in the manifest: {why}", file=sys.stderr)
    write_manifest(out / "manifest.json", kept, run)
    try:
        with sigterm_as_interrupt():
            workers = args.workers or default_workers(len(specs))
            entries = export_models(specs, targets, out, records, run, log, kept, workers)
    except KeyboardInterrupt:
        print(f"\ninterrupted: no partial files left; rows finished so far are in {out / 'manifest.json'} "
              f"(complete: false)", file=sys.stderr)
        return 130

    # CPU time next to wall time: on a shared machine wall time mostly measures the neighbours.
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    run.update(wall_s=round(time.perf_counter() - start, 1),
               cpu_s=round(time.process_time() - cpu_start + children.ru_utime + children.ru_stime, 1),
               complete=True, workers=workers)
    listed = merge(kept, entries)
    write_manifest(out / "manifest.json", listed, run)
    write_report(out / "report.md", listed, run)
    print(text_table(entries))
    failed = [e for e in entries if e["status"] != "ok"]
    if args.android:
        from .android import place_for_android

        place_for_android(out / "manifest.json", args.android, [s.name for s in specs])
        print(f"Android assets: {args.android}")
    print(f"\n{len(entries) - len(failed)}/{len(entries)} ok in {run['wall_s']:.1f} s wall "
          f"({run['cpu_s']:.1f} s CPU); manifest {out / 'manifest.json'}, report {out / 'report.md'}"
          + (f", converter log {log}" if log else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
