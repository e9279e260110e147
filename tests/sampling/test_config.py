"""The sampling config: validation, overrides, legacy run configs, generated CLI options."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest
import torch
from click.testing import CliRunner

from idff.cli.main import cli
from idff.errors import ConfigError
from idff.run_config import upgrade_config
from idff.sampler import FIXED, steps_for_nfe
from idff.sampling import SamplingConfig, cli_options, nfe_for_steps


def test_defaults_round_trip_and_knobs():
    s = SamplingConfig(method="otcfm", sigma=0.0, nfe=4, solver="heun")
    assert SamplingConfig.from_dict(s.to_dict()) == s
    assert set(s.knobs()) == {"nfe", "solver", "field", "gamma", "s", "sde", "grid", "rho",
                              "times", "alpha"}
    assert SamplingConfig.from_run({"method": "otcfm", "objective": {"sigma": 0.0},
                                    "sampling": s.knobs()}) == s


@pytest.mark.parametrize("bad, match", [
    ({"nfee": 4}, "did you mean 'sampling.nfe'"),
    ({"solver": "rk4"}, "unknown solver 'rk4'"),
    ({"field": "pff"}, "unknown field 'pff'"),
    ({"gamma": -1.0}, "gamma must be a number >= 0"),
    ({"nfe": 0}, "nfe must be an integer >= 1"),
    ({"nfe": 2.5}, "nfe must be an integer >= 1"),
    ({"method": "cfm"}, "unknown sampling method 'cfm'"),
    ({"field": "published", "s": 2.5}, "published field is undefined"),
    ({"field": "x1", "gamma": 1.0}, "x1 field is an ODE without noise"),
    ({"field": "velocity", "sde": True}, "velocity field is an ODE without noise"),
])
def test_bad_values_are_refused_with_the_key(bad, match):
    with pytest.raises(ConfigError, match=match):
        SamplingConfig.from_dict(bad)


def test_replace_keeps_none_and_handles_adaptive():
    s = SamplingConfig(nfe=4)
    assert s.replace(nfe=None, solver=None) == s
    a = s.replace(solver="dopri5")
    assert a.nfe is None and a.adaptive and a.steps() is None
    assert a.replace(solver="euler").nfe == 10  # back to a fixed budget: a default NFE
    with pytest.raises(ConfigError, match="did you mean 'sampling.gamma'"):
        s.replace(gama=1.0)


@pytest.mark.parametrize("solver", ["midpoint", "heun", "ddim2"])
def test_one_evaluation_means_one_first_order_step(solver):
    s = SamplingConfig(nfe=1, solver=solver)
    assert s.effective_solver() in ("euler", "ddim") and s.steps() == 1


@pytest.mark.parametrize("solver", FIXED)
@pytest.mark.parametrize("singular", [True, False])
def test_nfe_for_steps_inverts_steps_for_nfe(solver, singular):
    for steps in (1, 2, 3, 7):
        nfe = nfe_for_steps(steps, solver, singular)
        assert steps_for_nfe(nfe, solver, singular) == steps


def test_legacy_configs_upgrade_to_the_same_settings():
    # image run of the first layout: "sample", CFM σ ignored (the objective read cfm_sigma)
    img = {"kind": "image", "method": "otcfm", "objective": {"name": "otcfm", "sigma": 0.2},
           "sample": {"field": "pf", "solver": "midpoint", "nfe": 10}}
    up = upgrade_config(img)
    assert "sample" not in up and up["objective"]["sigma"] == 0.0 and up["layout"] == 2
    assert SamplingConfig.from_run(up) == SamplingConfig(method="otcfm", sigma=0.0)
    # MD: "cfm" with cfm_sigma, sampling repeated method/σ and source_noise
    md = {"kind": "md", "method": "cfm",
          "objective": {"name": "otcfm", "cfm_sigma": 0.1, "coupling": "independent"},
          "sampling": {"method": "cfm", "nfe": 4, "solver": "midpoint", "gamma": 0.0,
                       "sigma": 0.1, "field": "pf", "s": 0.0, "sde": False,
                       "source_noise": True}}
    up = upgrade_config(md)
    assert up["method"] == "icfm" and up["objective"]["sigma"] == 0.1
    assert SamplingConfig.from_run(up) == SamplingConfig(method="icfm", sigma=0.1, nfe=4)
    # SST: solver steps per lead become NFE
    sst = {"kind": "sst", "method": "idff", "objective": {"name": "idff", "sigma": 0.2},
           "sampling": {"steps": 3, "solver": "midpoint", "gamma": 0.0}}
    assert SamplingConfig.from_run(upgrade_config(sst)).nfe == 6
    # a current config is left as it is
    cur = {**upgrade_config(md)}
    assert upgrade_config(cur) == cur


def test_every_sampling_command_offers_every_option():
    names = [n for n, _, _ in cli_options()]
    # method and σ belong to the trained run; a custom grid's times come from tune-schedule,
    # the per-budget table from bench nfe --store and tune-schedule
    assert set(names) == {f.name for f in dataclasses.fields(SamplingConfig)} - {
        "method", "sigma", "times", "budgets", "home"}
    for cmd in (["sample"], ["generate"], ["forecast"], ["md-eval"]):
        text = CliRunner().invoke(cli, [*cmd, "--help"], terminal_width=200).output
        for n in names:
            assert f"--{n}" in text, f"{cmd[0]} lacks --{n}"


def test_number_lists_are_comma_separated_and_checked():
    import click

    from idff.cli.common import POSITIVE_INT, CommaList

    t = CommaList(POSITIVE_INT)
    assert t.convert("2, 4,10", None, None) == (2, 4, 10)
    for bad in ("2,0", "", "2,x"):
        with pytest.raises(click.BadParameter):
            t.convert(bad, None, None)
    res = CliRunner().invoke(cli, ["md-benchmark", "--nfe", "2,0", "--out", "x"])
    assert res.exit_code == 2 and "--nfe" in res.output


# -- samplers stored per NFE budget ---------------------------------------------------------

_BUDGETS = {"4": {"solver": "rk2", "alpha": 0.25, "grid": "power", "rho": 1.5},
            "10": {"solver": "unipc3", "grid": "power"}}
_RUN = {"method": "idff", "objective": {"sigma": 0.05},
        "sampling": {"nfe": 10, "solver": "midpoint", "budgets": _BUDGETS}}


def _plain(**kw):
    """The settings without the table, for comparing what a config samples with."""
    return {k: v for k, v in SamplingConfig(method="idff", sigma=0.05, **kw).to_dict().items()}


def test_a_budget_entry_is_the_sampler_at_its_nfe_unless_a_knob_is_named():
    cfg = SamplingConfig.from_run(_RUN)
    assert cfg.budgets == {4: _BUDGETS["4"], 10: _BUDGETS["10"]}
    # the stored NFE has an entry: it is the run's default sampler
    assert cfg.to_dict() == _plain(nfe=10, solver="unipc3", grid="power")
    four = _plain(nfe=4, solver="rk2", alpha=0.25, grid="power", rho=1.5)
    assert cfg.replace(nfe=4).to_dict() == four
    assert SamplingConfig.from_run(_RUN, nfe=4).to_dict() == four
    # a budget without an entry samples with the stored settings, not with another entry
    stored6 = _plain(nfe=6, solver="midpoint")
    assert cfg.replace(nfe=6).to_dict() == stored6
    assert cfg.replace(nfe=4).replace(nfe=6).to_dict() == stored6
    # naming any sampler knob bypasses the table and starts from the stored settings
    assert cfg.replace(nfe=4, grid="uniform").to_dict() == _plain(nfe=4, solver="midpoint")
    assert cfg.replace(solver="euler").to_dict() == _plain(nfe=10, solver="euler")
    assert cfg.replace(nfe=4).replace(solver="heun").to_dict() == _plain(nfe=4, solver="heun")
    # a knob that the stored settings would ignore is refused, saying the entry was set aside
    with pytest.raises(ConfigError, match=r"alpha=0.3 sets aside the sampler stored for NFE 4 "
                                          r"\(rk2 \(alpha 0.25\).*whose solver 'midpoint' has "
                                          r"no movable second call; add solver='rk2'"):
        cfg.replace(nfe=4, alpha=0.3)
    # what a run stores: the table apart from the settings in use; JSON keys are strings
    assert "budgets" not in cfg.knobs()
    again = SamplingConfig.from_run(json.loads(json.dumps(
        {**_RUN, "sampling": {**_RUN["sampling"], "budgets": cfg.budgets}})))
    assert again == cfg


@pytest.mark.parametrize("budgets, match", [
    ([4], "must map an NFE to sampler settings"),
    ({"0": {"solver": "euler"}}, r"budgets\['0'\]: a budget is an NFE, an integer >= 1"),
    ({"x": {"solver": "euler"}}, "an integer >= 1"),
    ({"4": {}}, "must hold sampler settings"),
    ({"4": {"solvr": "euler"}}, "solver"),
    ({"4": {"nfe": 4}}, "nfe"),
    ({"4": {"solver": "dopri5"}}, "adaptive and spends no fixed budget"),
    ({"4": {"solver": "midpoint", "alpha": 0.3}}, "alpha=0.3 would change nothing"),
    ({"4": {"grid": "custom"}}, "none are stored for NFE 4"),
    ({"4": {"solver": "srk", "grid": "power"}}, r"budgets\['4'\]: solver 'srk' runs on the "
                                                "uniform grid only"),
])
def test_bad_budget_tables_are_refused_naming_the_entry(budgets, match):
    with pytest.raises(ConfigError, match=match):
        SamplingConfig.from_run({**_RUN, "sampling": {"nfe": 10, "budgets": budgets}})


def test_bench_store_writes_the_chosen_sampler_and_sampling_uses_it(tmp_path, toy_run):
    import shutil

    from idff.eval.bench import read_csv
    from idff.runs import load

    run = tmp_path / "run"
    shutil.copytree(toy_run, run)
    out = tmp_path / "bench"
    args = ["bench", "nfe", str(run), "--nfe", "2,4", "--n-eval", "100", "--n-val", "50",
            "--gammas", "0", "--solvers", "euler,rk2:0.25", "--grids", "uniform,power:1.5",
            "--out", str(out)]
    bad = CliRunner().invoke(cli, [*args[:11], "--store", "--out", str(out)])
    assert bad.exit_code != 0 and "--store writes the sampler chosen among --solvers" in bad.output
    res = CliRunner().invoke(cli, [*args, "--store"])
    assert res.exit_code == 0, res.output
    assert "stored in" in res.output and "sampling.budgets" in res.output
    stored = json.loads((run / "config.json").read_text())["sampling"]["budgets"]
    assert set(stored) == {"2", "4"}
    names = {"euler": "euler", "rk2": "rk2:0.25"}
    for row in read_csv(out.with_suffix(".csv")):
        entry = stored[row.nfe_budget]
        # the stored entry is the candidate the table reports as chosen
        grid = "uniform" if entry.get("grid", "uniform") == "uniform" else "power:1.5"
        assert row.noise == f"{names[entry['solver']]} {grid} gamma=0"
    r = load(run)
    for nfe, entry in stored.items():
        a = r.sample(64, nfe=int(nfe), seed=3)
        b = r.sample(64, nfe=int(nfe), seed=3, **entry)
        assert torch.equal(a.x, b.x) and a.nfe == int(nfe)
    # the stored default of the run is untouched
    assert r.sampling.to_dict() == load(toy_run).sampling.to_dict()
    # the command says which sampler it used
    npy = str(tmp_path / "x.npy")
    said = CliRunner().invoke(cli, ["sample", str(run), "--nfe", "4", "--n", "8", "--out", npy])
    assert said.exit_code == 0 and "stored for NFE 4" in said.output, said.output
    said = CliRunner().invoke(cli, ["sample", str(run), "--nfe", "4", "--solver", "midpoint", "--n",
                                    "8", "--out", npy])
    assert said.exit_code == 0 and "(NFE 4; midpoint, uniform grid, pf field)" in said.output
    # without --solvers the stored samplers compete with the noise candidates where they exist
    plain = tmp_path / "plain"
    res = CliRunner().invoke(cli, ["bench", "nfe", str(run), "--nfe", "1,4", "--n-eval", "100",
                                   "--n-val", "50", "--gammas", "0", "--out", str(plain)])
    assert res.exit_code == 0, res.output
    with open(plain.with_suffix(".val.csv")) as f:
        val = [(r["nfe_budget"], r["noise"], r.get("skipped", "")) for r in csv.DictReader(f)]
    assert ("4", "stored", "") in val
    assert any(b == "1" and n == "stored" and "no sampler stored for NFE 1" in why
               for b, n, why in val)


def test_the_custom_grid_at_an_nfe_is_the_one_stored_for_it():
    times = [0.0, 0.3, 1.0]
    run = {**_RUN, "sampling": {"nfe": 4, "budgets": {
        "2": {"solver": "euler", "grid": "custom", "times": times}, "4": _BUDGETS["4"]}}}
    cfg = SamplingConfig.from_run(run)
    assert cfg.solver == "rk2"  # the stored NFE's entry, applied
    # asking for the custom grid at NFE 2 by name finds the times stored for NFE 2
    named = cfg.replace(nfe=2, solver="euler", grid="custom")
    assert named.times == tuple(times) and named.to_dict() == cfg.replace(nfe=2).to_dict()
    # and leaving it for an entry on another grid drops its times
    assert named.replace(nfe=4).to_dict() == cfg.to_dict()


def test_an_entry_on_another_grid_beside_a_stored_custom_grid():
    # a run tuned by an older tune-schedule keeps its custom grid as the default
    times = (0.0, 0.2, 0.5, 1.0)
    run = {**_RUN, "sampling": {"nfe": 3, "solver": "ab2", "grid": "custom", "times": times,
                                "budgets": {"4": {"solver": "midpoint", "grid": "power"}}}}
    cfg = SamplingConfig.from_run(run)
    assert cfg.times == times
    assert cfg.replace(nfe=4).to_dict() == _plain(nfe=4, solver="midpoint", grid="power")
    assert cfg.replace(nfe=4).replace(nfe=3).to_dict() == cfg.to_dict()


def test_describe_names_the_sampler_in_use():
    cfg = SamplingConfig.from_run(_RUN)
    assert cfg.describe() == "unipc3, power grid (rho 2), pf field, stored for NFE 10"
    assert cfg.replace(nfe=4).describe() == ("rk2 (alpha 0.25), power grid (rho 1.5), pf field, "
                                             "stored for NFE 4")
    assert cfg.replace(nfe=1, solver="midpoint").describe() == "euler, uniform grid, pf field"
    assert SamplingConfig(method="otcfm", solver="dopri5", nfe=None).describe() == "dopri5"
    assert SamplingConfig(field="published", s=0.1, sde=True).describe() == (
        "midpoint, uniform grid, published field, s 0.1, SDE")
    assert SamplingConfig(gamma=0.5, solver="euler").describe() == (
        "euler, uniform grid, pf field, gamma 0.5")


def test_budget_entries_beside_an_adaptive_default():
    run = {**_RUN, "sampling": {"solver": "dopri5", "budgets": {"4": {"solver": "midpoint"}}}}
    cfg = SamplingConfig.from_run(run)
    assert cfg.solver == "dopri5" and cfg.nfe is None
    assert cfg.replace(nfe=4).to_dict() == _plain(nfe=4, solver="midpoint")
    # back on the adaptive default, another fixed budget is refused as before
    with pytest.raises(ConfigError, match="adaptive and chooses its own steps"):
        cfg.replace(nfe=4).replace(nfe=6)
