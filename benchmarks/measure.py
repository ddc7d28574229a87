"""Timing loop and process statistics for one measurement (used inside a worker process)."""
from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Budget:
    """Warm-up first, then timed runs until both ``min_runs`` and ``target_s`` are reached (or ``max_runs``).

    ``max_s`` caps a row whose calls are pathologically slow (a multi-threaded row on an
    oversubscribed machine can take seconds per call): warm-up stops after a quarter of it,
    timing after all of it, with at least ``MIN_CAPPED_RUNS`` timed calls; the row is then
    marked ``time_capped``.
    """

    warmup_runs: int
    warmup_s: float
    min_runs: int
    max_runs: int
    target_s: float
    max_s: float

    def to_dict(self) -> dict:
        return asdict(self)


MIN_CAPPED_RUNS = 5
# 100 runs and 1 s: the full-width model (~70-170 ms a call at 1 thread) then takes 7-17 s a row
# instead of 45 s at 300 runs, and the small models still get 300-1,000 runs from the time
# target (a 1-3 ms call); the ~60 fast rows of the default run are most of its latency phase,
# so the time target sets whether the whole run fits in 10 minutes. Warm-up is at least 0.3 s
# and 5 calls: hundreds of calls for the small models, while 20 calls of the full-width model
# were 2-4 s a row.
FULL = Budget(warmup_runs=5, warmup_s=0.3, min_runs=100, max_runs=20000, target_s=1.0, max_s=20.0)
QUICK = Budget(warmup_runs=3, warmup_s=0.0, min_runs=20, max_runs=200, target_s=0.1, max_s=3.0)
BUDGETS = {"full": FULL, "quick": QUICK}


def timed_once(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t0) / 1e6


def time_calls(fn: Callable[[np.ndarray], Any], x: np.ndarray, budget: Budget) -> tuple[np.ndarray, bool]:
    """-> (per-call wall times in ms after warm-up, whether ``max_s`` cut the row short).
    GC is paused while timing so collector pauses do not land in the tail."""
    start = time.perf_counter()
    n = 0
    while n < budget.warmup_runs or time.perf_counter() - start < budget.warmup_s:
        if n >= 1 and time.perf_counter() - start > budget.max_s / 4:
            break
        fn(x)
        n += 1
    samples: list[int] = []
    capped = False
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        target, cap = budget.target_s * 1e9, budget.max_s * 1e9
        while len(samples) < budget.max_runs:
            elapsed = time.perf_counter_ns() - start
            if len(samples) >= budget.min_runs and elapsed >= target:
                break
            if len(samples) >= MIN_CAPPED_RUNS and elapsed >= cap:
                capped = True
                break
            t0 = time.perf_counter_ns()
            fn(x)
            samples.append(time.perf_counter_ns() - t0)
    finally:
        gc.enable()
    return np.asarray(samples, dtype=np.float64) / 1e6, capped


def latency_stats(ms: np.ndarray) -> dict[str, float | int]:
    """Median, p90, p99 (linear interpolation), mean, min, max and the number of timed runs."""
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"median": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(ms.mean()),
            "min": float(ms.min()), "max": float(ms.max()), "runs": int(len(ms))}


def proc_status() -> dict[str, int]:
    """Numeric fields of /proc/self/status (kB values stay in kB); empty where there is no procfs."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    out[key] = int(parts[0])
    except OSError:
        pass
    return out


def peak_rss_mb() -> float | None:
    """VmHWM: the process's peak resident set size so far, in MiB."""
    kb = proc_status().get("VmHWM")
    return None if kb is None else kb / 1024.0


def os_threads() -> int | None:
    return proc_status().get("Threads")
