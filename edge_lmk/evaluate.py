"""Evaluate a model or exported artifact on any 300-W layout folder.

    python -m edge_lmk.evaluate --model laplacekl_w1_8 --data ../shared/data/300w/test_common --json out.json

``--model`` is a registry name, a ``.pt`` checkpoint, or an exported artifact
(``.pte``, ``.tflite``, ``.onnx``, ``.mlpackage``) run in its own runtime. Faces are cropped
from their ground-truth landmarks by the model's contract; NME is inter-ocular (36/45), in
percent, measured in photo pixels.

A face whose prediction is not finite counts as a failure (FR, AUC), is left out of the mean
NME and is reported (``n_nonfinite`` in the summary and the JSON; the exit status is then 1).
The JSON is always valid: non-finite numbers are written as ``null``, counted in
``nonfinite_values``. Data and model errors (missing folder, bad ``.pts`` or image, unreadable
model) print one line naming the file and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from .cli import ArgumentParser, cli_main, writable_file
from .evaluation import evaluate, json_safe, plot_ced
from .paths import default_test_dir


def _summary_line(label: str, s: dict) -> str:
    nme = f"{s['nme']:.3f}" if math.isfinite(s["nme"]) else "n/a"
    bad = f"  non-finite {s['n_nonfinite']}" if s["n_nonfinite"] else ""
    return f"{label}NME {nme}  AUC@8 {s['auc8']:.4f}  FR@8 {100 * s['fr8']:.2f}%  n={s['n']}{bad}"


@cli_main
def main(argv=None):
    ap = ArgumentParser(prog="python -m edge_lmk.evaluate", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="registry name, .pt checkpoint or exported artifact")
    ap.add_argument("--data", default=None, help="300-W layout folder (default: shared test_common, else the sample)")
    ap.add_argument("--json", default=None, help="write results as JSON here")
    ap.add_argument("--ced", default=None, help="write a CED curve PNG here")
    ap.add_argument("--calibration", default=None, metavar="PNG",
                    help="print expected-error calibration and failure prediction, write the reliability diagram here")
    ap.add_argument("--flip", action="store_true",
                    help="test-time horizontal flip (twice the cost; reported as RUNTIME+flip, not a headline number)")
    args = ap.parse_args(argv)
    for flag, path in (("--json", args.json), ("--ced", args.ced), ("--calibration", args.calibration)):
        if path:
            writable_file(path, flag)  # before the evaluation, not after it
    data = args.data or default_test_dir()
    res = evaluate(args.model, data, flip=args.flip, calibration=bool(args.calibration))
    per_face = res.pop("per_face")
    print(_summary_line(f"{res['model']} [{res['runtime']}] on {data}: ", res))
    for k, v in res["subsets"].items():
        print(_summary_line(f"  {k:28s} ", v))
    if res["n_nonfinite"]:
        print(f"warning: {res['n_nonfinite']} of {res['n']} faces got a non-finite prediction: counted as failures "
              f"(FR, AUC), left out of the mean NME", file=sys.stderr)
    if args.ced:
        plot_ced({Path(str(args.model)).name: per_face}, args.ced, f"CED on {Path(data).name}")
        print("CED curve:", args.ced)
    if args.calibration:
        from .confidence_metrics import format_report, plot_reliability

        conf = res["confidence"]
        for line in format_report(conf):
            print(line)
        plot_reliability({f"{Path(data).name} (ECE {100 * conf['ece_rel']:.1f}%)": conf["reliability"]},
                         args.calibration, f"{Path(str(args.model)).name}: per-point expected error")
        print("reliability diagram:", args.calibration)
    if args.json:
        from .files import atomic_write_bytes

        res["per_face_nme"] = [round(float(v), 5) for v in per_face]
        out, nulls = json_safe(res)
        out["nonfinite_values"] = nulls
        atomic_write_bytes(args.json, json.dumps(out, indent=2, allow_nan=False).encode())
        print("results:", args.json)
    return res


def cli(argv=None) -> int:
    """``python -m edge_lmk.evaluate`` as an exit status: 0 ok, 1 if any prediction was non-finite, 2 for a
    data/model/argument error (``main``'s one line on stderr naming the file, via ``cli_main``)."""
    try:
        res = main(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    return 1 if res["n_nonfinite"] else 0


if __name__ == "__main__":
    sys.exit(cli())
