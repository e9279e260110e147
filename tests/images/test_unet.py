"""The UNet backbone and the published checkpoint layout.

See docs/METHOD.md, "Published checkpoints".
"""

from __future__ import annotations

import pytest
import torch

from idff.images.kind import load_image_model
from idff.images.published import load_published, published_model_config
from idff.models import build_model
from idff.training.checkpoint import RunError
from tests.images.test_common import _one_thread  # noqa: F401  (autouse fixture)


def _perturb(module, seed: int = 0):
    """ADM zero-initialises its output layers; give every weight a random nudge."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return module


SMALL = {"backbone": "unet", "num_channels": 32, "num_res_blocks": 1, "channel_mult": [1, 2],
         "attention_resolutions": "4", "num_heads": 2, "num_head_channels": -1, "dropout": 0.0}


def test_two_head_shapes_and_channels():
    m = build_model({**SMALL, "in_channels": 3, "image_size": 8}).eval()
    x, t = torch.randn(2, 3, 8, 8), torch.rand(2)
    x1_hat, score = m(t, x)
    assert x1_hat.shape == score.shape == x.shape
    assert m.backbone(t, x).shape == (2, 6, 8, 8)  # out_mult = 2 under TwoHead
    cfm = build_model({**SMALL, "in_channels": 3, "image_size": 8, "method": "cfm"}).eval()
    assert cfm(t, x).shape == x.shape
    rect = build_model({**SMALL, "in_channels": 1, "image_size": [8, 12]}).eval()
    assert rect(t, torch.randn(2, 1, 8, 12))[0].shape == (2, 1, 8, 12)


def test_bad_shapes_are_named():
    m = build_model({**SMALL, "in_channels": 3, "image_size": 8})
    with pytest.raises(ValueError, match=r"expects x of shape \(B, 3, 8, 8\)"):
        m(torch.rand(2), torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match="not divisible"):
        build_model({**SMALL, "in_channels": 3, "image_size": 7})
    with pytest.raises(ValueError, match="attention resolution"):
        build_model({**SMALL, "in_channels": 3, "image_size": 8, "attention_resolutions": "3"})


def test_spatial_cond_channels_are_used():
    m = _perturb(build_model({**SMALL, "in_channels": 2, "image_size": 8, "cond_channels": 3}))
    m.eval()
    x, t = torch.randn(2, 2, 8, 8), torch.rand(2)
    c1, c2 = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    a, b = m(t, x, c1)[1], m(t, x, c2)[1]
    assert a.shape == x.shape and not torch.allclose(a, b)
    with pytest.raises(ValueError, match=r"cond_channels=3; pass cond of shape \(2, 3, 8, 8\)"):
        m(t, x)
    plain = build_model({**SMALL, "in_channels": 2, "image_size": 8})
    with pytest.raises(ValueError, match="cond_channels=0"):
        plain(t, x, c1)


def test_class_labels_and_null_label():
    m = _perturb(build_model({**SMALL, "in_channels": 1, "image_size": 8, "num_classes": 3,
                              "class_dropout": 0.0})).eval()
    x, t = torch.randn(2, 1, 8, 8), torch.rand(2)
    y0, y1 = m(t, x, torch.tensor([0, 0]))[0], m(t, x, torch.tensor([1, 1]))[0]
    assert not torch.allclose(y0, y1)
    null = m(t, x, torch.tensor([3, 3]))[0]
    assert torch.allclose(m(t, x)[0], null)  # no labels = the null label
    with pytest.raises(ValueError, match="values in"):
        m(t, x, torch.tensor([0, 4]))


def _published_state(num_res_blocks: int = 1, seed: int = 0):
    from torchcfm.models.unet.unet import UNetModelWrapper

    torch.manual_seed(seed)
    net = UNetModelWrapper(dim=(6, 8, 8), num_channels=32, num_res_blocks=num_res_blocks,
                            channel_mult=[1, 2], num_heads=4, num_head_channels=16,
                            attention_resolutions="4", dropout=0.1)
    return _perturb(net, seed).eval()


def _save_published(path, net, ema):
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)
    net(torch.rand(1), torch.randn(1, 6, 8, 8)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 10))
    torch.save({
        "net_model": {"module." + k: v for k, v in net.state_dict().items()},
        "ema_model": {"module." + k: v for k, v in ema.state_dict().items()},
        "optim": opt.state_dict(), "sched": sched.state_dict(), "step": 1234,
    }, path)


OVERRIDES = {"num_heads": 4, "num_head_channels": 16}  # not stored in the weights


def test_published_checkpoint_gives_identical_outputs(tmp_path):
    net, ema = _published_state(seed=0), _published_state(seed=1)
    path = tmp_path / "idff_cifar10_weights_step_1234.pt"
    _save_published(path, net, ema)
    x, t = torch.randn(3, 3, 8, 8), torch.rand(3)
    for which, ref in (("ema_model", ema), ("net_model", net)):
        model, cfg = load_published(path, which=which, image_size=8, model_overrides=OVERRIDES)
        x1_hat, score = model(t, x)
        out = ref(t, torch.cat([x, x], 1))
        torch.testing.assert_close(x1_hat, out[:, :3], rtol=0, atol=1e-6)
        torch.testing.assert_close(score, out[:, 3:], rtol=0, atol=1e-6)
        assert out.abs().mean() > 1e-3  # a real comparison, not of zeros
    assert cfg["sampling"]["field"] == "published" and cfg["sampling"]["s"] == pytest.approx(0.4)
    assert cfg["sampling"]["nfe"] == 10 and cfg["step"] == 1234
    m = cfg["model"]  # the layout was read off the weights
    assert (m["num_res_blocks"], m["channel_mult"], m["attention_resolutions"]) == (1, [1, 2], "4")


def test_published_cifar10_config_matches_published_layout():
    from torchcfm.models.unet.unet import UNetModelWrapper

    with torch.device("meta"):
        ref = UNetModelWrapper(dim=(6, 32, 32), num_channels=128, num_res_blocks=2,
                               channel_mult=[1, 2, 2, 4], num_heads=4, num_head_channels=64,
                               attention_resolutions="16", dropout=0.1)
    cfg = published_model_config(ref.state_dict())
    assert cfg["in_channels"] == 3 and cfg["in_mult"] == 2 and cfg["duplicate_input"]
    assert cfg["channel_mult"] == [1, 2, 2, 4] and cfg["num_channels"] == 128
    assert cfg["num_res_blocks"] == 2 and cfg["attention_resolutions"] == "16"
    assert cfg["num_head_channels"] == 64 and cfg["parametrization"] == "x1"
    with torch.device("meta"):
        model = build_model(cfg)
    assert {"backbone.net." + k for k in ref.state_dict()} == set(model.state_dict())


def test_published_mismatch_truncation_and_missing_entry(tmp_path):
    net = _published_state(num_res_blocks=2)
    path = tmp_path / "other.pt"
    _save_published(path, net, net)
    keys = r"unexpected keys: backbone\.net\.input_blocks.*shape mismatches"
    with pytest.raises(RunError, match=keys):  # forced to another architecture
        load_published(path, image_size=8, model_overrides={**OVERRIDES, "num_res_blocks": 1})
    from idff.training.checkpoint import save_snapshot

    cfg = {"kind": "image", "model": {**SMALL, "in_channels": 3, "image_size": 8}}
    other = build_model({**SMALL, "in_channels": 3, "image_size": 8, "num_channels": 64})
    save_snapshot(tmp_path / "run", other.state_dict(), cfg, step=1)
    with pytest.raises(RunError, match=r"snapshot.safetensors does not fit.*shape mismatches"):
        load_image_model(tmp_path / "run")
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunError, match="truncated"):
        load_image_model(tmp_path / "cut.pt")
    torch.save({"model": {}}, tmp_path / "foreign.pt")
    with pytest.raises(RunError, match="no 'ema_model' entry"):
        load_image_model(tmp_path / "foreign.pt")
