"""The sampling config: validation, overrides, legacy run configs, generated CLI options."""

from __future__ import annotations

import dataclasses

import pytest
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
    # method and σ belong to the trained run; a custom grid's times come from tune-schedule
    assert set(names) == {f.name for f in dataclasses.fields(SamplingConfig)} - {
        "method", "sigma", "times"}
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
