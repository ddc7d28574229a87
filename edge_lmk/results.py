"""Results table of the shipped models, built from their model cards.

    python -m edge_lmk.results            # print the Markdown table
    python -m edge_lmk.results --readme   # also replace the table between the markers in README.md

Each card's test number was produced by ``python -m edge_lmk.ship`` running the evaluate
command written in the card; re-run that command to regenerate a single number.
"""
from __future__ import annotations

import argparse
from fractions import Fraction

from .models.registry import list_models
from .paths import REPO_DIR
from .ship import PAPER

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
TARGETS = {"1/16": 6.0, "1/8": 4.2, "1/4": 3.6, "1/2": 3.4, "1": 3.3}


FAMILY_LABELS = {"table1": "Table 1", "fast": "fast", "localglobal": "local-global FCN",
                 "localglobal_nokc": "local-global FCN, no kernel conv", "evae": "EVAE-CNN",
                 "evae_fcn": "EVAE-CNN FCN ablation"}
STAGE_LABELS = {"shape": "+PCA shape model", "cascade": "+cascade"}


def table() -> str:
    rows = ["| model | width | loss | params | bytes | epochs | val NME | **300-W common NME** | AUC@8 | FR@8 | "
            "target | paper (full set) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    # pruned variants (width = their parent's) sort right after their parent, by decreasing size
    specs = sorted(list_models(), key=lambda s: (s.loss, Fraction(s.width), s.family != "recombinator", s.family,
                                                s.pruned, bool(s.arch), s.adversarial, -s.card().get("params", 0)))
    for s in specs:
        c = s.card()
        t = c.get("test_common", {})
        paper = None if s.pruned else PAPER.get(s.label, {}).get(str(s.width))
        tgt = TARGETS.get(str(s.width)) if s.loss == "laplacekl" and not s.pruned else None
        width = f"{s.width} pruned" if s.pruned else (f"{s.width} +MLP head" if s.arch.get("head_hidden") else s.width)
        if s.family != "recombinator":
            width = f"{width} {FAMILY_LABELS.get(s.family, s.family)}"
        width = " ".join([str(width), *(STAGE_LABELS[st] for st in s.stages)])
        val = c.get("training", {}).get("val_nme", 0)
        val_txt = f"{val:.2f}" + ("&dagger;" if c.get("training", {}).get("val_data") else "")
        stages = c.get("history") or []
        epochs = c.get("training", {}).get("epochs_trained", 0) or 0
        total = epochs + sum(h.get("epochs_trained") or 0 for h in stages)
        epochs_txt = f"{total} ({' + '.join(str(h.get('epochs_trained')) for h in stages)} + {epochs})" if stages \
            else str(epochs)
        rows.append(
            f"| `{s.name}` | {width} | {s.label} | {c.get('params', 0):,} | {c.get('bytes', 0):,} | "
            f"{epochs_txt} | {val_txt} | "
            f"**{t.get('nme', float('nan')):.2f}** | {t.get('auc8', float('nan')):.3f} | "
            f"{100 * t.get('fr8', float('nan')):.1f}% | {'<= %.1f' % tgt if tgt else '-'} | "
            f"{paper[0] if paper else '-'} |")
    note = ("\nMeasured on the 554 faces of the 300-W common test set with "
            "`python -m edge_lmk.evaluate --model NAME --data ../shared/data/300w/test_common`; the table is "
            "rebuilt from the model cards by `python -m edge_lmk.results --readme`. Our models were trained on the "
            "1677 of the standard 3148 300-W training faces that are available here; the paper's numbers are on the "
            "full set (common is about 0.82 x full), with all 3148 training faces. \"pruned\" rows are structurally "
            "pruned from the model of that width and fine-tuned (epochs: fine-tune epochs; "
            "`python -m edge_lmk.compress.prune_report`). \"+MLP head\" rows add a per-pixel MLP branch to the "
            "heatmap head (`--head-hidden 16`, see the model card). \"Table 1\" rows are the paper's generator "
            "(`edge_lmk/models/table1/`), \"fast\" rows the latency-first layout with 40x40 heatmaps "
            "(`edge_lmk/models/fast/`); local-global FCN and EVAE-CNN rows are the seeds' other systems "
            "(`docs/families/`), \"+PCA shape model\" and \"+cascade\" rows carry a post-head stage "
            "(`edge_lmk/models/stages/`). Epochs \"a + b\" are training stages, each "
            "initialised from the one before (listed in the card). &dagger;: validation NME on "
            "`extra_udacity/val` (noisier video frames, another domain; those runs trained on every 300-W face), "
            "not on a held-out 300-W split, so it is not comparable across rows.\n")
    return "\n".join(rows) + "\n" + note


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m edge_lmk.results", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readme", action="store_true")
    args = ap.parse_args(argv)
    t = table()
    print(t)
    if args.readme:
        readme = REPO_DIR / "README.md"
        text = readme.read_text()
        if BEGIN not in text:
            raise SystemExit(f"{readme}: no {BEGIN} marker")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(f"{head}{BEGIN}\n{t}{END}{tail}")


if __name__ == "__main__":
    main()
