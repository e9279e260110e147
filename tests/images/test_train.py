"""Training image runs: every real data format, kill and resume, NaN stop, CLI, presets."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from idff.errors import ConfigError
from idff.images.config import image_run_config
from idff.images.train import train_images
from idff.presets import PRESETS, apply_overrides, get_preset
from idff.training import TrainConfig, Trainer
from idff.training.checkpoint import load_state
from tests.images.test_common import (
    _one_thread,  # noqa: F401  (autouse fixture)
    hide_system_fashion_mnist,
    tiny,
    write_cifar,
    write_fashion_mnist,
    write_folder,
    write_lmdb_export,
)


@pytest.fixture(autouse=True)
def _no_system_fashion_mnist(tmp_path, monkeypatch):
    hide_system_fashion_mnist(monkeypatch, tmp_path)


def _format(kind: str, root):
    """(preset, overrides, data_root) for a tiny dataset of each on-disk format."""
    if kind == "idx":
        return "fashion_mnist", tiny(28), write_fashion_mnist(root, n=12)
    if kind == "cifar_pickle":
        return "cifar10", tiny(32), write_cifar(root, n=3)
    if kind == "lmdb":
        write_lmdb_export(root, n=10, size=16)
        return "celebahq256", tiny(8), root
    return "celeba64", tiny(8) + ["data.dataset=folder"], write_folder(root, n=10)


class Killed(Exception):
    pass


@pytest.mark.parametrize("kind", ["idx", "cifar_pickle", "lmdb", "folder"])
def test_kill_and_resume_continue_exactly(tmp_path, monkeypatch, kind):
    preset, overrides, root = _format(kind, tmp_path / "data")
    cfg = image_run_config(preset, overrides + ["train.steps=4"], str(root))
    straight = train_images(cfg, tmp_path / "straight", progress=False)

    original = Trainer.train_micro_steps

    def dies_at_step_4(self, micro):
        if self.step == 3:  # the checkpoint on disk is the one of step 2
            raise Killed
        return original(self, micro)

    monkeypatch.setattr(Trainer, "train_micro_steps", dies_at_step_4)
    with pytest.raises(Killed):
        train_images(cfg, tmp_path / "killed", progress=False)
    assert load_state(tmp_path / "killed")["step"] == 2
    monkeypatch.setattr(Trainer, "train_micro_steps", original)
    with pytest.raises(Exception, match="already holds a run"):
        train_images(cfg, tmp_path / "killed", progress=False, resume=False)
    resumed = train_images(cfg, tmp_path / "killed", progress=False, resume=True)

    assert resumed.step == straight.step == 4
    a, b = straight.state_dict(), resumed.state_dict()
    for key in ("model", "ema"):
        for name, value in a[key].items():
            torch.testing.assert_close(b[key][name], value, rtol=0, atol=0, msg=f"{key}.{name}")
    assert int(a["ema_n_averaged"]) == int(b["ema_n_averaged"]) == 4
    for pid, st in a["optim"]["state"].items():
        torch.testing.assert_close(b["optim"]["state"][pid]["exp_avg"], st["exp_avg"], rtol=0,
                                   atol=0)
    assert a["sched"]["last_epoch"] == b["sched"]["last_epoch"] == 4
    saved = json.loads((tmp_path / "killed" / "config.json").read_text())
    assert saved["kind"] == "image" and saved["train"]["batch_size"] == 4


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    from idff.methods import make_objective
    from idff.models import build_model

    cfg = apply_overrides(get_preset("fashion_mnist"), tiny(8))
    model = build_model(cfg["model"])
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    data = [(x, None)] * 6
    calls = []

    def nan_on_third_call(module, args, output):  # the network diverges at step 3
        calls.append(1)
        return output * float("nan") if len(calls) == 3 else output

    model.backbone.register_forward_hook(nan_on_third_call)
    trainer = Trainer(model, make_objective(cfg["objective"]), data,
                      TrainConfig(steps=6, warmup=1, ckpt_every=2, log_every=1), tmp_path / "run",
                      progress=False)
    msg = r"step 3: the IDFF loss is not finite.*last good checkpoint \(step 2\)"
    with pytest.raises(FloatingPointError, match=msg):
        trainer.fit()
    assert load_state(tmp_path / "run")["step"] == 2
    from idff.training.checkpoint import load_run

    _, weights, step = load_run(tmp_path / "run")
    assert step == 2
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())


def test_grad_accumulation_matches_one_big_batch(tmp_path):
    from idff.models import build_model

    cfg = apply_overrides(get_preset("fashion_mnist"), tiny(8))
    x = torch.rand(4, 1, 8, 8) * 2 - 1

    def objective(model, x1, cond=None):  # deterministic: no noise draws
        from idff.objective import LossOutput

        t = torch.full((x1.shape[0],), 0.3)
        a, s = model(t, x1)
        loss = (a - x1).pow(2).mean() + s.pow(2).mean()
        return LossOutput(loss=loss, flow=loss.detach(), score=loss.detach())

    results = []
    for accum, batches in ((1, [(x, None)]), (2, [(x[:2], None), (x[2:], None)])):
        torch.manual_seed(0)
        model = build_model(cfg["model"])
        tr = Trainer(model, objective, batches, TrainConfig(steps=1, warmup=1, grad_accum=accum,
                                                             grad_clip=1e9), tmp_path / str(accum),
                     progress=False)
        tr.fit()
        results.append(torch.nn.utils.parameters_to_vector(model.parameters()))
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_every_preset_builds(tmp_path):
    from idff.models import build_model

    expected = {"cifar10", "celeba64", "celebahq256", "lsun_bedroom", "lsun_church",
                "imagenet64", "fashion_mnist"}
    assert expected <= set(PRESETS)
    for name in PRESETS:
        cfg = image_run_config(name)
        with torch.device("meta"):
            model = build_model(cfg["model"])
        n = sum(p.numel() for p in model.parameters())
        assert n > 1e5, name
        assert cfg["objective"]["sigma"] == 0.05 and cfg["objective"]["flow_weight"] == 2.0
        assert cfg["model"]["sigma"] == cfg["objective"]["sigma"]
    assert PRESETS["cifar10"]["train"]["lr"] == 2e-4
    assert PRESETS["cifar10"]["model"]["channel_mult"] == [1, 2, 2, 4]
    with pytest.raises(ValueError, match="disagree"):
        image_run_config("cifar10", ["data.image_size=64"])
    with pytest.raises(ValueError, match="unknown section"):
        image_run_config("cifar10", ["foo.bar=1"])
    vel = image_run_config("fashion_mnist", ["model.parametrization=velocity",
                                             "objective.sigma=0.3"])
    assert vel["model"]["sigma"] == 0.3
    with torch.device("meta"):
        assert build_model(vel["model"]).sigma == 0.3


def test_cli_dry_run_train_sample_and_errors(tmp_path):
    from idff.cli.main import cli

    runner = CliRunner()
    res = runner.invoke(cli, ["train", "cifar10", "--dry-run", "--data-root", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "NOT FOUND" in res.output and "one loss" in res.output and "M parameters" in res.output
    res = runner.invoke(cli, ["train", "cifar10", "--dry-run", "--data-root", str(tmp_path),
                              "--precision", "fp16"])  # stored, but a CPU run trains in fp32
    assert res.exit_code == 0 and "warning: --precision fp16 is stored in the run but applies " \
        "on a GPU only; on cpu this run trains in fp32." in res.output, res.output
    root = write_fashion_mnist(tmp_path / "fm", n=8)
    args = ["train", "fashion_mnist", "--data-root", str(root), "--steps", "2", "--out",
            str(tmp_path / "run"), "--no-tensorboard"]
    for o in tiny(28):
        args += ["--set", o]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, args)
    assert res.exit_code != 0 and "--resume" in res.output
    res = runner.invoke(cli, args + ["--resume", "--steps", "3"])
    assert res.exit_code == 0 and "step 3" in res.output, res.output
    out = tmp_path / "grid.png"
    res = runner.invoke(cli, ["sample", str(tmp_path / "run"), "--nfe", "2", "--n", "6",
                              "--out", str(out)])
    assert res.exit_code == 0 and "NFE 2" in res.output, res.output
    from PIL import Image

    with Image.open(out) as im:
        assert im.size == (2 * 30 + 2, 3 * 30 + 2)  # round(√6) = 2 per row, 28 px + 2 padding
    res = runner.invoke(cli, ["train", "fashion_mnist", "--resume", "--out",
                              str(tmp_path / "none")])
    assert res.exit_code != 0 and "nothing to resume" in res.output


@pytest.mark.parametrize("override", ["objective.flow_weight=5", "model.parametrization=x1",
                                      "objective.score_target=x0"])
def test_idff_only_overrides_on_a_cfm_run_are_refused(override):
    base = ["objective.name=otcfm", "objective.coupling=ot", "model.method=cfm"]
    with pytest.raises(ConfigError, match=f"{override.split('=')[0]} would change nothing: "
                                          "an otcfm run trains one velocity network"):
        image_run_config("fashion_mnist", base + [override])
    # the preset's own IDFF settings stay tolerated: the documented OT-CFM recipe builds
    cfg = image_run_config("fashion_mnist", base)
    assert cfg["method"] == "otcfm" and cfg["objective"]["sigma"] == 0.0
