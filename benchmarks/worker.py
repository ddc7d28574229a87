"""One measurement in a fresh process: ``python -m benchmarks.worker '<job json>'``.

The job names a model file, its runtime, a thread count, a ``.npy`` input and a budget.
The worker imports only that runtime, applies the thread count, then times: the import,
the load (file -> ready to run), the first inference, and the steady state. It ends by
reading VmHWM (peak RSS) and the number of OS threads from /proc/self/status and prints
one ``BENCH-RESULT {json}`` line on stdout; anything else the runtime prints is ignored.
A separate process per row keeps peak RSS and process-wide thread settings isolated.
"""
from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Any

import numpy as np

from .measure import BUDGETS, latency_stats, os_threads, peak_rss_mb, time_calls, timed_once
from .runners import NotRunnableHere, import_runtime, open_runner

MARKER = "BENCH-RESULT "


def measure(job: dict[str, Any]) -> dict[str, Any]:
    budget = BUDGETS[job.get("budget", "full")]
    x = np.ascontiguousarray(np.load(job["input"]), dtype=np.float32)
    t0 = time.perf_counter()
    import_runtime(job["runtime"])
    import_ms = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    opened = open_runner(job["path"], job.get("threads"), job["runtime"])
    load_ms = (time.perf_counter() - t0) * 1e3
    if tuple(x.shape) != tuple(opened.input_shape):
        raise ValueError(f"input {tuple(x.shape)} does not match the model's input {opened.input_shape}")
    first_ms = timed_once(lambda: opened.run(x))
    samples, capped = time_calls(opened.run, x, budget)
    return {"status": "ok", "error": None, "import_ms": import_ms, "load_ms": load_ms, "first_ms": first_ms,
            "latency_ms": latency_stats(samples), "time_capped": capped, "threads_applied": opened.threads_applied,
            "thread_control": opened.thread_control, "peak_rss_mb": peak_rss_mb(), "os_threads": os_threads(),
            "budget": budget.to_dict()}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m benchmarks.worker '<job json>'", file=sys.stderr)
        return 2
    job = json.loads(argv[0])
    try:
        out = measure(job)
    except NotRunnableHere as e:
        out = {"status": "skipped", "error": str(e)}
    except Exception as e:  # reported in results.json; the run goes on with the next row
        traceback.print_exc()
        out = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
    print(MARKER + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
