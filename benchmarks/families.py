"""The family comparison table (issue 18): one row per shipped model of the listed families, from one
benchmark run (``python -m benchmarks.run``) and the models' cards.

    python -m benchmarks.families --results runs/bench_families [--models NAME ...] [--write docs/families/table.md]

Columns: family, parameters once batch norm is folded (what an artifact holds), bytes of the fastest
int8 artifact, 300-W common NME of PyTorch eager and of that artifact, its single-thread median
latency and that latency as a ratio to MediaPipe's in the same run (the number that carries over
to other machines). Each cell comes from the results file or the card; nothing is typed in.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge_lmk.files import atomic_write_bytes
from edge_lmk.models import REGISTRY

FAMILY_LABELS = {"recombinator": "recombinator (this kit's LaplaceKL generator)", "table1": "LaplaceKL Table 1",
                 "fast": "fast (latency-first)", "localglobal": "local-global context FCN",
                 "localglobal_nokc": "local-global FCN, no kernel convolution",
                 "evae": "EVAE-CNN", "evae_fcn": "EVAE-CNN's FCN ablation (no sampling)"}
STAGE_LABELS = {"shape": "+ PCA shape model", "cascade": "+ cascade stage"}


def label(model: str) -> str:
    spec = REGISTRY[model]
    return " ".join([FAMILY_LABELS.get(spec.family, spec.family), *(STAGE_LABELS[s] for s in spec.stages)])


def rows(results: dict, models: list[str] | None = None) -> list[dict]:
    lat = [r for r in results["latency"] if r.get("status") == "ok" and r["threads"] == 1]
    ref = next((r["latency_ms"]["median"] for r in lat if r["role"] == "reference"), None)
    acc = {e["key"]: e for e in (results.get("accuracy") or {}).get("entries", [])}
    names = models or sorted({r["model"] for r in lat if r["role"] != "reference" and r.get("model") in REGISTRY})
    out = []
    for name in names:
        mine = [r for r in lat if r.get("model") == name]
        eager = next((r for r in mine if r["format"] == "pytorch"), None)
        int8 = sorted((r for r in mine if r["precision"] == "int8"), key=lambda r: r["latency_ms"]["median"])
        best = int8[0] if int8 else None
        card = REGISTRY[name].card() if name in REGISTRY else {}
        out.append({
            "model": name, "family": label(name) if name in REGISTRY else "?",
            "params": card.get("deployed_params") or card.get("params"),
            "artifact": f"{best['format']} int8" if best else None, "int8_bytes": best["bytes"] if best else None,
            "nme_eager": acc.get(eager["key"], {}).get("nme") if eager else None,
            "nme_int8": acc.get(best["key"], {}).get("nme") if best else None,
            "ms": best["latency_ms"]["median"] if best else None,
            "vs_mediapipe": best["latency_ms"]["median"] / ref if best and ref else None})
    return out


def _f(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def markdown(table: list[dict], results: dict, regen: str) -> str:
    lines = ["| family | model | params | int8 bytes (artifact) | 300-W common NME fp32 / int8 | 1-thread ms | "
             "x MediaPipe |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in table:
        lines.append(f"| {r['family']} | `{r['model']}` | {_f(r['params'], ',')} | {_f(r['int8_bytes'], ',')} "
                     f"({r['artifact'] or '-'}) | {_f(r['nme_eager'], '.2f')} / {_f(r['nme_int8'], '.2f')} | "
                     f"{_f(r['ms'], '.3f')} | {_f(r['vs_mediapipe'], '.2f')}x |")
    acc = results.get("accuracy") or {}
    lines += ["", f"NME on {acc.get('n', '?')} faces of {acc.get('data_kind', '?')}; latency: median of one "
              f"benchmark run ({results.get('created', '?')}), batch 1, one thread. Regenerate:", "", f"    {regen}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.families", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True, help="folder with results.json from python -m benchmarks.run")
    ap.add_argument("--models", nargs="+", default=None, help="rows in this order (default: every model timed)")
    ap.add_argument("--write", default=None, help="also write the Markdown table to this file")
    args = ap.parse_args(argv)
    path = Path(args.results) / "results.json"
    if not path.is_file():
        print(f"error: {path}: no results.json (run python -m benchmarks.run --out {args.results} first)",
              file=sys.stderr)
        return 2
    results = json.loads(path.read_text())
    unknown = [m for m in args.models or [] if m not in REGISTRY]
    if unknown:
        print(f"error: not registry names: {', '.join(unknown)}", file=sys.stderr)
        return 2
    regen = "python -m benchmarks.families --results " + args.results + (
        " --models " + " ".join(args.models) if args.models else "")
    text = markdown(rows(results, args.models), results, regen)
    print(text)
    if args.write:
        atomic_write_bytes(Path(args.write), text.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
