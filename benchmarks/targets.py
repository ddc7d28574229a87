"""The release's latency targets, checked against one run's single-thread rows."""
from __future__ import annotations

# width -> median ms for the best runtime at 1 thread on the benchmark machine (issue 5)
LATENCY_TARGET_MS = {"1/16": 0.5, "1/8": 1.0}
MIN_SPEEDUP = 2.0  # best runtime vs PyTorch eager, same run, same thread count


def _median(row: dict) -> float | None:
    return (row.get("latency_ms") or {}).get("median") if row.get("status") == "ok" else None


def check_targets(rows: list[dict], threads: int = 1) -> list[dict]:
    """One verdict per width that has a target: best artifact vs eager, both at ``threads``."""
    out = []
    for width, target in LATENCY_TARGET_MS.items():
        same = [r for r in rows if r.get("width") == width and r.get("threads") == threads and _median(r)]
        eager = [r for r in same if r["role"] == "baseline"]
        arts = sorted((r for r in same if r["role"] == "artifact"), key=_median)
        verdict = {"width": width, "threads": threads, "target_ms": target, "min_speedup": MIN_SPEEDUP,
                   "best": None, "best_runtime": None, "best_median_ms": None,
                   "eager_median_ms": _median(eager[0]) if eager else None, "speedup": None,
                   "meets_latency": None, "meets_speedup": None, "met": None}
        if arts:
            best = arts[0]
            verdict.update(best=best["key"], best_runtime=best["runtime"], best_median_ms=_median(best),
                           meets_latency=_median(best) <= target)
            if verdict["eager_median_ms"]:
                verdict["speedup"] = verdict["eager_median_ms"] / _median(best)
                verdict["meets_speedup"] = verdict["speedup"] >= MIN_SPEEDUP
                verdict["met"] = verdict["meets_latency"] and verdict["meets_speedup"]
        out.append(verdict)
    return out
