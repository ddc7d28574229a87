"""What the numbers were measured on: CPU, cores, OS, runtime versions and how busy the machine was."""
from __future__ import annotations

import os
import platform
from pathlib import Path

from edge_lmk.files import tool_versions

PACKAGES = ("torch", "executorch", "ai-edge-litert", "onnxruntime", "coremltools", "numpy", "edge-lmk")
CPU_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "neon", "asimd")


def _cpuinfo() -> dict:
    """Model name, flags and physical core count from /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    model, flags, cores = None, set(), set()
    phys = core = None
    for line in text.splitlines():
        key, _, val = (s.strip() for s in line.partition(":"))
        if key in ("model name", "Model", "Hardware") and model is None:
            model = val
        elif key in ("flags", "Features"):
            flags.update(val.split())
        elif key == "physical id":
            phys = val
        elif key == "core id":
            core = val
        elif not line.strip():
            if core is not None:
                cores.add((phys, core))
            phys = core = None
    return {"cpu_model": model, "cpu_flags": sorted(flags & set(CPU_FLAGS)), "cores_physical": len(cores) or None}


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict:
    info = {"cpu_model": platform.processor() or None, "cpu_flags": [], "cores_physical": None}
    info.update({k: v for k, v in _cpuinfo().items() if v is not None})
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info.update({"cores_logical": os.cpu_count(), "cores_usable": usable, "arch": platform.machine(),
                 "os": _os_name(), "kernel": platform.release(),
                 "versions": tool_versions(PACKAGES), "load_avg_start": load_average()})
    return info
