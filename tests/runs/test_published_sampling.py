"""A checkpoint in the original release's layout samples from every entry point.

The layout: torchcfm's ``UNetModelWrapper`` with 2C input channels, ``module.`` prefixes,
``net_model``/``ema_model`` dicts (docs/METHOD.md, "Published checkpoints").
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import idff
from idff.cli.main import cli
from idff.images.published import PUBLISHED_SIGMA
from idff.network import model_sigma


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A small 32 × 32 checkpoint as the release wrote it (32 px: the CLI's image size)."""
    from torchcfm.models.unet.unet import UNetModelWrapper

    torch.manual_seed(0)
    # attention at 16 × 16 on 64 channels: one head of the cifar10 preset's 64 channels
    net = UNetModelWrapper(dim=(6, 32, 32), num_channels=32, num_res_blocks=1,
                           channel_mult=[1, 2], num_heads=4, num_head_channels=64,
                           attention_resolutions="16", dropout=0.1)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # ADM zero-initialises its output layer: make the samples real
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    state = {"module." + k: v for k, v in net.state_dict().items()}
    path = tmp_path_factory.mktemp("published") / "IDFF_cifar10_weights_step_final.pt"
    torch.save({"net_model": state, "ema_model": state, "step": 400_000}, path)
    return path


def test_the_network_of_a_published_checkpoint_carries_the_published_sigma(published):
    run = idff.load(published)
    assert model_sigma(run.model) == PUBLISHED_SIGMA == 0.2
    assert run.sampling.sigma == 0.2 and run.sampling.field == "published"
    assert run.sampling.s == pytest.approx(0.4) and run.config["objective"]["sigma"] == 0.2


def test_a_published_checkpoint_samples_through_python_sample_and_generate(published,
                                                                            tmp_path):
    res = idff.load(published).sample(4, nfe=10, seed=0)
    assert res.x.shape == (4, 3, 32, 32) and res.nfe == 10
    assert torch.isfinite(res.x).all() and res.x.std() > 0.05  # images, not a constant

    npy = tmp_path / "x.npy"
    out = CliRunner().invoke(cli, ["sample", str(published), "--nfe", "10", "--n", "4",
                                   "--out", str(npy)])
    assert out.exit_code == 0, out.output
    assert "published field, s 0.4" in out.output
    # the same seed (0 on the command line) gives the same images as Python's seed=0
    # (the .npy holds the solver's output as is, Python clamps to the data range)
    np.testing.assert_allclose(np.clip(np.load(npy), -1, 1), res.x.numpy(), atol=1e-5)

    png = tmp_path / "grid.png"
    out = CliRunner().invoke(cli, ["sample", str(published), "--nfe", "10", "--n", "4",
                                   "--out", str(png)])
    assert out.exit_code == 0 and png.is_file(), out.output

    gen = tmp_path / "gen"
    out = CliRunner().invoke(cli, ["generate", str(published), "--nfe", "10", "--n", "3",
                                   "--batch-size", "2", "--out", str(gen)])
    assert out.exit_code == 0, out.output
    imgs = sorted(gen.glob("*.png"))
    assert [p.name for p in imgs] == ["000000.png", "000001.png", "000002.png"]
    first = np.asarray(Image.open(imgs[0]), dtype=np.float32)
    # generate writes sample 0 of seed 0, the image Python drew first (8-bit rounding apart)
    expect = ((res.x[0].clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).numpy()
    assert first.shape == (32, 32, 3) and np.abs(first - expect).max() <= 1.0
    record = json.loads((gen / "generate.json").read_text())
    assert record["field"] == "published" and record["s"] == pytest.approx(0.4)


def test_a_published_checkpoint_samples_with_the_pf_field_as_idff_fid_does(published):
    from idff.eval.bench import run_sampler

    sampler = run_sampler(idff.load(published), {"field": "pf", "gamma": 0.0})
    out = sampler(2, 4, None, 0)
    assert out.x.shape == (2, 3, 32, 32) and out.nfe == 4 and torch.isfinite(out.x).all()
