"""Inputs that used to be accepted and quietly give a wrong result are refused (or converted
correctly): non-finite weights, a damaged resume state, options that change nothing or
contradict each other, changed training data, reused output folders, unusual pixel types,
and Python arguments out of range."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from idff.cli.main import cli
from idff.errors import ConfigError, UserError
from tests.cli_checks import one_line_error as _one_line_error

TOY = ["train", "toy", "--hidden", "16", "--depth", "1", "--batch-size", "32"]



def _invoke(*args) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny IDFF and a tiny OT-CFM toy run (10 steps each)."""
    root = tmp_path_factory.mktemp("runs")
    for method in ("idff", "otcfm"):
        res = _invoke(*TOY, "--method", method, "--steps", 10, "--out", root / method)
        assert res.exit_code == 0, res.output
    return root


def _copy(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


# -- non-finite weights and damaged resume states ------------------------------------------

@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load(runs, tmp_path, bad):
    from safetensors.torch import load_file, save_file

    import idff

    run = _copy(runs / "idff", tmp_path / "run")
    snap = run / "snapshot.safetensors"
    state = load_file(snap)
    key = sorted(state)[0]
    state[key].view(-1)[0] = bad
    save_file(state, snap, metadata={"step": "10", "format": "idff-snapshot"})
    word = "NaN" if math.isnan(bad) else "infinite"
    _one_line_error(_invoke("sample", run, "--n", 8, "--out", tmp_path / "x.npy"),
                    "non-finite weights", word, key)
    assert not (tmp_path / "x.npy").exists()
    with pytest.raises(UserError, match="non-finite weights"):
        idff.load(run)


def test_non_finite_image_weights_are_refused_by_generate(tmp_path):
    from idff.images.config import image_run_config
    from idff.models import build_model
    from idff.training.checkpoint import save_snapshot
    from tests.images.test_common import tiny

    cfg = image_run_config("fashion_mnist", tiny(8))
    state = build_model(cfg["model"]).state_dict()
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = torch.full_like(state[key], float("nan"))
    save_snapshot(tmp_path / "run", state, cfg, step=3)
    res = _invoke("generate", tmp_path / "run", "--n", 2, "--nfe", 2, "--out", tmp_path / "g")
    _one_line_error(res, "non-finite weights", "NaN")
    assert not list((tmp_path / "g").glob("*.png"))


def test_negative_step_in_state_is_refused(tmp_path):
    out = tmp_path / "run"
    assert _invoke(*TOY, "--steps", 5, "--out", out).exit_code == 0
    state = torch.load(out / "state.pt", weights_only=True)
    state["step"] = -3
    torch.save(state, out / "state.pt")
    _one_line_error(_invoke(*TOY, "--steps", 10, "--out", out, "--resume"),
                    "state.pt records step -3", "integer >= 0")


# -- Python arguments ----------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{"hidden": 0}, {"depth": 0}, {"dim": 0}, {"batch_size": 0},
                                {"hidden": 8.5}, {"hidden": True}])
def test_toy_config_refuses_empty_or_fractional_sizes(kw):
    import idff

    name = next(iter(kw))
    with pytest.raises(ConfigError, match=f"{name} must be an integer >= 1"):
        idff.toy_config("idff", "moons", **kw)


def _conditional_image_run():
    from idff.images.config import image_run_config
    from idff.models import build_model
    from idff.runs import Run
    from idff.sampling import SamplingConfig
    from tests.images.test_common import tiny

    cfg = image_run_config("fashion_mnist", [*tiny(8), "model.num_classes=3",
                                             "data.class_cond=true",
                                             "objective.coupling=independent"])
    torch.manual_seed(0)
    model = build_model(cfg["model"]).eval()
    return Run(Path("."), "image", model, cfg, SamplingConfig.from_run(cfg))


@pytest.mark.parametrize("guidance", [float("nan"), float("inf"), -5.0, "2"])
def test_run_sample_refuses_bad_guidance(guidance):
    run = _conditional_image_run()
    with pytest.raises(ConfigError, match="guidance must be a finite number >= 0"):
        run.sample(2, nfe=1, labels=torch.tensor([0, 1]), guidance=guidance)


def test_fractional_labels_are_refused_not_truncated():
    run = _conditional_image_run()
    with pytest.raises(ConfigError, match="labels must be integer class indices, got 1.7"):
        run.sample(2, nfe=1, labels=torch.tensor([0.0, 1.7]))
    # whole-number floats are the same classes as their integers
    a = run.sample(2, nfe=1, seed=0, labels=torch.tensor([0.0, 2.0])).x
    b = run.sample(2, nfe=1, seed=0, labels=torch.tensor([0, 2])).x
    assert torch.equal(a, b)


# -- an option and --set for the same key --------------------------------------------------

@pytest.mark.parametrize("args,needles", [
    (["--sigma", "0.1", "--set", "objective.sigma=0.3"], ["--sigma 0.1", "objective.sigma"]),
    (["--batch-size", "2", "--set", "train.batch_size=4"],
     ["--batch-size 2", "train.batch_size=4"]),
    (["--steps", "7", "--set", "train.steps=100"], ["--steps 7", "train.steps=100"]),
    (["--ckpt-every", "5", "--set", "train.ckpt_every=9"], ["--ckpt-every 5"]),
    (["--no-tensorboard", "--set", "train.tensorboard=true"], ["--no-tensorboard"]),
    (["--set", "train.lr=1e-4", "--set", "train.lr=2e-4"],
     ["train.lr=1e-4", "train.lr=2e-4", "two values"]),
])
def test_an_option_and_set_for_one_key_conflict(tmp_path, args, needles):
    res = _invoke("train", "fashion_mnist", "--dry-run", "--out", tmp_path / "r", *args)
    _one_line_error(res, *needles)


def test_set_wins_over_an_option_left_at_its_default(tmp_path, monkeypatch):
    from idff.images import report as exp

    seen = {}

    def report(cfg, device="cpu"):
        seen.update(cfg)
        return ["ok"]

    monkeypatch.setattr(exp, "dry_run_report", report)
    res = _invoke("train", "fashion_mnist", "--dry-run", "--set", "train.tensorboard=false",
                  "--steps", 7, "--set", "train.steps=7", "--sigma", "0.3")
    assert res.exit_code == 0, res.output
    assert seen["train"]["tensorboard"] is False  # the flag's default no longer overrides it
    assert seen["train"]["steps"] == 7 and seen["objective"]["sigma"] == 0.3


# -- options that change nothing -----------------------------------------------------------

@pytest.mark.parametrize("opt,word", [(["--field", "pf"], "--field pf"),
                                      (["--gamma", "0"], "--gamma 0"),
                                      (["--ode"], "--ode"), (["--s", "0"], "--s 0")])
def test_idff_sampling_options_on_a_cfm_run_are_refused_even_at_defaults(runs, tmp_path, opt,
                                                                         word):
    res = _invoke("sample", runs / "otcfm", "--n", 8, *opt, "--out", tmp_path / "x.npy")
    _one_line_error(res, word, "would change nothing", "velocity")
    assert not (tmp_path / "x.npy").exists()
    # the same options on an IDFF run apply
    res = _invoke("sample", runs / "idff", "--n", 8, *opt, "--out", tmp_path / "y.npy")
    assert res.exit_code == 0 or "published" in res.output, res.output


def test_generate_refuses_idff_options_for_a_cfm_image_run(tmp_path):
    from idff.images.config import image_run_config
    from idff.models import build_model
    from idff.training.checkpoint import save_snapshot
    from tests.images.test_common import tiny

    cfg = image_run_config("fashion_mnist", [*tiny(8), "objective.name=otcfm",
                                             "objective.coupling=ot", "model.method=cfm"])
    save_snapshot(tmp_path / "run", build_model(cfg["model"]).state_dict(), cfg, step=1)
    res = _invoke("generate", tmp_path / "run", "--n", 2, "--nfe", 2, "--field", "pf",
                  "--gamma", 0, "--out", tmp_path / "g")
    _one_line_error(res, "--field pf, --gamma 0 would change nothing", "otcfm")
    assert not (tmp_path / "g").exists()


def test_python_sampling_of_a_cfm_run_takes_idff_defaults_quietly(runs):
    """Code may pass IDFF's defaults for every method (the demo does); other values are
    refused there too."""
    import idff

    run = idff.load(runs / "otcfm")
    assert run.sample(4, nfe=2, seed=0, field="pf", gamma=0.0).x.shape == (4, 2)
    with pytest.raises(ConfigError, match="gamma=0.5 would change nothing"):
        run.sample(4, gamma=0.5)


@pytest.mark.parametrize("opt", [["--field", "published"], ["--gammas", "0,1"],
                                 ["--field", "pf"]])
def test_bench_nfe_refuses_idff_options_for_cfm_runs(runs, tmp_path, opt):
    res = _invoke("bench", "nfe", runs / "otcfm", "--nfe", "2", "--n-eval", 16, "--n-val", 16,
                  *opt, "--out", tmp_path / "b")
    _one_line_error(res, opt[0], "would change nothing")
    assert not (tmp_path / "b.csv").exists()


@pytest.fixture(scope="module")
def kolmogorov_mse(tmp_path_factory):
    root = tmp_path_factory.mktemp("kolmo")
    res = _invoke("kolmogorov-data", "--size", "tiny", "--data-root", root / "data")
    assert res.exit_code == 0, res.output
    res = _invoke("train", "kolmogorov", "--forecaster", "mse", "--size", "tiny", "--data-root",
                  root / "data", "--steps", 2, "--horizon", 2, "--batch-size", 4,
                  "--channel-mult", "1,2", "--out", root / "mse")
    assert res.exit_code == 0, res.output
    return root / "mse"


@pytest.mark.parametrize("opt,words", [
    (["--nfe", "4"], ["--nfe", "one network call per lead"]),
    (["--members", "2"], ["--members 2", "one member"]),
    (["--data", "/nonexistent"], ["--data would change nothing", "data set it was trained on"]),
])
def test_forecast_refuses_options_the_kolmogorov_run_ignores(kolmogorov_mse, tmp_path, opt,
                                                             words):
    res = _invoke("forecast", kolmogorov_mse, "--horizon", 2, "--no-baselines", *opt,
                  "--out", tmp_path / "fc")
    _one_line_error(res, *words)
    assert not (tmp_path / "fc" / "metrics.json").exists()
    res = _invoke("forecast", kolmogorov_mse, "--horizon", 2, "--no-baselines",
                  "--max-forecasts", 1, "--out", tmp_path / "ok")
    assert res.exit_code == 0, res.output


# -- dump-real into a folder holding another dump ------------------------------------------

def test_dump_real_of_another_split_into_the_same_folder_is_refused(tmp_path, monkeypatch):
    from PIL import Image

    from tests.images.test_common import hide_system_fashion_mnist, write_fashion_mnist

    hide_system_fashion_mnist(monkeypatch, tmp_path)
    root = write_fashion_mnist(tmp_path / "fm", n=5)
    out = tmp_path / "real"
    base = ["dump-real", "fashion_mnist", "--data-root", root, "--out", out]
    res = _invoke(*base, "--n", 3, "--train")
    assert res.exit_code == 0 and "wrote 3 real images" in res.output, res.output
    before = (out / "000000.png").read_bytes()
    _one_line_error(_invoke(*base, "--n", 3, "--test"), "other settings",
                    "split: 'train' -> 'test'")
    assert (out / "000000.png").read_bytes() == before and not (out / "000003.png").exists()
    res = _invoke(*base, "--n", 4, "--train")  # the same dump, extended
    assert res.exit_code == 0 and (out / "000003.png").is_file(), res.output
    # a folder of someone else's PNGs is not taken for a dump
    mine = tmp_path / "mine"
    mine.mkdir()
    Image.new("L", (28, 28)).save(mine / "000000.png")
    _one_line_error(_invoke(*base[:-1], mine, "--test"), "did not record", "000000.png")


# -- training data that changed between a run and its resume -------------------------------

def test_resume_on_a_changed_data_file_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npy"
    np.save(data, rng.normal(size=(64, 2)).astype(np.float32))
    out = tmp_path / "run"
    assert _invoke(*TOY, "--data", data, "--steps", 5, "--out", out).exit_code == 0
    recorded = json.loads((out / "config.json").read_text())["data"]["sha256"]
    original = data.read_bytes()
    np.save(data, 100 + rng.normal(size=(64, 2)).astype(np.float32))
    _one_line_error(_invoke(*TOY, "--data", data, "--steps", 10, "--out", out, "--resume"),
                    "is not the data", recorded[:12], "Restore the file")
    assert json.loads((out / "config.json").read_text())["data"]["sha256"] == recorded
    data.write_bytes(original)
    res = _invoke(*TOY, "--data", data, "--steps", 10, "--out", out, "--resume")
    assert res.exit_code == 0, res.output


def test_a_run_recorded_without_a_fingerprint_keeps_resuming(tmp_path):
    data = tmp_path / "d.npy"
    np.save(data, np.random.default_rng(1).normal(size=(64, 2)).astype(np.float32))
    out = tmp_path / "run"
    assert _invoke(*TOY, "--data", data, "--steps", 5, "--out", out).exit_code == 0
    cfg = json.loads((out / "config.json").read_text())
    del cfg["data"]["sha256"]  # as runs started before fingerprints were recorded
    (out / "config.json").write_text(json.dumps(cfg))
    res = _invoke(*TOY, "--data", data, "--steps", 10, "--out", out, "--resume")
    assert res.exit_code == 0, res.output
    assert "sha256" not in json.loads((out / "config.json").read_text())["data"]


# -- pixel types of a folder data set ------------------------------------------------------

def _folder(tmp_path, name, array, ext):
    from PIL import Image

    folder = tmp_path / name
    folder.mkdir()
    Image.fromarray(array).save(folder / f"a{ext}")
    return folder


def _ramp():
    return np.tile(np.linspace(0, 1, 16), (16, 1))


@pytest.mark.parametrize("channels", [1, 3])
def test_16bit_png_and_float_tiff_keep_their_intensities(tmp_path, channels):
    from idff.images.datasets import ImageFolderFlat

    want = np.rint(_ramp() * 255).astype(np.uint8)
    cases = {"u16": (np.rint(_ramp() * 65535).astype(np.uint16), ".png"),
             "u16tif": (np.rint(_ramp() * 65535).astype(np.uint16), ".tif"),
             "f32": (_ramp().astype(np.float32), ".tif")}
    for name, (arr, ext) in cases.items():
        ds = ImageFolderFlat(_folder(tmp_path, f"{name}{channels}", arr, ext), size=16,
                             channels=channels)
        got = ds.load(0).numpy()
        assert got.shape == (channels, 16, 16)
        assert np.abs(got.astype(int) - want[None].astype(int)).max() <= 1, name


def test_float_pixels_outside_the_unit_range_are_refused(tmp_path):
    from idff.errors import DataError
    from idff.images.datasets import ImageFolderFlat

    ds = ImageFolderFlat(_folder(tmp_path, "f", (_ramp() * 255).astype(np.float32), ".tif"),
                         size=16, channels=1)
    with pytest.raises(DataError, match=r"floating-point pixels in \[0, 255\], not in \[0, 1\]"):
        ds.load(0)
