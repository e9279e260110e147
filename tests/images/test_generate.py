"""``generate`` (resumable, per-sample seeds), ``dump-real``, sampling and grids."""

from __future__ import annotations

import pytest
import torch

from idff.images import datasets as img_data
from idff.images import sets as exp
from idff.images.config import image_run_config
from idff.images.grid import write_grid as save_grid
from idff.images.sample import sample_images, source_noise
from idff.images.sets import dump_real_images, generate_images
from idff.models import build_model
from idff.training.checkpoint import save_snapshot
from tests.images.test_common import (
    _one_thread,  # noqa: F401  (autouse fixture)
    hide_system_fashion_mnist,
    tiny,
    write_fashion_mnist,
)


def _perturbed_run(path, size: int = 8):
    cfg = image_run_config("fashion_mnist", tiny(size))
    torch.manual_seed(0)
    model = build_model(cfg["model"])
    with torch.no_grad():  # ADM zero-initialises the output; make the samples non-trivial
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_snapshot(path, model.state_dict(), cfg, step=7)
    return path


def _pngs(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_refused_generate_leaves_no_record(tmp_path):
    """Options the run would ignore are refused before generate.json is written, so the
    same folder takes the corrected command."""
    run = _perturbed_run(tmp_path / "run")
    out = tmp_path / "g"
    with pytest.raises(ValueError, match="guidance=2 has no effect"):
        generate_images(run, 2, out, nfe=2, guidance=2.0, progress=False)
    with pytest.raises(ValueError, match="not class-conditional"):
        generate_images(run, 2, out, nfe=2, label=1, progress=False)
    assert not (out / "generate.json").exists()
    assert generate_images(run, 2, out, nfe=2, progress=False) == 2


def test_source_noise_is_per_sample():
    a = source_noise((1, 4, 4), seed=3, indices=range(0, 5))
    b = source_noise((1, 4, 4), seed=3, indices=[3, 4])
    assert torch.equal(a[3:], b)
    assert not torch.equal(source_noise((1, 4, 4), 4, [3]), b[:1])


def test_generate_interrupted_equals_uninterrupted(tmp_path, monkeypatch):
    run = _perturbed_run(tmp_path / "run")
    full = tmp_path / "full"
    assert generate_images(run, 7, full, nfe=2, batch_size=3, progress=False) == 7
    assert len(_pngs(full)) == 7

    original, written = exp._save_png_atomic, []

    def dies_after_four(img, path):
        if len(written) == 4:
            raise KeyboardInterrupt
        written.append(path)
        original(img, path)

    monkeypatch.setattr(exp, "_save_png_atomic", dies_after_four)
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        generate_images(run, 7, part, nfe=2, batch_size=3, progress=False)
    assert len(_pngs(part)) == 4 and not list(part.glob(".*.tmp"))
    monkeypatch.setattr(exp, "_save_png_atomic", original)
    assert generate_images(run, 7, part, nfe=2, batch_size=3, progress=False) == 3
    assert _pngs(part) == _pngs(full)
    assert generate_images(run, 7, part, nfe=2, batch_size=3, progress=False) == 0


def test_generate_does_not_depend_on_batch_size_or_ranks(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    run = _perturbed_run(tmp_path / "run")
    generate_images(run, 5, tmp_path / "a", nfe=2, batch_size=5, progress=False)
    for rank in (0, 1):  # two "processes" of a torchrun job share the folder
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        generate_images(run, 5, tmp_path / "b", nfe=2, batch_size=2, progress=False)
    for name in _pngs(tmp_path / "a"):
        a = np.asarray(Image.open(tmp_path / "a" / name), dtype=int)
        b = np.asarray(Image.open(tmp_path / "b" / name), dtype=int)
        assert np.abs(a - b).max() <= 1  # equal up to float rounding across batch shapes


def test_generate_refuses_other_settings_and_bad_folders(tmp_path):
    run = _perturbed_run(tmp_path / "run")
    generate_images(run, 2, tmp_path / "g", nfe=2, progress=False)
    with pytest.raises(ValueError, match="other settings.*nfe"):
        generate_images(run, 2, tmp_path / "g", nfe=4, progress=False)
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match="cannot create output folder"):
        generate_images(run, 2, blocker / "sub", nfe=2, progress=False)


def test_sample_images_reports_counted_nfe_and_range(tmp_path):
    from idff.images.kind import load_image_model

    model, cfg = load_image_model(_perturbed_run(tmp_path / "run"))
    assert cfg["step"] == 7
    for nfe, solver in ((4, "midpoint"), (3, "euler"), (1, "midpoint")):
        x, used = sample_images(model, cfg, 3, nfe=nfe, solver=solver, batch_size=2)
        assert x.shape == (3, 1, 8, 8) and used == nfe
    x_pub, _ = sample_images(model, cfg, 3, nfe=2, field="published", s=0.4)
    assert not torch.allclose(x_pub, sample_images(model, cfg, 3, nfe=2)[0])


def test_dump_real_writes_the_dataset(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    hide_system_fashion_mnist(monkeypatch, tmp_path)
    root = write_fashion_mnist(tmp_path / "fm", n=5)
    cfg = image_run_config("fashion_mnist", [], str(root))
    assert dump_real_images(cfg, tmp_path / "real", n=3, progress=False) == 3
    ds = img_data.FashionMNIST(root)
    got = np.asarray(Image.open(tmp_path / "real" / "000002.png"))
    assert np.array_equal(got, ds.images[2, 0].numpy())


@pytest.mark.parametrize("channels,n,nrow", [(1, 5, None), (3, 5, None), (3, 7, 4)])
def test_save_grid_pixels(tmp_path, channels, n, nrow):
    """The grid: images in [-1, 1] mapped to [0, 255] (clamped, rounded), ``nrow`` per row
    (default ≈ √n), 2-pixel white padding around and between them."""
    import numpy as np
    from PIL import Image

    g = torch.Generator().manual_seed(3)
    x = (0.8 * torch.randn(n, channels, 5, 6, generator=g))
    x[0, 0, 0, :4] = torch.tensor([-1.0, 0.0, 1.0, 1.5])  # ends, middle, clamped
    path = save_grid(x, tmp_path / "sub" / "grid.png", nrow=nrow)
    got = np.asarray(Image.open(path).convert("RGB"))
    per_row = nrow or max(1, round(n**0.5))
    rows, pad = -(-n // per_row), 2
    want = np.full((rows * (5 + pad) + pad, per_row * (6 + pad) + pad, 3), 255, np.uint8)
    pixels = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, c = divmod(i, per_row)
        want[pad + r * (5 + pad):][:5, pad + c * (6 + pad):][:, :6] = pixels[i]
    np.testing.assert_array_equal(got, want)


def test_classifier_free_guidance_combines_heads():
    from idff.models import GuidedNet

    cfg = image_run_config("fashion_mnist", tiny(8) + ["model.num_classes=3",
                                                       "model.class_dropout=0.0"])
    torch.manual_seed(0)
    model = build_model(cfg["model"])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.eval()
    x, t, y = torch.randn(2, 1, 8, 8), torch.rand(2), torch.tensor([0, 2])
    cond, uncond = model(t, x, y), model(t, x, torch.tensor([3, 3]))
    for w in (0.0, 1.0, 2.5):
        guided = GuidedNet(model, w, null_label=3)(t, x, y)
        for g, c, u in zip(guided, cond, uncond):
            torch.testing.assert_close(g, u + w * (c - u), rtol=1e-5, atol=1e-5)
    imgs, nfe = sample_images(model, cfg, 2, nfe=2, labels=y, guidance=2.0)
    assert imgs.shape == (2, 1, 8, 8) and nfe == 2
    # label 3 is the null (unconditional) token, not a class: refused, as is a negative one
    for bad in (3, -1):
        with pytest.raises(ValueError, match=f"class label {bad} is out of range: the model "
                                             "has 3 classes, labels 0 to 2"):
            sample_images(model, cfg, 2, nfe=2, labels=torch.tensor([0, bad]))
    with pytest.raises(ValueError, match="coupling=independent"):
        image_run_config("fashion_mnist", ["model.num_classes=10", "data.class_cond=true"])


def test_autocast_only_on_gpu():
    from idff.training import TrainConfig, Trainer

    model = build_model(image_run_config("fashion_mnist", tiny(8))["model"])
    tr = Trainer(model, lambda *a: None, [], TrainConfig(precision="bf16"), "unused",
                 progress=False)
    assert tr.autocast_dtype is None and not tr.scaler.is_enabled()  # CPU: plain fp32
    with pytest.raises(ValueError, match="unknown precision"):
        TrainConfig(precision="fp8")


def test_cli_generate_resumes_and_dump_real(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from idff.cli.main import cli

    run = _perturbed_run(tmp_path / "run")
    args = ["generate", str(run), "--n", "3", "--nfe", "2", "--batch-size", "2", "--out",
            str(tmp_path / "gen")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0 and "(3 written now)" in res.output, res.output
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0 and "(0 written now)" in res.output, res.output
    res = CliRunner().invoke(cli, ["generate", str(tmp_path / "nope"), "--n", "1", "--out",
                                   str(tmp_path / "g2")])
    assert res.exit_code != 0 and "not an idff run directory" in res.output
    hide_system_fashion_mnist(monkeypatch, tmp_path)
    res = CliRunner().invoke(cli, ["dump-real", "fashion_mnist", "--out", str(tmp_path / "r"),
                                   "--data-root", str(tmp_path / "empty")])
    assert res.exit_code != 0 and "dataset-fashion-mnist" in res.output
