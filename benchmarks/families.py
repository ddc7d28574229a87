"""The family comparison table (issue 18): one row per shipped model of the listed families, from one
benchmark run (``python -m benchmarks.run``) and the models' cards.

    python -m benchmarks.families --results runs/bench_families [--models NAME ...] [--write docs/families/table.md]
    python -m benchmarks.families --curves docs/families/logs --plot docs/families/convergence.png

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
from edge_lmk.results import FAMILY_LABELS, STAGE_LABELS  # the README results table's labels


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
        # a pruned model's rows are "pruned-<precision>" in the manifest (export.all.precision_label)
        int8 = sorted((r for r in mine if r["precision"].removeprefix("pruned-") == "int8"),
                      key=lambda r: r["latency_ms"]["median"])
        best = int8[0] if int8 else None
        fastest = min((r for r in mine if r["format"] != "pytorch"), key=lambda r: r["latency_ms"]["median"],
                      default=None)
        card = REGISTRY[name].card() if name in REGISTRY else {}
        out.append({
            "model": name, "family": label(name) if name in REGISTRY else "?",
            "params": card.get("deployed_params") or card.get("params"),
            "artifact": f"{best['format']} int8" if best else None, "int8_bytes": best["bytes"] if best else None,
            "nme_eager": acc.get(eager["key"], {}).get("nme") if eager else None,
            "nme_int8": acc.get(best["key"], {}).get("nme") if best else None,
            "ms": best["latency_ms"]["median"] if best else None,
            "vs_mediapipe": best["latency_ms"]["median"] / ref if best and ref else None,
            "fastest": f"{fastest['format']} {fastest['precision']}" if fastest else None,
            "fastest_ms": fastest["latency_ms"]["median"] if fastest else None})
    return out


def _f(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def markdown(table: list[dict], results: dict, regen: str) -> str:
    lines = ["| family | model | params | int8 bytes (artifact) | 300-W common NME fp32 / int8 | int8 1-thread ms | "
             "x MediaPipe | fastest artifact, ms |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in table:
        lines.append(f"| {r['family']} | `{r['model']}` | {_f(r['params'], ',')} | {_f(r['int8_bytes'], ',')} "
                     f"({r['artifact'] or '-'}) | {_f(r['nme_eager'], '.2f')} / {_f(r['nme_int8'], '.2f')} | "
                     f"{_f(r['ms'], '.3f')} | {_f(r['vs_mediapipe'], '.2f')}x | {_f(r['fastest_ms'], '.3f')} "
                     f"({r['fastest'] or '-'}) |")
    acc = results.get("accuracy") or {}
    lines += ["", f"NME on {acc.get('n', '?')} faces of {acc.get('data_kind', '?')}; latency: median of one "
              f"benchmark run ({results.get('created', '?')}), batch 1, one thread. Regenerate:", "", f"    {regen}", ""]
    return "\n".join(lines)


def plot_curves(log_dir: Path, out: Path) -> Path:
    """Validation NME and training loss per epoch of the training logs in ``log_dir`` (``NAME.json``: a run's
    ``log.json``), one line per model: the ablations' convergence side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge_lmk.files import save_figure

    logs = {p.stem: json.loads(p.read_text()) for p in sorted(Path(log_dir).glob("*.json"))}
    if not logs:
        raise SystemExit(f"{log_dir}: no NAME.json training logs")
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for name, rows in logs.items():
        ep = [r["epoch"] for r in rows]
        a.plot(ep, [r["val_nme"] for r in rows], label=name)
        b.plot(ep, [r["loss"] for r in rows], label=name)
    a.set(xlabel="epoch", ylabel="validation NME (extra_udacity/val)", title="validation NME", ylim=(None, 12))
    b.set(xlabel="epoch", ylabel="training loss", title="training loss (incl. auxiliary terms)", yscale="log")
    a.legend(fontsize=7)
    a.grid(alpha=0.3)
    b.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.families", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=None, help="folder with results.json from python -m benchmarks.run")
    ap.add_argument("--curves", default=None, help="folder of training logs (NAME.json) to plot with --plot")
    ap.add_argument("--plot", default=None, help="PNG for --curves")
    ap.add_argument("--models", nargs="+", default=None, help="rows in this order (default: every model timed)")
    ap.add_argument("--write", default=None, help="also write the Markdown table to this file")
    args = ap.parse_args(argv)
    if args.curves:
        print(plot_curves(Path(args.curves), Path(args.plot or Path(args.curves).parent / "convergence.png")))
        if not args.results:
            return 0
    if not args.results:
        ap.error("give --results and/or --curves")
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
