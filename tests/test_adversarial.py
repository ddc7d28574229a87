import numpy as np
import torch

from edge_lmk.training.adversarial import PatchDiscriminator, render_laplace
from edge_lmk.data import load_face, scan_folder
from edge_lmk.data.augment import AugmentConfig, crop_batch
from edge_lmk.data.canvas import load_unlabeled, make_canvas
from edge_lmk.codecs import soft_argmax
from edge_lmk.models import REGISTRY
from edge_lmk.training.loop import adversarial_step


def adversarial_setup(sample_train, sample_test, D: PatchDiscriminator):
    """4 labelled canvases and the ``adv`` state of ``train.adversarial_step`` with 4 "unlabelled"
    faces (real sample photos without their landmarks); seeds torch."""
    torch.manual_seed(0)
    recs = scan_folder(sample_train)[:4]
    canv, pts = zip(*(make_canvas(*load_face(r)) for r in recs))
    canv, pts = torch.from_numpy(np.stack(canv)), torch.from_numpy(np.stack(pts))
    un_img, un_box = load_unlabeled([r.image for r in scan_folder(sample_test)[:4]], 0.5)
    adv = {"D": D, "opt": torch.optim.Adam(D.parameters(), 1e-4), "img": torch.from_numpy(un_img),
           "box": torch.from_numpy(un_box)}
    return canv, pts, adv


def test_rendered_laplace_heatmap():
    t = torch.tensor([[[20.5, 60.5], [3.2, 77.9]]])
    h = render_laplace(t, 80, b=1.0)
    assert h.shape == (1, 2, 80, 80)
    assert torch.allclose(h.sum((-1, -2)), torch.ones(1, 2), atol=1e-5)
    mean, b = soft_argmax(h, "laplace")
    assert torch.allclose(mean[0, 0], t[0, 0], atol=1e-3)  # interior point: exact
    assert 0.8 < b[0, 0, 0].item() < 1.1  # discretised Laplace(b=1): 0.85 on a pixel centre, ~1 between


def test_discriminator_shape():
    D = PatchDiscriminator()
    assert D(torch.rand(2, 3, 80, 80), torch.rand(2, 68, 80, 80) / 6400).shape == (2, 1, 8, 8)


def test_adversarial_steps_change_the_generator(sample_train, sample_test):
    canv, pts, adv = adversarial_setup(sample_train, sample_test, PatchDiscriminator())
    D = adv["D"]
    model = REGISTRY["laplacekl_w1_16"].load().train()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    g = torch.Generator().manual_seed(0)
    d_before = [p.detach().clone() for p in D.parameters()]
    for _ in range(2):
        x, t = crop_batch(canv, pts, 80, 1.3, AugmentConfig(), g)
        loss = adversarial_step(adv, model, x, t, 80, 1.3, AugmentConfig(), g, 1.0, "cpu")
        assert torch.isfinite(loss) and loss.item() > 0
        opt.zero_grad()
        loss.backward()
        opt.step()
    moved = max((a - b).abs().max().item() for a, b in zip(model.parameters(), before))
    assert moved > 1e-4
    assert max((a - b).abs().max().item() for a, b in zip(D.parameters(), d_before)) > 1e-5


def test_discriminator_base_and_adv_batch(sample_train, sample_test):
    """--d-base shrinks D (the paper's base 64 is ~16x the parameters of base 16); --adv-batch n uses n faces."""
    n64 = sum(p.numel() for p in PatchDiscriminator(base=64).parameters())
    n16 = sum(p.numel() for p in PatchDiscriminator(base=16).parameters())
    assert n16 * 10 < n64
    canv, pts, adv = adversarial_setup(sample_train, sample_test, PatchDiscriminator(base=16))
    model = REGISTRY["softargmax_w1_16"].load().train()
    seen = []
    adv["D"].register_forward_hook(lambda m, i, o: seen.append(o.shape[0]))
    g = torch.Generator().manual_seed(0)
    x, t = crop_batch(canv, pts, 80, 1.3, AugmentConfig(), g)
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    loss = adversarial_step(adv, model, x, t, 80, 1.3, AugmentConfig(), g, 1.0, "cpu", 2)
    loss.backward()
    # the unlabelled pass leaves the generator's batch-norm running statistics alone
    assert all(torch.equal(model.state_dict()[k], v) for k, v in stats.items())
    assert seen == [2, 2, 2]  # real pairs, fake pairs (D update), fake pairs (G loss): 2 faces each
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
    assert max(p.grad.abs().max().item() for p in model.parameters()) > 0
