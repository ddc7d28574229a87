"""The paper's Table 1 generator family: parameter counts against Table 3, shapes, BN folding, checkpoints."""
import copy
from fractions import Fraction

import pytest
import torch

from edge_lmk.losses import laplace_kl
from edge_lmk.models import REGISTRY, count_params, fold_batchnorm, load_checkpoint
from edge_lmk.models.registry import save_checkpoint
from edge_lmk.models.table1.generator import PAPER_PARAMS, Table1Generator, deployed_params


@pytest.mark.parametrize("width", sorted(PAPER_PARAMS))
def test_deployed_params_within_5_percent_of_table3(width):
    n = deployed_params(Table1Generator(width))
    assert abs(n / PAPER_PARAMS[width] - 1) < 0.05, (width, n)


def test_heatmap_layers_are_width_independent():
    """Table 3's constant term: the two 68 -> 68 1x1 layers (2 x (68*68 + 68) = 9,384 parameters)."""
    g = Table1Generator(Fraction(1, 16))
    assert count_params(g.heat2) + count_params(g.to_heatmaps) == 9384


def test_registry_builds_table1_and_outputs_shapes():
    spec = REGISTRY["laplacekl_w1_16_t1"]
    m = spec.build().eval()
    assert isinstance(m.generator, Table1Generator)
    lm, sc = m(torch.rand(2, 3, 80, 80))
    assert lm.shape == (2, 68, 2) and sc.shape == (2, 68)
    assert (lm >= 0).all() and (lm <= 80).all() and (sc > 0).all()


def test_checkpoint_round_trip_keeps_family(tmp_path):
    spec = REGISTRY["laplacekl_w1_8_t1"]
    model = spec.build().eval()
    save_checkpoint(tmp_path / "m.pt", model, spec)
    loaded, lspec, _ = load_checkpoint(tmp_path / "m.pt")
    assert lspec.family == "table1" and isinstance(loaded.generator, Table1Generator)
    x = torch.rand(1, 3, 80, 80)
    with torch.no_grad():
        assert torch.equal(model(x)[0], loaded(x)[0])


def test_fold_batchnorm_keeps_outputs():
    m = REGISTRY["laplacekl_w1_16_t1"].build().eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
        x = torch.rand(2, 3, 80, 80)
        ref = m(x)[0]
        folded = fold_batchnorm(copy.deepcopy(m))
        out = folded(x)[0]
    assert not any(isinstance(mod, torch.nn.BatchNorm2d) for mod in folded.modules())
    assert (out - ref).abs().max() < 1e-3  # float32 re-association over <= 5x5x16 products: well below 1e-3 px


def test_per_face_loss_weights_average_to_the_plain_loss():
    torch.manual_seed(0)
    mean, target = torch.rand(4, 68, 2) * 80, torch.rand(4, 68, 2) * 80
    spread = torch.rand(4, 68, 2) + 0.5
    per = laplace_kl(mean, spread, target, per_face=True)
    assert per.shape == (4,)
    assert torch.allclose(per.mean(), laplace_kl(mean, spread, target), rtol=1e-6)


def test_flip_average_is_exact_for_a_symmetric_predictor(sample_test):
    """Mirroring a crop and mapping the prediction back must land on the plain prediction when the model is
    mirror-equivariant; checked with a shipped model on real faces: plain vs flip differ by well under 1 px
    for a trained model, and flipping a flipped crop twice is the identity."""
    import numpy as np

    from edge_lmk.data import scan_folder
    from edge_lmk.evaluation import prepare_crops
    from edge_lmk.inference.flip import flip_average, unflip_landmarks
    from edge_lmk.runtimes import load_predictor

    pred = load_predictor("laplacekl_w1_8")
    crops = prepare_crops(scan_folder(sample_test)[:8], pred.contract)
    lm, _ = pred.predict(crops.inputs)
    lm_f, _ = pred.predict(np.ascontiguousarray(crops.inputs[..., ::-1]))
    back = unflip_landmarks(lm_f, 80)
    assert np.allclose(unflip_landmarks(unflip_landmarks(lm, 80), 80), lm, atol=1e-5)
    # a trained model is nearly mirror-equivariant: the mirrored pass agrees to about a pixel on average
    assert np.abs(back - lm).mean() < 1.0
    avg, scale = flip_average(pred, crops.inputs)
    assert np.allclose(avg, 0.5 * (lm + back), atol=1e-5) and scale.shape == (8, 68)


def test_ship_card_describes_a_table1_run(tmp_path):
    """A Table 1 run's card names the family, the data it chose its checkpoint on and the command that made it."""
    import torch

    from edge_lmk.models.registry import REGISTRY, save_checkpoint
    from edge_lmk.ship import build_card, card_markdown

    spec = REGISTRY["laplacekl_w1_16_t1"]
    torch.manual_seed(0)
    model = spec.build()
    args = {"family": "table1", "width": "1/16", "loss": "laplacekl", "data": ["/x/300w/train"],
            "val_data": ["/x/extra_udacity/val"], "extra_data": ["/x/extra_udacity/train"], "extra_weight": 0.5,
            "steps": 10000, "epochs": 72, "lr": 0.001, "seed": 0, "out": "runs/t1"}
    run = tmp_path / "run"
    save_checkpoint(run / "best.pt", model, spec, {"train_args": args, "epoch": 72, "val_nme": 8.5})
    ckpt = torch.load(run / "best.pt", weights_only=False)
    card = build_card("laplacekl_w1_16_t1", ckpt, None, run / "best.pt", run)
    cmd = card["training"]["command"]
    assert "--family table1" in cmd and "--steps 10000" in cmd and "--epochs" not in cmd
    assert "--val-data /x/extra_udacity/val" in cmd and "--extra-weight 0.5" in cmd
    assert card["family"] == "table1" and card["block_channels"] is None and card["channels"] is None
    assert "chosen on `/x/extra_udacity/val`" in card["training"]["data"]
    assert "17,192 deployed parameters (-1.2% vs Table 3's 17,400)" in card["param_note"]
    md = card_markdown(card)
    assert md.startswith("# laplacekl_w1_16_t1\n\nThe paper's Table 1 generator at width 1/16")
    assert "| channels (C = 64 x width; decoder 5x5 convs at 2C) | 4 |" in md


def test_shipped_table1_int8_pte_loads_and_keeps_its_accuracy(tmp_path, sample_test):
    """The Table 1 family declares float LeakyReLUs for ExecuTorch int8 (with QS8 ones its .pte did not load:
    "Failed to load method forward"); the int8 .pte loads in the runtime, records the config that ran, and
    stays within the 1/16 budget (+5% NME over fp32 PyTorch on the bundled faces)."""
    import json
    from dataclasses import replace

    from edge_lmk.compress import Calibration, config_for
    from edge_lmk.data import scan_folder
    from edge_lmk.evaluation import prepare_crops
    from edge_lmk.models import REGISTRY
    from edge_lmk.paths import SAMPLE_CALIB
    from export import executorch
    from export.parity import check_artifact, reference

    spec = REGISTRY["laplacekl_w1_16_t1"]
    model = spec.load()
    cfg = replace(config_for("executorch", "int8"), calibration=Calibration(n_faces=30, data=(SAMPLE_CALIB,)))
    path = executorch.export(model, spec, tmp_path, "int8", config=cfg)
    assert json.loads(path.with_name(path.name + ".json").read_text())["compression"]["int8_activations"] is False
    crops = prepare_crops(scan_folder(sample_test), spec.contract)
    parity = check_artifact(path, crops, reference(model, spec, crops))
    assert parity["delta_nme"] / parity["nme_torch"] < 0.05, parity


def test_ship_card_lists_the_unshipped_run_a_warm_restart_started_from(tmp_path):
    """A run initialised from another run's checkpoint (a warm restart, a fine-tune after pruning) ships
    with that run's command, epochs and validation NME as the first stage of its training history."""
    import json

    import torch

    from edge_lmk.models.registry import REGISTRY, save_checkpoint
    from edge_lmk.ship import build_card, card_markdown, run_stage_card

    spec = REGISTRY["laplacekl_w1_16_t1"]
    torch.manual_seed(0)
    model = spec.build()
    base = {"family": "table1", "width": "1/16", "loss": "laplacekl", "data": ["/x/300w/train"],
            "val_data": ["/x/extra_udacity/val"], "seed": 0}
    first, second = tmp_path / "first", tmp_path / "second"
    save_checkpoint(first / "best.pt", model, spec,
                    {"train_args": {**base, "steps": 30000, "lr": 0.001, "out": "runs/a"}, "epoch": 200, "val_nme": 5.5})
    (first / "log.json").write_text(json.dumps([{"epoch": i} for i in range(216)]))
    args = {**base, "steps": 20000, "lr": 0.0005, "init_from": str(first / "best.pt"), "out": "runs/b"}
    save_checkpoint(second / "best.pt", model, spec, {"train_args": args, "epoch": 104, "val_nme": 5.4})
    ckpt = torch.load(second / "best.pt", weights_only=False)
    card = build_card("laplacekl_w1_16_t1", ckpt, None, second / "best.pt", second, run_stage_card(first / "best.pt"))
    (stage,) = card["history"]
    assert stage["epochs_trained"] == 216 and stage["best_epoch"] == 200 and stage["val_nme"] == 5.5
    assert "--steps 30000" in stage["command"] and "--out runs/a" in stage["command"]
    assert stage["test_common_nme"] is None  # runs are chosen on validation data; no test number is made up
    assert "--init-from" in card["training"]["command"] and "## Training history" in card_markdown(card)
