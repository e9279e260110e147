"""``idff.load`` and the run-kind registry: a new data kind is one module plus registration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import idff
from idff.cli.main import cli
from idff.errors import ConfigError, UserError
from idff.runs import gaussian_sampler, register_kind
from idff.training import TrainConfig

ROOT = Path(__file__).resolve().parents[2]


def _ring_batches(config):
    """A tiny dataset: points on a circle of the configured radius (the new data kind)."""
    g = torch.Generator().manual_seed(0)
    radius, bs = config["data"]["radius"], config["data"]["batch_size"]
    while True:
        a = torch.rand(bs, generator=g) * 2 * torch.pi
        yield radius * torch.stack([a.cos(), a.sin()], 1), None


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    register_kind("ring", stream=_ring_batches,
                  sample=gaussian_sampler(lambda cfg: (cfg["model"]["dim"],)))
    cfg = {"kind": "ring", "method": "idff",
           "objective": {"name": "idff", "sigma": 0.1, "flow_weight": 2.0, "coupling": "ot"},
           "model": {"backbone": "mlp", "method": "idff", "dim": 2, "hidden": 32, "depth": 2,
                     "parametrization": "velocity", "sigma": 0.1},
           "data": {"radius": 2.0, "batch_size": 64},
           "sampling": {"nfe": 4, "solver": "midpoint"}}
    out = tmp_path_factory.mktemp("ring") / "run"
    idff.train_run(cfg, out, TrainConfig(steps=300, lr=3e-3, warmup=10, ema_decay=0.9,
                                         log_every=100, ckpt_every=300), progress=False)
    return out


def test_a_registered_kind_trains_loads_and_samples(ring_run):
    run = idff.load(ring_run)
    assert run.kind == "ring" and run.sampling.nfe == 4 and run.sampling.sigma == 0.1
    assert run.train["steps"] == 300
    res = run.sample(500, seed=1)
    x, nfe = res.x, res.nfe
    assert x.shape == (500, 2) and nfe == 4
    r = x.norm(dim=1)
    assert abs(r.median().item() - 2.0) < 0.4  # it learned the ring, roughly
    y = run.sample(500, seed=1, nfe=2, solver="euler")
    assert y.nfe == 2 and not torch.equal(x, y.x)


def test_the_cli_and_the_benchmark_take_a_registered_kind(ring_run, tmp_path):
    from idff.eval.bench import entry_from_run

    res = CliRunner().invoke(cli, ["sample", str(ring_run), "--nfe", "2", "--n", "20",
                                   "--out", str(tmp_path / "x.npy")])
    assert res.exit_code == 0, res.output
    assert np.load(tmp_path / "x.npy").shape == (20, 2) and "NFE 2" in res.output
    entry = entry_from_run(ring_run, gammas=(0.0,))
    out = next(iter(entry.samplers.values()))(10, 4, None, 0)
    assert out.x.shape == (10, 2) and out.nfe == 4


def test_load_reads_every_builtin_kind():
    run = idff.load(ROOT / "checkpoints" / "fashion_mnist" / "idff")
    assert run.kind == "image" and run.sampling.method == "idff"
    assert run.sampling.sigma == run.config["objective"]["sigma"]
    res = run.sample(2, nfe=2, solver="euler")
    assert res.x.shape == (2, 1, 28, 28) and res.nfe == 2
    cfm = idff.load(ROOT / "checkpoints" / "fashion_mnist" / "otcfm")
    assert cfm.sampling.method == "otcfm" and cfm.sampling.sigma == 0.0
    icfm = idff.load(ROOT / "checkpoints" / "fashion_mnist" / "icfm")
    assert icfm.sampling.method == "icfm" and icfm.config["objective"]["coupling"] == "independent"


def test_kinds_that_forecast_refuse_unconditional_sampling(tmp_path):
    from idff.sst.config import sst_run_config

    cfg = sst_run_config("idff", model={"num_channels": 32, "channel_mult": [1]})
    assert cfg["sampling"]["nfe"] == 3
    fake = idff.Run(tmp_path, "sst", torch.nn.Identity(), cfg, idff.SamplingConfig())
    with pytest.raises(UserError, match="idff forecast"):
        fake.sample(4)


def test_unknown_kinds_and_typos_in_config_files_are_refused(ring_run, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(ring_run, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["sampling"]["nfee"] = 3
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="did you mean 'sampling.nfe'"):
        idff.load(bad)
    cfg["sampling"].pop("nfee")
    cfg["objective"]["sigmaa"] = 0.3
    with pytest.raises(ConfigError, match="did you mean 'objective.sigma'"):
        idff.train_run(cfg, tmp_path / "again", TrainConfig(steps=1), progress=False)
    cfg["objective"].pop("sigmaa")
    toy = idff.toy_config("idff", "moons", train={"steps": 1})
    with pytest.raises(ConfigError, match="did you mean 'data.batch_size'"):
        idff.train_run({**toy, "data": {**toy["data"], "batchsize": 8}}, tmp_path / "d",
                       progress=False)
    with pytest.raises(ConfigError, match="unknown section 'sampler'; did you mean 'sampling'"):
        idff.train_run({**toy, "sampler": {"nfe": 4}}, tmp_path / "d", progress=False)
    assert not (tmp_path / "d").exists()
    # a loaded run's config (with its step and layout) trains again as it is
    first = idff.train_run(toy, tmp_path / "t1", progress=False)
    again = idff.train_run(idff.load(first.path).config, tmp_path / "t2", progress=False)
    assert again.kind == "toy" and (tmp_path / "t2" / "config.json").is_file()
    cfg["kind"] = "hologram"
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="no run kind 'hologram'"):
        idff.load(bad)


@pytest.mark.parametrize("kind", ["toy", "image", "sst", "md"])
def test_every_builtin_kind_registers_where_it_is_declared(kind):
    from idff.runs import BUILTIN, get_kind

    spec = get_kind(kind)
    assert spec.name == kind and kind in BUILTIN and spec.load is not None
    assert (spec.sample is None) == (kind in ("sst", "md"))


def test_typos_in_the_model_and_train_sections_are_refused():
    from idff.images.config import image_run_config, train_config_from
    from idff.models import build_model

    cfg = image_run_config("fashion_mnist")
    with pytest.raises(ConfigError, match="did you mean 'model.num_channels'"):
        build_model({**cfg["model"], "num_chanels": 16})
    with pytest.raises(ConfigError, match="did you mean 'model.hidden'"):
        build_model({"backbone": "mlp", "method": "idff", "dim": 2, "hiden": 8})
    cfg["train"]["lrr"] = 1e-4
    with pytest.raises(ConfigError, match="did you mean 'train.lr'"):
        train_config_from(cfg)


def test_a_kind_declares_the_sample_options_it_takes_once():
    from idff.run_kind import SAMPLE_EXTRAS, RunKind

    def plain(model, config, n, sampling, seed=0, device="cpu"):
        raise AssertionError("not called")

    def anything(model, config, n, sampling, seed=0, device="cpu", **kw):
        raise AssertionError("not called")

    assert RunKind("a", sample=plain).takes == ()
    assert RunKind("b", sample=anything).takes == SAMPLE_EXTRAS
    assert RunKind("c", sample=plain, takes=("x0",)).takes == ("x0",)
    with pytest.raises(ValueError, match=r"takes=\['bogus'\] are not options of Run.sample"):
        RunKind("d", sample=plain, takes=("bogus",))
    assert idff.runs.get_kind("toy").takes == ("generator", "x0", "return_trajectory",
                                              "progress")
