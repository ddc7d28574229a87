"""Turn ``results.json`` (and other devices' JSON) into ``report.md`` plus PNG charts.

    python -m benchmarks.report [--results DIR] [--out DIR] [--device-results FILE ...]
                                [--devices-dir DIR]

Reads ``DIR/results.json`` from ``python -m benchmarks.run`` (validated against
``benchmarks/schema/results.schema.json``) and every ``edge-lmk-device-bench/1`` file in
``benchmarks/devices/`` plus those given with ``--device-results``, merged by device name.
Writes ``OUT/report.md``, ``OUT/latency.png``, ``OUT/nme_vs_size.png``,
``OUT/nme_vs_latency.png``, ``OUT/ced_<width>.png`` per width and
``OUT/devices_latency.png`` when there are device results. Nothing is re-measured.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from edge_lmk.evaluation import plot_ced

from . import charts
from .devices import DEVICES_DIR, Device, device_files, merge
from .files import read_json, write_text
from .targets import check_targets
from .validate import validate


def fmt(v, spec: str = ".3f", empty: str = "") -> str:
    return empty if v is None else format(v, spec)


def md_table(head: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    sep = ["---:" if i in right else "---" for i in range(len(head))]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(sep) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def width_tag(width: str | None) -> str:
    return "ref" if width is None else "w" + width.replace("/", "_")


class Report:
    """Everything the report derives from one results.json, computed once."""

    def __init__(self, results: dict, regen: str):
        self.r = results
        self.regen = regen
        self.rows = [x for x in results["latency"] if x["status"] == "ok"]
        self.acc = {e["key"]: e for e in (results.get("accuracy") or {}).get("entries", []) if "nme" in e}
        self.macs = {w["width"]: w["conv_macs"] for w in results["cost"]["widths"]}
        self.peak = {p["threads"]: p["gflops"] for p in results["cost"]["peak"] if "gflops" in p}
        self.eager = {(x["width"], x["threads"]): x["latency_ms"]["median"] for x in self.rows
                      if x["role"] == "baseline"}
        self.reference_ms = {x["threads"]: x["latency_ms"]["median"] for x in self.rows if x["role"] == "reference"}
        counts = results["settings"]["thread_counts"]
        self.one = 1 if 1 in counts else min(counts)

    # derived numbers -------------------------------------------------------------------------------
    def gflops(self, row: dict) -> float | None:
        macs = self.macs.get(row["width"]) if row["role"] != "reference" else None
        return None if macs is None else 2.0 * macs / (row["latency_ms"]["median"] * 1e-3) / 1e9

    def peak_fraction(self, row: dict) -> float | None:
        g, p = self.gflops(row), self.peak.get(row["threads"])
        return None if g is None or not p else g / p

    def speedup(self, row: dict) -> float | None:
        e = self.eager.get((row["width"], row["threads"]))
        return None if e is None or row["role"] == "reference" else e / row["latency_ms"]["median"]

    def vs_reference(self, row: dict) -> float | None:
        """Row median / MediaPipe's median at the same thread count: the ratio that holds across machines."""
        ref = self.reference_ms.get(row["threads"])
        return None if ref is None or row["role"] == "reference" else row["latency_ms"]["median"] / ref

    def regenerate(self) -> str:
        return f"Regenerate: `{self.r['command']}` then `{self.regen}`."

    # sections --------------------------------------------------------------------------------------
    def header(self) -> list[str]:
        r = self.r
        lines = ["# edge-lmk benchmark report", "",
                 f"From `results.json` written by `{r['command']}` at {r['created']} "
                 f"({r['wall_s']:.0f} s wall{self._cpu()}{'' if r['complete'] else ', INCOMPLETE run'}); "
                 f"this file by `{self.regen}`.", ""]
        if r["quick"]:
            lines += ["> **Quick run** (`--quick`): a handful of timed runs per row. A smoke test of the harness; "
                      "do not quote these numbers.", ""]
        load = r["machine"].get("load_avg_start")
        cores = r["machine"].get("cores_usable") or 1
        if load and load[0] > 0.5:
            lines += [f"> **Noisy machine**: load average {load[0]:.2f} (1 min) on {cores} usable core(s) when the "
                      f"run started{self._load_end()}. Other processes competed for the CPU, so latencies are "
                      f"inflated and p90/p99 especially; re-run on an idle machine before quoting them.", ""]
        if r.get("artifacts_note"):
            lines += [f"> {r['artifacts_note']}", ""]
        return lines

    def _cpu(self) -> str:
        cpu = self.r.get("cpu_s")
        return f", {cpu['parent'] + cpu['workers']:.0f} s of CPU" if cpu else ""

    def _load_end(self) -> str:
        end = self.r["machine"].get("load_avg_end")
        return f" and {end[0]:.2f} when it ended" if end else ""

    def machine(self) -> list[str]:
        m = self.r["machine"]
        v = m["versions"]
        rows = [["CPU", f"{m.get('cpu_model')} ({', '.join(m.get('cpu_flags') or []) or 'no SIMD flags read'})"],
                ["cores", f"{m.get('cores_logical')} logical, {m.get('cores_physical')} physical, "
                          f"{m.get('cores_usable')} usable by this process"],
                ["OS", f"{m['os']} ({m['arch']}, kernel {m.get('kernel')})"],
                ["runtimes", ", ".join(f"{k} {val}" for k, val in v.items() if val)],
                ["thread control", "; ".join(f"{k}: {how}" for k, how in self.r["settings"]["thread_control"].items())],
                ["load average", f"start {m.get('load_avg_start')}, end {m.get('load_avg_end')}"]]
        return ["## Machine", "", self.regenerate(), "", md_table(["", ""], rows), ""]

    def targets(self) -> list[str]:
        ts = check_targets(self.r["latency"], self.one)
        rows = []
        for t in ts:
            yes = {True: "yes", False: "**no**", None: "n/a"}
            rows.append([t["width"], f"<= {t['target_ms']} ms and >= {t['min_speedup']:.0f}x eager",
                         t["best"] or "(no artifact measured)", fmt(t["best_median_ms"]), fmt(t["eager_median_ms"]),
                         fmt(t["speedup"], ".1f"), yes[t["meets_latency"]], yes[t["meets_speedup"]],
                         {True: "**met**", False: "**not met**", None: "n/a"}[t["met"]]])
        note = ("Best = the artifact with the lowest median at that thread count; eager = PyTorch eager of the same "
                "model in the same run.")
        if self.r["quick"] or (self.r["machine"].get("load_avg_start") or [0])[0] > 0.5:
            note += " This run was quick or on a busy machine: the verdict is provisional."
        return [f"## Targets ({self.one} thread, this machine)", "", self.regenerate(), "",
                md_table(["width", "target", "best runtime", "median ms", "eager median ms", "speedup",
                          "latency ok", "speedup ok", "verdict"], rows, {3, 4, 5}), "", note, ""]

    def floor(self) -> list[str]:
        rows = [x for x in self.rows if x["role"] == "floor" and x["threads"] == self.one]
        if not rows:
            return []
        best = min(rows, key=lambda x: x["latency_ms"]["median"])
        table = [[x["key"], x["runtime"], fmt(x["latency_ms"]["min"]), fmt(x["latency_ms"]["median"]),
                  fmt(x["latency_ms"]["p90"])] for x in sorted(rows, key=lambda x: x["latency_ms"]["median"])]
        lines = [f"## Head-only floor ({self.one} thread)", "", self.regenerate(), "",
                 "The soft-argmax head (softmax over 80x80 bins for each of the 68 landmarks, then the marginal "
                 "moments) exported alone with the same lowering as the models and fed the heatmap logits of "
                 f"`{(self.r.get('floor') or {}).get('from_model')}` for the benchmark face. Every width pays it, so "
                 "it bounds the smallest models' latency (`benchmarks/floor.py`).", "",
                 md_table(["row", "runtime", "min ms", "median ms", "p90 ms"], table, {2, 3, 4}), ""]
        peak = self.peak.get(self.one)
        for t in check_targets(self.r["latency"], self.one):
            left = t["target_ms"] - best["latency_ms"]["median"]
            macs = self.macs.get(t["width"])
            if macs is None:
                continue
            if left <= 0:
                need = "no time at all"
            else:
                gf = 2.0 * macs / (left * 1e-3) / 1e9
                need = (f"{left:.3f} ms for the generator's {macs / 1e6:.2f} M conv MACs, i.e. {gf:.0f} GFLOP/s"
                        + (f" ({100 * gf / peak:.0f}% of this CPU's measured GEMM peak)" if peak else ""))
            lines.append(f"- width {t['width']}: a {t['target_ms']} ms target minus the fastest head "
                         f"({best['latency_ms']['median']:.3f} ms, {best['runtime']}) leaves {need}.")
        return lines + [""]

    def latency(self) -> list[str]:
        head = ["row", "runtime", "threads", "load ms", "first ms", "min ms", "median ms", "p90 ms", "p99 ms", "runs",
                "peak RSS MiB", "size KiB", "x eager", "x MediaPipe", "GFLOP/s", "% peak", "OS threads"]
        rows = []
        for x in self.r["latency"]:
            if x["status"] != "ok":
                rows.append([x["key"], x["runtime"], str(x["threads"]), *[""] * 13, f"{x['status']}: {x['error']}"])
                continue
            lat = x["latency_ms"]
            frac = self.peak_fraction(x)
            flag = x.get("manifest_status")
            rows.append([x["key"] + (f" ({flag} in the manifest)" if flag not in (None, "ok") else ""), x["runtime"], str(x["threads"]), fmt(x["load_ms"], ".1f"), fmt(x["first_ms"], ".2f"),
                         fmt(lat["min"]), fmt(lat["median"]), fmt(lat["p90"]), fmt(lat["p99"]),
                         str(lat["runs"]) + (" (time-capped)" if x.get("time_capped") else ""),
                         fmt(x.get("peak_rss_mb"), ".0f"), fmt(x["bytes"] / 1024, ".1f"), fmt(self.speedup(x), ".1f"),
                         fmt(self.vs_reference(x), ".2f"),
                         fmt(self.gflops(x), ".2f"), fmt(None if frac is None else 100 * frac, ".1f"),
                         fmt(x.get("os_threads"), "d")])
        s = self.r["settings"]
        method = (f"Batch 1; input: the face `{s['input']['face']}` cropped by the model's contract. Per row a fresh "
                  f"process: import the runtime, load (file to ready), first inference, then {s['warmup_runs']}+ "
                  f"warm-up runs ({s.get('warmup_s', 0)} s at least) and at least {s['min_runs']} timed runs for "
                  f"{s['target_s']} s at least (a row stops after {s.get('max_s')} s whatever its count: time-capped); "
                  f"median/p90/p99 of per-call times ({s['timer']}). Peak RSS = VmHWM of "
                  f"that process (runtime + model + Python). min is the fastest call, the least disturbed by other load. x eager = PyTorch eager median / row median at the same "
                  f"thread count. x MediaPipe = row median / the MediaPipe reference's median at the same thread count (below 1: faster; "
                  f"the ratio, not the absolute time, is what carries over to other machines). GFLOP/s = 2 x conv MACs / median; % peak against the measured GEMM peak at the same "
                  f"thread count (see Cost model). OS threads = threads in the process at the end (a check that the "
                  f"thread setting took).")
        return ["## Latency, memory, size", "", self.regenerate(), "", method, "",
                md_table(head, rows, set(range(2, 17))), "", "![latency per runtime and thread count](latency.png)", ""]

    def accuracy(self) -> list[str]:
        a = self.r.get("accuracy")
        if not a:
            return ["## Accuracy", "", "Not measured in this run (`--no-accuracy`).", ""]
        rows = []
        for e in a["entries"]:
            if "nme" not in e:
                rows.append([e["key"], e["runtime"], "", "", "", "", f"error: {e.get('error')}"])
                continue
            rows.append([e["key"], e["runtime"], fmt(e["nme"]), fmt(e["auc8"], ".4f"), fmt(100 * e["fr8"], ".1f"),
                         str(e["n"]), e.get("predictor", "")])
        lines = ["## Accuracy", "", self.regenerate(), "",
                 f"Data: **{a['data_kind']}** (`{a['data']}`, {a['n']} faces), crops from ground-truth landmarks; "
                 f"per-face inter-ocular NME from `edge_lmk.evaluate` (prepare_crops, predict_photo, score).", "",
                 md_table(["row", "runtime", "NME %", "AUC@8", "FR@8 %", "n", "predictor"], rows, {2, 3, 4, 5}), ""]
        meds = [float(np.median(e["per_face_nme"])) for e in a["entries"] if e.get("per_face_nme")]
        if meds and min(meds) > 8:
            lines += ["Every model's median face is above 8% NME, so the CED curves (0-8% window) stay at zero: "
                      "the shipped weights are interim (see the model cards).", ""]
        for w in self._widths_with_accuracy():
            lines.append(f"![CED, width {w}](ced_{width_tag(w)}.png)")
        lines += ["", "![NME vs size](nme_vs_size.png)", ""]
        return lines

    def _widths_with_accuracy(self) -> list[str]:
        return list(dict.fromkeys(e["width"] for e in self.acc.values() if e.get("per_face_nme")))

    def pareto(self, front: list[dict]) -> list[str]:
        rows = [[p["key"], fmt(p["median"]), fmt(p["nme"]), fmt(p["bytes"] / 1024, ".1f")] for p in front]
        return [f"## NME vs latency ({self.one} thread)", "", self.regenerate(), "",
                "Pareto front: rows no other row beats on both median latency and NME.", "",
                md_table(["row", "median ms", "NME %", "size KiB"], rows, {1, 2, 3}) if rows else "(no rows with both)",
                "", "![NME vs latency](nme_vs_latency.png)", ""]

    def cost(self) -> list[str]:
        rows = [[w["width"], "yes" if w["shipped"] else "no", f"{w['params']:,}", fmt(w["conv_macs"] / 1e6, ".2f"),
                 fmt(w["generator_other_ops"] / 1e6, ".2f"), fmt(w["head_ops"] / 1e6, ".2f")]
                for w in self.r["cost"]["widths"]]
        peaks = [f"{p['threads']} thread(s): {p['gflops']:.1f} GFLOP/s best, {p['gflops_median']:.1f} median "
                 f"({p['method']}, {p['calls']} calls)" if "gflops" in p else
                 f"{p['threads']} thread(s): failed ({p.get('error')})" for p in self.r["cost"]["peak"]]
        return ["## Cost model", "", self.regenerate() + " Per-width counts alone: `python -m benchmarks.cost`.", "",
                md_table(["width", "shipped", "params", "conv MMACs", "generator other Mops", "head Mops"], rows,
                         {2, 3, 4, 5}), "",
                "conv MACs from `torch.utils.flop_counter.FlopCounterMode` (FLOPs / 2); other ops = elements touched "
                "by every non-convolution op (batch norm, activations, pooling, upsampling, concatenation; the "
                "soft-argmax head separately), one op per element, a lower bound. Batch norm folds into the "
                "convolutions at export.", "",
                "Measured fp32 peak of this CPU: " + "; ".join(peaks) + ".", ""]

    def reference(self) -> list[str]:
        ref = self.r.get("reference")
        lines = ["## Peer reference: MediaPipe face landmarks", ""]
        if not ref:
            return lines + ["Not timed in this run. Extract MediaPipe's `face_landmark.tflite` once (see "
                            "benchmarks/README.md) and pass `--reference-tflite PATH` or set "
                            "`EDGE_LMK_MEDIAPIPE_TFLITE`.", ""]
        rows = [[str(x["threads"]), fmt(x["load_ms"], ".1f"), fmt(x["latency_ms"]["median"]),
                 fmt(x["latency_ms"]["p90"]), fmt(x.get("peak_rss_mb"), ".0f"), fmt(x["bytes"] / 1024, ".0f")]
                for x in self.rows if x["role"] == "reference"]
        return lines + [self.regenerate(), "",
                        f"`{ref['path']}` ({ref['source']}; sha256 `{ref['sha256'][:16]}...`), {ref.get('points')} 3-D "
                        f"points from a {ref.get('input_shape')} input, timed in LiteRT exactly like our rows. "
                        f"Latency only: its landmarks are not the 68-point iBUG set, so no NME.", "",
                        md_table(["threads", "load ms", "median ms", "p90 ms", "peak RSS MiB", "size KiB"], rows,
                                 set(range(6))), ""]

    def devices(self, devs: list[Device]) -> list[str]:
        lines = ["## Other devices", ""]
        if not devs:
            return lines + ["No device results (`edge-lmk-device-bench/1` files in benchmarks/devices/ or "
                            "`--device-results`). Produce them with the Android demo's benchmark mode or "
                            "`benchmarks/adb_bench.sh`.", ""]
        for d in devs:
            info = ", ".join(f"{k} {v}" for k, v in d.info.items() if k != "name")
            rows = [[r["model"], r["format"], r["precision"], r["backend"],
                     "default" if r["threads"] is None else str(r["threads"]), fmt(r.get("load_ms"), ".1f"),
                     fmt(r["latency_ms"].get("median")) or f"mean {fmt(r['latency_ms'].get('mean'))}",
                     fmt(r["latency_ms"].get("p90")), str(r["latency_ms"]["runs"]), fmt(r.get("nme")),
                     fmt(r.get("n"), "d")] for r in d.results]
            lines += [f"### {d.name}", "", f"{info}. Sources: " + ", ".join(f"`{s}`" for s in d.sources) + ".", "",
                      f"Regenerate: run the device benchmark (Android demo benchmark mode or `benchmarks/adb_bench.sh`),"
                      f" then `{self.regen}`.", "",
                      md_table(["model", "format", "precision", "backend", "threads", "load ms", "median ms",
                                "p90 ms", "runs", "NME %", "n"], rows, set(range(4, 11))), ""]
        return lines + ["![latency on other devices](devices_latency.png)", ""]


def accuracy_points(rep: Report) -> list[dict]:
    pts = []
    for x in rep.rows:
        e = rep.acc.get(x["key"])
        if e is not None and x["threads"] == rep.one and x["role"] != "reference":
            pts.append({"key": x["key"], "width": x["width"], "format": x["format"], "precision": x["precision"],
                        "bytes": x["bytes"], "nme": e["nme"], "median": x["latency_ms"]["median"]})
    return pts


def peer_points(rep: Report) -> list[dict]:
    """MediaPipe at its latency measured in this run and dlib at its quoted ratio to it, with the NMEs the
    peers are known for on 300-W common (``benchmarks/peers.py``); none without a MediaPipe row."""
    from .peers import PEERS

    ref = rep.reference_ms.get(rep.one)
    if ref is None:
        return []
    return [{"label": p["label"], "nme": p["nme_common"], "median": ref * p.get("latency_vs_mediapipe", 1.0),
             "measured": "latency_vs_mediapipe" not in p} for p in PEERS.values()]


def write_charts(rep: Report, devs: list[Device], out: Path) -> list[dict]:
    """All PNGs; returns the Pareto front for the report text."""
    if rep.rows:
        charts.latency_bars(rep.rows, out / "latency.png", "Latency per runtime and thread count (this machine)")
    pts = accuracy_points(rep)
    front: list[dict] = []
    if pts:
        charts.nme_vs_size(pts, out / "nme_vs_size.png")
        _, front = charts.nme_vs_latency(pts, out / "nme_vs_latency.png", rep.one, peer_points(rep))
    data = (rep.r.get("accuracy") or {}).get("data_kind", "")
    for w in rep._widths_with_accuracy():
        curves = {k: np.asarray(e["per_face_nme"]) for k, e in rep.acc.items() if e["width"] == w
                  and e.get("per_face_nme")}
        plot_ced(curves, out / f"ced_{width_tag(w)}.png", f"CED, width {w} ({data})")
    dev_rows = [{"key": f"{d.name}: {r['model']} {r['format']} {r['precision']} {r['backend']}",
                 "threads": r["threads"] or 0, "latency_ms": r["latency_ms"]} for d in devs for r in d.results]
    if dev_rows:
        charts.latency_bars(dev_rows, out / "devices_latency.png", "Latency on other devices")
    return front


def build(results: dict, devs: list[Device], out: Path, regen: str) -> Path:
    rep = Report(results, regen)
    front = write_charts(rep, devs, out)
    lines = (rep.header() + rep.targets() + rep.floor() + rep.latency() + rep.accuracy() + rep.pareto(front) + rep.cost()
             + rep.reference() + rep.devices(devs) + rep.machine())
    path = out / "report.md"
    write_text(path, "\n".join(lines).rstrip() + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="reports/bench", help="folder with results.json (default: reports/bench)")
    ap.add_argument("--out", default=None, help="output folder (default: the results folder)")
    ap.add_argument("--device-results", nargs="+", default=[], metavar="FILE",
                    help="edge-lmk-device-bench/1 JSON files, merged by device name")
    ap.add_argument("--devices-dir", default=str(DEVICES_DIR),
                    help="folder of device JSON files read first (default: benchmarks/devices/)")
    args = ap.parse_args(argv)
    src = Path(args.results) / "results.json"
    if not src.is_file():
        print(f"error: no {src}; make it with `python -m benchmarks.run --out {args.results}`", file=sys.stderr)
        return 2
    results = read_json(src)
    validate(results, "results", str(src))
    devs = merge(device_files(Path(args.devices_dir), args.device_results))
    out = Path(args.out or args.results)
    given = sys.argv[1:] if argv is None else argv
    regen = " ".join(["python -m benchmarks.report", *map(shlex.quote, given)])
    path = build(results, devs, out, regen)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
