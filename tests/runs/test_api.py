"""The Python API is as strict as the command line: one σ, honest sampling arguments,
save/load by name, your own module, a training API with kind defaults, one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

import idff
from idff import CFMField, CFMObjective, IDFFField, IDFFObjective, SamplingConfig
from idff.errors import ConfigError, UserError
from idff.models import MLP, TwoHead, XTAdapter

ROOT = Path(__file__).resolve().parents[2]
#: a UNet small enough for a test
TINY = {"model.num_channels": 32, "model.channel_mult": [1], "model.num_res_blocks": 1,
        "model.attention_resolutions": "", "model.dropout": 0.0}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A tiny toy run trained through the public API (a second or two)."""
    cfg = idff.toy_config("idff", "moons", hidden=32, depth=2, batch_size=64)
    logged = []
    run = idff.train_run(cfg, tmp_path_factory.mktemp("toy") / "run",
                         {"steps": 30, "log_every": 10, "ckpt_every": 30}, progress=False,
                         on_log=lambda step, m: logged.append((step, m)))
    return run, logged


@pytest.fixture(scope="module")
def shipped():
    return idff.load("fashion_mnist/idff")


# -- 1. an NFE budget with an adaptive solver ----------------------------------------------


def test_an_nfe_budget_with_an_adaptive_solver_is_refused(toy):
    run, _ = toy
    with pytest.raises(ConfigError, match="nfe=4 cannot be honoured: solver 'dopri5' is adaptive"):
        run.sample(4, nfe=4, solver="dopri5")
    res = run.sample(4, solver="dopri5", seed=0)  # no budget: the count is reported
    assert res.x.shape == (4, 2) and res.nfe > 4


# -- 2. the shipped model: σ where docs/api.md says, images in the data range ----------------


def test_shipped_images_are_clamped_to_the_data_range_by_default(shipped):
    sigma = shipped.config["objective"]["sigma"]
    assert shipped.sampling.sigma == sigma == shipped.model.sigma
    res = shipped.sample(16, nfe=4, seed=0)
    assert res.x.shape == (16, 1, 28, 28) and res.nfe == 4
    assert res.x.min() >= -1 and res.x.max() <= 1
    raw = shipped.sample(16, nfe=4, seed=0, clamp=False).x
    assert (raw.abs() > 1).any()  # the solver overshoots; clamping is what keeps the range
    assert torch.equal(res.x, raw.clamp(-1, 1))
    assert shipped.sample(2, nfe=2, seed=0, clamp=(-0.5, 0.5)).x.abs().max() <= 0.5


def test_toys_are_not_clamped_unless_asked(toy):
    run, _ = toy
    with pytest.raises(ConfigError, match="no fixed data range"):
        run.sample(4, seed=0, clamp=True)
    assert run.sample(64, seed=0, clamp=(-0.1, 0.1)).x.abs().max() <= 0.1
    with pytest.raises(ConfigError, match="low < high"):
        run.sample(4, seed=0, clamp=(1, -1))


# -- 3. fresh noise unless a seed or generator is given ------------------------------------


def test_seed_none_draws_fresh_noise_and_follows_torch_manual_seed(toy):
    run, _ = toy
    a, b = run.sample(8).x, run.sample(8).x
    assert not torch.equal(a, b)
    torch.manual_seed(123)
    c = run.sample(8).x
    torch.manual_seed(123)
    assert torch.equal(c, run.sample(8).x)
    assert torch.equal(run.sample(8, seed=5).x, run.sample(8, seed=5).x)


# -- 4. generator, x0, trajectories, labels, counts ----------------------------------------


def test_sample_takes_generator_x0_and_returns_trajectories(toy):
    run, _ = toy
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(run.sample(8, generator=g1).x, run.sample(8, generator=g2).x)
    x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(3))
    direct = SamplingConfig.from_run(run.config, nfe=4).integrate(run.model, x0).x
    res = run.sample(x0=x0, nfe=4, return_trajectory=True)
    assert torch.equal(res.x, direct) and res.trajectory.shape[1:] == (8, 2)
    assert torch.allclose(res.trajectory[0], x0)
    with pytest.raises(ConfigError, match="x0 has shape"):
        run.sample(x0=torch.randn(8, 3))
    with pytest.raises(ConfigError, match="n=4 but x0 holds 8"):
        run.sample(4, x0=x0)
    with pytest.raises(ConfigError, match="seed or generator, not both"):
        run.sample(4, seed=1, generator=g1)


@pytest.mark.parametrize("n", [0, -3, 2.5, True, None])
def test_sample_counts_below_one_are_one_line_errors(toy, n):
    run, _ = toy
    with pytest.raises(ConfigError, match="n must be an integer >= 1"):
        run.sample(n)


def test_labels_guidance_and_trajectories_reach_the_image_sampler(shipped):
    with pytest.raises(ConfigError, match="not class-conditional"):
        shipped.sample(2, nfe=2, labels=torch.tensor([0, 1]))
    with pytest.raises(UserError, match="guidance=2 has no effect"):
        shipped.sample(2, nfe=2, guidance=2.0)
    with pytest.raises(ConfigError, match="do not take labels="):
        idff.Run(Path("."), "toy", nn.Identity(), {}, SamplingConfig()).sample(2, labels=[0, 1])
    x0 = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    res = shipped.sample(x0=x0, nfe=2, solver="euler", return_trajectory=True, clamp=False)
    assert res.trajectory.shape[1:] == (2, 1, 28, 28) and torch.allclose(res.trajectory[0], x0)


def test_class_conditional_runs_take_labels_and_guidance(tmp_path):
    from idff.images.sample import image_samples
    from idff.models import build_model

    cfg = idff.image_config("fashion_mnist", {**TINY, "data.image_size": 8,
                                              "model.image_size": 8,
                                              "model.num_classes": 10,
                                              "data.class_cond": True,
                                              "objective.coupling": "independent"})
    model = build_model(cfg["model"]).eval()
    torch.manual_seed(0)
    with torch.no_grad():  # the UNet's last layer starts at zero: make labels matter
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    run = idff.Run(tmp_path, "image", model, cfg, SamplingConfig.from_run(cfg))
    labels = torch.tensor([3, 3])
    plain = run.sample(2, nfe=2, seed=0, labels=labels)
    guided = run.sample(2, nfe=2, seed=0, labels=labels, guidance=3.0)
    direct = image_samples(model, cfg, 2, nfe=2, labels=labels, guidance=3.0)
    assert torch.equal(guided.x, direct.x.clamp(-1, 1)) and not torch.equal(plain.x, guided.x)


# -- 5. save, to, load by name --------------------------------------------------------------


def test_shipped_runs_load_by_name_and_save_to_safetensors(shipped, tmp_path):
    assert shipped.path.resolve() == (ROOT / "checkpoints" / "fashion_mnist" / "idff").resolve()
    for name in idff.runs.SHIPPED:
        assert idff.runs.resolve(name).is_dir()
    assert shipped.to("cpu") is shipped and shipped.device == torch.device("cpu")
    assert repr(shipped).startswith("Run(kind='image', path=") and "sigma=0.05" in repr(shipped)
    out = shipped.save(tmp_path / "copy")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "snapshot.safetensors"]
    again = idff.load(out)
    assert again.config["step"] == shipped.config["step"] and again.model.sigma == 0.05
    assert torch.equal(again.sample(2, nfe=2, seed=1).x, shipped.sample(2, nfe=2, seed=1).x)
    with pytest.raises(UserError, match="already holds a run"):
        shipped.save(out)


def test_runs_load_by_name_from_the_cache_folder(toy, tmp_path, monkeypatch):
    run, _ = toy
    shutil.copytree(run.path, tmp_path / "cache" / "mine" / "moons")
    monkeypatch.setenv("IDFF_CHECKPOINTS", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    got = idff.load("mine/moons")
    assert got.kind == "toy" and torch.equal(got.sample(4, seed=0).x, run.sample(4, seed=0).x)
    monkeypatch.setattr(idff.run_kind, "run_folders", lambda: [tmp_path / "cache"])
    with pytest.raises(UserError, match="shipped run 'fashion_mnist/otcfm' is in none of"):
        idff.load("fashion_mnist/otcfm")


def test_the_wheel_ships_the_runs_that_load_by_name():
    text = (ROOT / "setup.py").read_text()
    assert all(f'"{name}"' in text for name in idff.runs.SHIPPED)
    for name in idff.runs.SHIPPED:
        assert (ROOT / "checkpoints" / name / "config.json").is_file()


# -- 6. σ lives in the network -------------------------------------------------------------


def _two_head(sigma=0.2, parametrization="velocity"):
    return TwoHead(MLP(dim=2, out_dim=4, hidden=16, depth=2), parametrization=parametrization,
                   sigma=sigma)


def test_another_sigma_than_the_networks_is_refused_everywhere(toy):
    net = _two_head(0.2)
    x0 = torch.randn(4, 2)
    with pytest.raises(ConfigError, match=r"sigma=0\.1 but the network was built for sigma=0\.2"):
        SamplingConfig(sigma=0.1, nfe=2).integrate(net, x0)
    with pytest.raises(ConfigError, match=r"sigma=0\.1 but the network was built for sigma=0\.2"):
        IDFFField(net, sigma=0.1)
    with pytest.raises(ConfigError, match=r"sigma=0\.1 but the network was built for sigma=0\.2"):
        IDFFObjective(sigma=0.1)(net, torch.randn(8, 2))
    run, _ = toy
    with pytest.raises(ConfigError, match=r"sigma=0\.3 but the network was built for sigma=0\.2"):
        run.sample(4, sigma=0.3)


def test_sigma_unset_is_the_networks():
    net = _two_head(0.07)
    assert IDFFField(net).sigma == 0.07
    obj = IDFFObjective()
    obj(net, torch.randn(8, 2))
    assert obj.path.sigma == 0.07
    x0 = torch.randn(4, 2)
    same = SamplingConfig(nfe=2, gamma=1.0, solver="euler").integrate(
        net, x0, generator=torch.Generator().manual_seed(0)).x
    ref = SamplingConfig(sigma=0.07, nfe=2, gamma=1.0, solver="euler").integrate(
        net, x0, generator=torch.Generator().manual_seed(0)).x
    assert torch.equal(same, ref)
    assert IDFFField(_two_head(None, "skip")).sigma == 0.2  # a network without σ: the default


def test_config_sigma_of_model_and_objective_must_agree(tmp_path):
    with pytest.raises(ConfigError, match=r"model\.sigma=0\.1 but objective\.sigma=0\.05"):
        idff.image_config("fashion_mnist", {"model.sigma": 0.1})
    assert idff.image_config("fashion_mnist", {"objective.sigma": 0.1})["model"]["sigma"] == 0.1
    cfg = idff.toy_config("idff", "moons")
    cfg["model"]["sigma"] = 0.5
    with pytest.raises(ConfigError, match=r"model\.sigma=0\.5 but objective\.sigma=0\.2"):
        idff.train_run(cfg, tmp_path / "r", {"steps": 1}, progress=False)
    assert not (tmp_path / "r").exists()


# -- 9. your own module ---------------------------------------------------------------------


class XFirst(nn.Module):
    """A network in the flow_matching / diffusers order, ``forward(x, t, **extras)``."""

    def __init__(self, out: int = 4):
        super().__init__()
        self.lin = nn.Linear(3, out)

    def forward(self, x, t, **extras):
        return self.lin(torch.cat([x, t.reshape(-1, 1).to(x)], dim=1))


def test_a_module_in_x_t_order_is_refused_and_the_adapter_takes_it():
    with pytest.raises(ConfigError, match=r"XFirst\.forward takes \(x, t, \.\.\.\).*XTAdapter"):
        TwoHead(XFirst())
    with pytest.raises(ConfigError, match="XTAdapter"):
        CFMObjective()(XFirst(out=2), torch.randn(8, 2))
    net = TwoHead(XTAdapter(XFirst()), parametrization="velocity", sigma=0.2)
    loss = IDFFObjective()(net, torch.randn(8, 2)).loss
    loss.backward()
    assert torch.isfinite(loss) and net.backbone.module.lin.weight.grad is not None
    res = SamplingConfig(nfe=2).integrate(net, torch.randn(5, 2))
    assert res.x.shape == (5, 2) and res.nfe == 2


def test_xt_adapter_passes_conditioning_under_its_keyword_and_scales_time():
    seen = {}

    class Net(nn.Module):
        def forward(self, sample, timestep, class_labels=None):
            seen.update(t=timestep, y=class_labels)
            return sample

    out = XTAdapter(Net(), cond="class_labels", time_scale=1000)(torch.tensor([0.5]),
                                                                 torch.ones(1, 2),
                                                                 torch.tensor([3]))
    assert torch.equal(out, torch.ones(1, 2)) and seen["t"].item() == 500 and seen["y"] == 3


def test_forgetting_twohead_and_cfm_on_twohead_are_one_line_errors():
    plain = MLP(dim=2, out_dim=2, hidden=16, depth=2)
    with pytest.raises(ConfigError, match=r"needs a two-head network.*TwoHead\(net\)"):
        IDFFObjective()(plain, torch.randn(8, 2))
    with pytest.raises(ConfigError, match="needs a two-head network"):
        SamplingConfig(nfe=2).integrate(plain, torch.randn(2, 2))
    with pytest.raises(ConfigError, match=r"needs a velocity network.*use IDFFObjective"):
        CFMObjective()(_two_head(), torch.randn(8, 2))
    with pytest.raises(ConfigError, match="needs a velocity network"):
        idff.integrate(CFMField(_two_head()), torch.randn(2, 2), steps=1)


# -- 10. a training API that works ----------------------------------------------------------


def test_an_incomplete_config_is_a_config_error_naming_the_builder(tmp_path):
    with pytest.raises(ConfigError, match=r"lacks model, objective.*idff\.toy_config"):
        idff.train_run({"kind": "toy", "method": "idff"}, tmp_path / "r")
    cfg = idff.toy_config("idff", "moons")
    del cfg["data"]["dataset"]
    with pytest.raises(ConfigError, match="lacks data.dataset"):
        idff.train_run(cfg, tmp_path / "r")
    with pytest.raises(ConfigError, match="did you mean 'train.warmup'"):
        idff.train_run(idff.toy_config(), tmp_path / "r", {"warmpu": 3})
    with pytest.raises(ConfigError, match="unknown toy dataset"):
        idff.toy_config("idff", "moon")
    with pytest.raises(ConfigError, match="unknown method"):
        idff.toy_config("ddpm", "moons")


def test_toy_runs_train_with_the_toy_recipe_and_report_to_on_log(toy):
    run, logged = toy
    assert isinstance(run, idff.Run) and run.kind == "toy"
    recorded = json.loads((run.path / "config.json").read_text())["train"]
    assert recorded["warmup"] == 200 and recorded["ema_decay"] == 0.999  # not 5000 / 0.9999
    assert recorded["lr"] == 1e-3 and recorded["steps"] == 30
    assert [s for s, _ in logged] == [10, 20, 30]
    assert {"loss", "flow", "score", "grad_norm", "lr"} <= set(logged[-1][1])
    assert run.model.sigma == 0.2 and run.sampling.sigma == 0.2
    loaded = idff.load(run.path)
    assert torch.equal(loaded.sample(16, seed=0).x, run.sample(16, seed=0).x)


def test_image_runs_train_through_train_run(tmp_path):
    pytest.importorskip("sklearn")
    cfg = idff.image_config("fashion_mnist", {**TINY, "data.dataset": "digits",
                                              "data.image_size": 8, "model.image_size": 8,
                                              "train.batch_size": 4, "train.steps": 2,
                                              "train.log_every": 1, "train.ckpt_every": 2})
    logged = []
    run = idff.train_run(cfg, tmp_path / "img", progress=False,
                         on_log=lambda step, m: logged.append(step))
    assert run.kind == "image" and logged == [1, 2]
    assert run.sample(2, nfe=2, seed=0).x.shape == (2, 1, 8, 8)


def test_the_command_line_refuses_disagreeing_sigma_in_one_line(tmp_path):
    from click.testing import CliRunner

    from idff.cli.main import cli

    res = CliRunner().invoke(cli, ["train", "fashion_mnist", "--set", "model.sigma=0.1",
                                   "--dry-run", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "model.sigma=0.1 but objective.sigma=0.05" in lines[0]


def test_commands_take_shipped_names(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from idff.cli.main import cli

    monkeypatch.chdir(tmp_path)  # not the repository: the name is resolved, not the path
    res = CliRunner().invoke(cli, ["sample", "fashion_mnist/otcfm", "--n", "2", "--nfe", "2",
                                   "--out", "x.npy"])
    assert res.exit_code == 0, res.output
    import numpy as np

    assert np.load(tmp_path / "x.npy").shape[0] == 2


def test_shipped_runs_store_the_samplers_the_fewstep_table_chose():
    """``idff sample checkpoints/fashion_mnist/idff --nfe 4`` samples with the solver and
    grid that results/eval/fmnist_fewstep_*.csv chose on the validation reference."""
    from idff.eval.bench import parse_grid, parse_solver, read_csv

    for name, table in (("idff", "fmnist_fewstep_idff"), ("otcfm", "fmnist_fewstep_otcfm"),
                        ("idff-b128", "fmnist_fewstep_b128_s0_idff"),
                        ("otcfm-b128", "fmnist_fewstep_b128_s0_otcfm")):
        run = idff.load(f"fashion_mnist/{name}")
        rows = read_csv(ROOT / "results" / "eval" / f"{table}.csv")
        assert sorted(int(r.nfe_budget) for r in rows) == sorted(run.sampling.budgets)
        for row in rows:
            solver_spec, grid_spec = row.noise.split()[:2]
            solver, kw = parse_solver(solver_spec)
            grid = parse_grid(grid_spec)
            s = run.sampling.replace(nfe=int(row.nfe_budget))
            assert (s.solver, s.grid, s.rho, s.alpha) == (
                solver, grid["grid"], grid.get("rho", 2.0), kw.get("alpha", 0.5)), row


def test_ship_checkpoint_script_stores_a_fewstep_tables_choices(tmp_path, monkeypatch, capsys):
    """benchmarks/ship_checkpoint.py rebuilds the table's candidates and stores each budget's
    choice: on the shipped run's own table it reproduces the shipped table of samplers."""
    import runpy

    out = tmp_path / "ship"
    monkeypatch.setattr("sys.argv", [
        "ship_checkpoint.py", str(ROOT / "checkpoints" / "fashion_mnist" / "idff"), str(out),
        "--bench", str(ROOT / "results" / "eval" / "fmnist_fewstep_idff.csv"), "--nfe", "4",
        "--fewstep", str(ROOT / "results" / "eval" / "fmnist_fewstep_idff.csv")])
    runpy.run_path(str(ROOT / "benchmarks" / "ship_checkpoint.py"), run_name="__main__")
    assert "stored in" in capsys.readouterr().out
    shipped = idff.load("fashion_mnist/idff").sampling
    copy = idff.load(out).sampling
    assert copy.budgets == shipped.budgets
    # the default NFE is the one asked for, with the sampler the table chose there
    assert copy.to_dict() == shipped.replace(nfe=4).to_dict()
