"""NME versus parameters: pruned models next to the width ladder, from the shipped model cards.

    python -m edge_lmk.compress.prune_report [--loss laplacekl] [--out docs/pruning]

Prints a Markdown table and writes ``OUT.md`` and ``OUT.png`` (300-W common NME against
parameters, log scale; pruned models joined to their parent). Numbers come from the model
cards, i.e. from ``python -m edge_lmk.evaluate --model NAME --data ../shared/data/300w/test_common``.
"""
from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

from ..files import save_figure
from ..models.registry import list_models


def rows(loss: str = "laplacekl") -> list[dict]:
    out = []
    for s in list_models():
        if s.loss != loss:
            continue
        c = s.card()
        pr = c.get("pruning") or {}
        out.append({"name": s.name, "width": str(s.width), "parent": s.parent, "params": c.get("params"),
                    "bytes": c.get("bytes"), "epochs": pr.get("finetune_epochs") if s.pruned else
                    c.get("training", {}).get("epochs_trained"), "val_nme": c.get("training", {}).get("val_nme"),
                    "nme": c.get("test_common", {}).get("nme"),
                    "criterion": (pr.get("config") or {}).get("criterion")})
    return sorted(out, key=lambda r: (r["params"] or 0))


def _f(v, spec):
    return "-" if v is None else format(v, spec)


def table(rs: list[dict]) -> str:
    lines = ["| model | kind | parent | params | bytes | epochs | val NME | **300-W common NME** |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rs:
        kind = f"pruned ({r['criterion']}) + fine-tuned" if r["parent"] else f"width {r['width']}"
        lines.append(f"| `{r['name']}` | {kind} | {('`%s`' % r['parent']) if r['parent'] else '-'} | "
                     f"{_f(r['params'], ',')} | {_f(r['bytes'], ',')} | {_f(r['epochs'], 'd')} | "
                     f"{_f(r['val_nme'], '.2f')} | **{_f(r['nme'], '.2f')}** |")
    lines.append("")
    lines.append("epochs: training epochs for the width ladder, fine-tune epochs after pruning for pruned models. "
                 "Regenerate: `python -m edge_lmk.compress.prune_report --out docs/pruning`.")
    return "\n".join(lines) + "\n"


def chart(rs: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ladder = sorted((r for r in rs if not r["parent"] and r["nme"] is not None), key=lambda r: Fraction(r["width"]))
    pruned = [r for r in rs if r["parent"] and r["nme"] is not None]
    by_name = {r["name"]: r for r in rs}
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    ax.plot([r["params"] for r in ladder], [r["nme"] for r in ladder], "o-", color="tab:blue", label="width ladder")
    for r in ladder:
        ax.annotate(f"{r['width']}", (r["params"], r["nme"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    for i, r in enumerate(pruned):
        p = by_name.get(r["parent"])
        if p and p["nme"] is not None:
            ax.annotate("", (r["params"], r["nme"]), (p["params"], p["nme"]),
                        arrowprops={"arrowstyle": "->", "color": "tab:red", "alpha": 0.5})
        ax.plot(r["params"], r["nme"], "s", color="tab:red", label="pruned + fine-tuned" if i == 0 else None)
        ax.annotate(r["name"].replace(f"{r['parent']}_", f"{r['width']} "), (r["params"], r["nme"]),
                    textcoords="offset points", xytext=(5, -12), fontsize=8, color="tab:red")
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("300-W common NME (%)")
    top = min(max([r["nme"] for r in ladder + pruned], default=10) * 1.1, 15)
    ax.set_ylim(0, top)
    for r in ladder + pruned:  # points above the axis: say so at the top edge
        if r["nme"] > top:
            ax.annotate(f"{r['name']}: {r['nme']:.1f} (off chart)", (r["params"], top), textcoords="offset points",
                        xytext=(-5, -12), ha="right", fontsize=7, color="grey")
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m edge_lmk.compress.prune_report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loss", default="laplacekl")
    ap.add_argument("--out", default=None, help="write OUT.md and OUT.png")
    args = ap.parse_args(argv)
    rs = rows(args.loss)
    t = table(rs)
    print(t)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".md").write_text("# Structured pruning: NME vs parameters\n\n" + t +
                                          f"\n![NME vs parameters]({out.name}.png)\n")
        chart(rs, out.with_suffix(".png"), f"{args.loss}: NME vs parameters (300-W common, 554 faces)")
        print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
