"""Manifest and human-readable tables for an export run."""
from __future__ import annotations

import json
from pathlib import Path

from edge_lmk.files import atomic_write_bytes, tool_versions

MANIFEST_FORMAT = "edge-lmk-manifest/1"
COLUMNS = ("model", "format", "precision", "bytes", "nme", "delta NME", "rel", "max px", "status")
TOL_LABELS = {"delta_nme": "|delta NME|", "max_px": "max px", "rel_delta_nme": "delta NME / fp32 NME",
              "rel_by_width": "by width"}
TOOLS = ("torch", "executorch", "coremltools", "litert-torch", "ai-edge-litert", "onnx", "onnxscript", "onnxruntime")


def _fmt(v, spec: str, digits: int | None = None) -> str:
    if v is None:
        return ""
    if digits is not None:
        v = round(v, digits) + 0.0  # + 0.0 turns -0.0 into 0.0, so "-0.00000" never shows
    return format(v, spec)


def row_cells(entry: dict) -> list[str]:
    p = entry.get("parity") or {}
    status = entry["status"] if entry["status"] == "ok" else f"{entry['status']}: {entry.get('error', '')}"
    fmt = entry["format"] + (f" ({entry['variant']})" if entry.get("variant") else "")
    return [entry["model"], fmt, entry["precision"], _fmt(entry.get("bytes"), ","), _fmt(p.get("nme_artifact"), ".3f"),
            _fmt(p.get("delta_nme"), "+.5f", 5), _fmt(p.get("rel_delta_nme"), "+.2%"), _fmt(p.get("max_px"), ".5f"),
            status]


def text_table(entries: list[dict]) -> str:
    rows = [list(COLUMNS)] + [row_cells(e) for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    lines = []
    for r in rows:
        lines.append("  ".join(c.rjust(w) if i >= 3 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     + "  " + r[-1])
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def markdown_table(entries: list[dict]) -> str:
    cells = [[c.replace("|", "\\|") for c in row_cells(e)] for e in entries]
    head = "| " + " | ".join(COLUMNS) + " |"
    sep = "|" + "|".join("---:" if i in (3, 4, 5, 6, 7) else "---" for i in range(len(COLUMNS))) + "|"
    return "\n".join([head, sep] + ["| " + " | ".join(r) + " |" for r in cells])


def manifest(entries: list[dict], run: dict) -> dict:
    return {"schema": MANIFEST_FORMAT, **run, "tools": tool_versions(TOOLS), "artifacts": entries}


def write_manifest(path: Path, entries: list[dict], run: dict) -> None:
    atomic_write_bytes(path, (json.dumps(manifest(entries, run), indent=2) + "\n").encode())


def write_report(path: Path, entries: list[dict], run: dict) -> None:
    refs = {e["model"]: e["parity"]["nme_torch"] for e in entries if e.get("parity")}
    ok = sum(e["status"] == "ok" for e in entries)
    lines = [
        "# Export report", "",
        f"`{run['command']}`", "",
        f"{ok} of {len(entries)} artifacts exported and within parity tolerance; wall time "
        f"{run['wall_s']:.1f} s ({run['cpu_s']:.1f} s CPU time, worker processes included; {run.get('workers', 1)} process(es)) on {run['cpus']} CPU core(s).", "",
        f"Parity data: `{run['data']}` ({run['n_faces']} faces, cropped from ground-truth landmarks). "
        "nme = inter-ocular NME (%) of the artifact in its runtime; delta NME = artifact - fp32 PyTorch; "
        "max px = largest landmark distance to PyTorch in photo pixels.", "",
        markdown_table(entries), "",
        "fp32 PyTorch reference NME: " + ", ".join(f"{m} {v:.3f}" for m, v in refs.items()), "",
        "Tolerances: " + "; ".join(f"{k}: " + " and ".join(f"{TOL_LABELS.get(n, n)} <= {v}" for n, v in t.items()
                                                             if v not in (None, [], ()))
                                   for k, t in run.get("tolerances", {}).items()) + ".", "",
        "Tools: " + ", ".join(f"{k} {v}" for k, v in tool_versions(TOOLS).items() if v), "",
    ]
    atomic_write_bytes(path, "\n".join(lines).encode())
