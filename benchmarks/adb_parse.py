"""Host-side half of ``benchmarks/adb_bench.sh``: list artifacts, parse benchmark logs, write device JSON.

    python -m benchmarks.adb_parse list-artifacts --artifacts DIR
    python -m benchmarks.adb_parse assemble --index INDEX.tsv --props PROPS.txt [--name NAME] --out FILE.json

``list-artifacts`` prints ``local path<TAB>model<TAB>format<TAB>precision<TAB>variant`` (``-`` for
none; bash ``read`` drops empty tab-separated fields) for every ``.tflite`` and ``.pte`` in
the export manifest. ``assemble`` reads the index the shell script wrote
(``tool<TAB>model<TAB>format<TAB>precision<TAB>variant<TAB>threads<TAB>log``), parses each log, and
writes one ``edge-lmk-device-bench/1`` file (validated) for the device described by
``adb shell getprop``. The parsers take the tools' text output as printed; they are kept
here, in Python, so they can be tested without a device.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from .files import write_json
from .plan import read_manifest
from .validate import validate

FORMATS = {".tflite": "tflite", ".pte": "executorch"}
NUM = r"([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)"


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), stdlib only."""
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def parse_benchmark_model(text: str) -> dict:
    """TFLite/LiteRT ``benchmark_model`` output -> load/first ms and latency stats in ms.

    The last ``count=... avg=... [median=... p95=...]`` line (microseconds) is the timed run;
    the ``Inference timings in us: Init: ..., First inference: ...`` line gives load and first.
    benchmark_model prints p5/median/p95 but no p90, so p90 is null.
    """
    stats = None
    for line in text.splitlines():
        if "count=" in line and "avg=" in line:
            stats = dict(re.findall(r"(\w+)=" + NUM, line))
    if stats is None:
        raise ValueError("no 'count=... avg=...' statistics line in benchmark_model output")
    us = {k: float(v) for k, v in stats.items()}
    out = {"load_ms": None, "first_ms": None, "peak_memory_mb": None,
           "latency_ms": {"median": us["median"] / 1e3 if "median" in us else None, "p90": None,
                          "p95": us["p95"] / 1e3 if "p95" in us else None, "mean": us["avg"] / 1e3,
                          "runs": int(us["count"])}}
    m = re.search(r"Init: " + NUM + r", First inference: " + NUM, text)
    if m:
        out["load_ms"], out["first_ms"] = float(m.group(1)) / 1e3, float(m.group(2)) / 1e3
    m = re.search(r"(?:Peak memory footprint|Memory footprint delta)[^:]*:\s*init=" + NUM + r"\s+overall=" + NUM, text)
    if m:
        out["peak_memory_mb"] = float(m.group(2))
    return out


def parse_executor_runner(text: str) -> dict:
    """ExecuTorch ``executor_runner`` log -> load/first ms and latency stats in ms.

    Uses the per-iteration ``Iteration i of N: X ms`` lines when the build prints them (first
    iteration = first inference, the rest = steady state); otherwise only the mean from
    ``Model executed successfully N time(s) in X ms.`` (median and p90 then null).
    """
    iters = [float(v) for v in re.findall(r"Iteration \d+(?: of \d+)?: " + NUM + " ms", text)]
    load = re.search(r"Model loaded in " + NUM + " ms", text)
    out = {"load_ms": float(load.group(1)) if load else None, "first_ms": None, "peak_memory_mb": None}
    if len(iters) >= 2:
        first, rest = iters[0], iters[1:]
        out["first_ms"] = first
        out["latency_ms"] = {"median": percentile(rest, 50), "p90": percentile(rest, 90),
                             "mean": sum(rest) / len(rest), "runs": len(rest)}
        return out
    total = re.search(r"Model executed successfully (\d+) time\(s\) in " + NUM + " ms", text)
    if not total:
        raise ValueError("no 'Iteration ...' or 'Model executed successfully ...' line in executor_runner output")
    n = int(total.group(1))
    out["latency_ms"] = {"median": None, "p90": None, "mean": float(total.group(2)) / max(n, 1), "runs": n}
    return out


PARSERS = {"benchmark_model": (parse_benchmark_model, "litert-xnnpack"),
           "executor_runner": (parse_executor_runner, "xnnpack")}


def parse_props(text: str) -> dict[str, str]:
    """``adb shell getprop`` lines ``[key]: [value]`` -> dict."""
    return dict(re.findall(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text, flags=re.M))


def device_info(props: dict[str, str], name: str | None) -> dict:
    model = props.get("ro.product.model")
    maker = props.get("ro.product.manufacturer")
    release, sdk = props.get("ro.build.version.release"), props.get("ro.build.version.sdk")
    return {"name": name or " ".join(p for p in (maker, model) if p) or "unknown android device",
            "model": model, "manufacturer": maker,
            "soc": props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware"),
            "os": f"Android {release} (API {sdk})" if release else None, "abi": props.get("ro.product.cpu.abi")}


def assemble(index: Path, props: Path, name: str | None) -> dict:
    results, problems = [], []
    for line in index.read_text().splitlines():
        if not line.strip():
            continue
        tool, model, fmt, precision, variant, threads, log = line.split("\t")
        parse, backend = PARSERS[tool]
        if variant != "-":  # e.g. the onnx2tf .tflite next to the litert-torch one: keep both rows apart
            backend = f"{backend} ({variant})"
        try:
            parsed = parse(Path(log).read_text(errors="replace"))
        except (OSError, ValueError) as e:
            problems.append(f"{model} {fmt} {precision} threads={threads}: {e} (log: {log})")
            continue
        results.append({"model": model, "format": fmt, "precision": precision, "backend": backend,
                        "threads": int(threads), **parsed, "nme": None, "n": None})
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    return {"schema": "edge-lmk-device-bench/1", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "tool": "benchmarks/adb_bench.sh", "device": device_info(parse_props(props.read_text()), name),
            "results": results}


def list_artifacts(folder: Path) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for e in read_manifest(folder)["artifacts"]:
        path = e.get("path")
        if path and Path(path).suffix in FORMATS and (folder / path).is_file():
            rows.append((str(folder / path), e["model"], e["format"], e["precision"], e.get("variant") or "-"))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.adb_parse", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    la = sub.add_parser("list-artifacts")
    la.add_argument("--artifacts", required=True)
    asm = sub.add_parser("assemble")
    asm.add_argument("--index", required=True)
    asm.add_argument("--props", required=True)
    asm.add_argument("--name", default=None)
    asm.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if args.cmd == "list-artifacts":
        for row in list_artifacts(Path(args.artifacts)):
            print("\t".join(row))
        return 0
    doc = assemble(Path(args.index), Path(args.props), args.name)
    validate(doc, "device", args.out)
    write_json(args.out, doc)
    print(f"{len(doc['results'])} result(s) for {doc['device']['name']} -> {args.out}")
    return 0 if doc["results"] else 1


if __name__ == "__main__":
    sys.exit(main())
