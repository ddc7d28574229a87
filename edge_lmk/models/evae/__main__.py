"""How smooth are the response maps? ``python -m edge_lmk.models.evae [--data DIR] [--models A B]``

For each model, on every face of ``--data`` (default: 300-W common when present, else the bundled
sample): the response maps' softmax (the codec's, at the model's beta), their mean Laplace spread
E|x - mean| in crop pixels (wider = smoother), and their mean total variation (sum of absolute
differences between neighbouring bins, per map; lower = smoother). EVAE-CNN's claim is that the
sampled latent gives smoother maps than the same network without sampling (``_evfcn``)."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ...data import scan_folders
from ...evaluation import prepare_crops
from ...paths import default_test_dir
from ..registry import REGISTRY


@torch.no_grad()
def smoothness(name: str, inputs: torch.Tensor) -> dict:
    model = REGISTRY[name].load()
    gen = model.generator
    gen.train(False)
    f1 = gen.enc1(inputs)
    mu = gen.mu(gen.encoder(f1))
    d = gen.dec3(gen.up(gen.dec_in(mu)))
    responses = gen.responses(gen.dec1(gen.up(gen.dec2(gen.up(d)))))
    _, spread, probs = model.head(responses)
    tv = (probs.diff(dim=-1).abs().sum((-1, -2)) + probs.diff(dim=-2).abs().sum((-1, -2))).mean()
    return {"spread_px": float(spread.mean()), "total_variation": float(tv)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m edge_lmk.models.evae", description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--models", nargs="+", default=["laplacekl_w1_8_evae", "laplacekl_w1_8_evfcn"])
    args = ap.parse_args(argv)
    data = Path(args.data) if args.data else default_test_dir()
    crops = prepare_crops(scan_folders([data]), REGISTRY[args.models[0]].contract)
    x = torch.from_numpy(crops.inputs)
    print(f"response maps on {len(x)} faces of {data}")
    for name in args.models:
        r = smoothness(name, x)
        print(f"  {name:24s} mean Laplace spread {r['spread_px']:.3f} px   mean total variation {r['total_variation']:.3f}")


if __name__ == "__main__":
    main()
