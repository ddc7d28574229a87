"""``python -m edge_lmk.models.table1``: Table 1 generator parameters at every width vs the paper's Table 3."""
from .generator import PAPER_PARAMS, Table1Generator, deployed_params


def main() -> None:
    print("| width | Table 1 params (deployed) | paper Table 3 | difference |")
    print("|---|---:|---:|---:|")
    for w, paper in PAPER_PARAMS.items():
        n = deployed_params(Table1Generator(w))
        print(f"| {w} | {n:,} | {paper:,} | {100 * (n / paper - 1):+.1f}% |")


if __name__ == "__main__":
    main()
