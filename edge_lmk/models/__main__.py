"""``python -m edge_lmk.models [--json] [--all]``: list the model registry."""
import argparse
import json

from .registry import list_models


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m edge_lmk.models", description=__doc__)
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("--all", action="store_true", help="include registered variants without shipped weights")
    args = ap.parse_args(argv)
    rows = [s.describe() for s in list_models(shipped_only=not args.all)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'name':24s} {'width':>6s} {'loss':>11s} {'params':>9s} {'bytes':>9s}  test_common NME")
    for r in rows:
        nme = r["card"].get("test_common", {}).get("nme")
        print(f"{r['name']:24s} {r['width']:>6s} {r['loss']:>11s} {r['params']:9d} {r['bytes'] or 0:9d}  "
              f"{'' if nme is None else f'{nme:.2f}'}" + (f"  (pruned from {r['parent']})" if r.get("parent") else ""))


if __name__ == "__main__":
    main()
