"""PNG charts for the report (matplotlib Agg, each file written atomically)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from edge_lmk.files import save_figure  # noqa: E402

WIDTH_COLORS = {"1/16": "tab:blue", "1/8": "tab:orange", "1/4": "tab:green", "1/2": "tab:red", "1": "tab:purple"}
FORMAT_MARKERS = {"pytorch": "o", "executorch": "s", "tflite": "^", "onnx": "D", "coreml": "P"}


def save(fig, path: Path) -> Path:
    return save_figure(fig, path)


def label(p: dict) -> str:
    return f"{p['key'].split('/')[0]} {p['format']} {p['precision']}" if "key" in p else \
        f"{p['width']} {p['format']} {p['precision']}"


def _point(ax, p: dict, x: float, y: float) -> None:
    """Colour = width, marker = format, filled = fp32, hollow = any other precision."""
    color = WIDTH_COLORS.get(p["width"], "gray")
    filled = p["precision"] == "fp32"
    ax.scatter(x, y, marker=FORMAT_MARKERS.get(p["format"], "x"), s=44, zorder=3, linewidths=1.2,
               facecolors=color if filled else "none", edgecolors=color)


def pareto_front(points: list[dict], x: str, y: str) -> list[dict]:
    """Points no other point beats on both ``x`` and ``y`` (lower is better on both), sorted by ``x``."""
    front = []
    for p in sorted(points, key=lambda q: (q[x], q[y])):
        if not front or p[y] < front[-1][y]:
            front.append(p)
    return front


def nme_vs_size(points: list[dict], path: Path) -> Path:
    """points: dicts with width, format, precision, bytes, nme."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for p in points:
        _point(ax, p, p["bytes"] / 1024, p["nme"])
    ax.set_xscale("log")
    ax.set_xlabel("size on disk (KiB, log)")
    ax.set_ylabel("NME (% inter-ocular)")
    ax.set_title("NME vs size")
    _legends(ax, points)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save(fig, path)


def nme_vs_latency(points: list[dict], path: Path, threads: int,
                   peers: list[dict] = ()) -> tuple[Path, list[dict]]:
    """points: dicts with width, format, precision, median (ms), nme. Marks and returns the Pareto front.
    ``peers``: dicts with label, median, nme, measured (latency timed in this run, else quoted): black stars."""
    front = pareto_front(points, "median", "nme")
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for p in points:
        _point(ax, p, p["median"], p["nme"])
    for p in peers:
        ax.scatter(p["median"], p["nme"], marker="*", s=160, zorder=5, color="black" if p["measured"] else "white",
                   edgecolors="black")
        ax.annotate(p["label"] + ("" if p["measured"] else " (latency quoted)"), (p["median"], p["nme"]),
                    fontsize=6, xytext=(6, -10), textcoords="offset points")
    if front:
        ax.step([p["median"] for p in front], [p["nme"] for p in front], where="post", color="black", lw=1,
                ls="--", zorder=2, label="Pareto front")
        ax.scatter([p["median"] for p in front], [p["nme"] for p in front], s=140, facecolors="none",
                   edgecolors="black", zorder=4)
        # Only the front is labelled: rows of one width share an NME and their labels would pile up.
        for i, p in enumerate(front):
            ax.annotate(label(p), (p["median"], p["nme"]), fontsize=6, xytext=(6, 6 + 8 * (i % 2)),
                        textcoords="offset points")
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    ax.set_xlabel(f"median latency at {threads} thread(s), batch 1 (ms, log)")
    ax.set_ylabel("NME (% inter-ocular)")
    ax.set_title("NME vs latency (circled: Pareto front)")
    _legends(ax, points, extra_front=bool(front))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save(fig, path), front


def _plain_log_ticks(axis) -> None:
    """1-2-5 ticks written as plain numbers (matplotlib's 3x10^-1 labels run into each other)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _legends(ax, points: list[dict], extra_front: bool = False) -> None:
    from matplotlib.lines import Line2D

    order = list(WIDTH_COLORS)
    widths = sorted({p["width"] for p in points}, key=lambda w: order.index(w) if w in order else len(order))
    formats = sorted({p["format"] for p in points})
    handles = [Line2D([], [], color=WIDTH_COLORS.get(w, "gray"), marker="o", ls="", label=f"width {w}")
               for w in widths]
    handles += [Line2D([], [], color="gray", marker=FORMAT_MARKERS.get(f, "x"), ls="", label=f) for f in formats]
    if any(p["precision"] != "fp32" for p in points):
        handles.append(Line2D([], [], color="gray", marker="o", markerfacecolor="none", ls="",
                              label="hollow: not fp32"))
    if extra_front:
        handles.append(Line2D([], [], color="black", ls="--", label="Pareto front"))
    ax.legend(handles=handles, fontsize=7, loc="best")


def latency_bars(rows: list[dict], path: Path, title: str) -> Path:
    """rows: dicts with key, threads (0 = runtime default), latency_ms {median, p90}; one bar per
    (key, threads), whisker to p90 where known."""
    keys = list(dict.fromkeys(r["key"] for r in rows))
    threads = sorted({r["threads"] for r in rows})
    by = {(r["key"], r["threads"]): r for r in rows}
    h = 0.8 / max(len(threads), 1)
    fig, ax = plt.subplots(figsize=(7.5, 0.38 * len(keys) * max(len(threads), 1) + 1.4), dpi=120)
    for j, t in enumerate(threads):
        ys, med, err = [], [], []
        for i, k in enumerate(keys):
            r = by.get((k, t))
            if r is None:
                continue
            lat = r["latency_ms"]
            if lat.get("median") is None:
                continue
            ys.append(i + j * h)
            med.append(lat["median"])
            err.append(max(lat["p90"] - lat["median"], 0.0) if lat.get("p90") is not None else 0.0)
        ax.barh(ys, med, height=h, xerr=[[0] * len(err), err], capsize=2,
                label=f"{t} thread(s)" if t else "runtime default",
                error_kw={"lw": 0.8})
    ax.set_yticks([i + h * (len(threads) - 1) / 2 for i in range(len(keys))])
    ax.set_yticklabels(keys, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("median latency, batch 1 (ms, log); whisker to p90")
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return save(fig, path)
