"""Time grids, multistep solvers and learned grids against the Gaussian oracle (exact heads)."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from click.testing import CliRunner

from idff.analytic import GaussianHeads
from idff.errors import ConfigError
from idff.fields import CFMField, IDFFField, idff_drift
from idff.sampler import integrate, steps_for_nfe
from idff.sampling import SamplingConfig, nfe_for_steps
from idff.schedule import tune_grid
from idff.solvers import GRID_SOLVERS, GRIDS, MULTISTEP, check_times, time_grid

MU = torch.tensor([2.0, -1.0], dtype=torch.float64)
STD = torch.tensor([0.5, 2.0], dtype=torch.float64)


@pytest.fixture(scope="module")
def oracle():
    return GaussianHeads(MU, torch.diag(STD**2), sigma=0.2)


def _x0(n=200, seed=0):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _exact(x0):
    """The probability flow of a diagonal Gaussian moves each coordinate linearly:
    x_1 = μ + std·x_0 (its marginals stay Gaussian, the map is monotone)."""
    return MU + STD * x0


def _error(oracle, solver, steps, grid="uniform"):
    x0 = _x0()
    x = integrate(IDFFField(oracle, sigma=0.2), x0, steps=steps, solver=solver, grid=grid).x
    return float((x - _exact(x0)).abs().max())


@pytest.mark.parametrize("solver, grid, order", [
    ("euler", "power", 1.0),
    ("midpoint", "power", 2.0),
    ("heun", "power", 2.0),
    ("ab2", "uniform", 2.0),
    ("ab3", "uniform", 2.0),   # an Euler start caps it at 2 on a uniform grid
    ("ab4", "power", 3.5),     # small first steps make the start error negligible
    ("dpm2m", "uniform", 1.6),
    ("dpm3m", "uniform", 1.8),
    ("unipc2", "logsnr", 2.7),   # the corrector adds an order to dpm2m's 2
    ("unipc3", "logsnr", 3.0),
])
def test_observed_order_of_convergence(oracle, solver, grid, order):
    e1, e2 = _error(oracle, solver, 32, grid), _error(oracle, solver, 64, grid)
    assert math.log2(e1 / e2) > order - 0.25
    assert e2 < 0.2


def test_higher_order_multistep_wins_on_a_power_grid(oracle):
    errs = [_error(oracle, s, 32, "power") for s in ("ab2", "ab3", "ab4")]
    assert errs[0] > errs[1] > errs[2]


@pytest.mark.parametrize("solver, predictor", [("unipc2", "dpm2m"), ("unipc3", "dpm3m")])
def test_unipc_corrector_beats_its_predictor_at_every_budget(oracle, solver, predictor):
    # the same calls, the same final step: only the corrector differs
    for nfe in (16, 32, 64):
        assert _error(oracle, solver, nfe, "logsnr") < 0.85 * _error(oracle, predictor, nfe,
                                                                      "logsnr")


def test_unipc_first_corrector_is_exact_for_a_linear_prediction():
    # D(t) = A + B·t is integrated exactly by the first step's corrector (linear in t), so
    # the state after one corrected step is the exact solution of dx/dt = (D − x)/(1 − t):
    # x(t) = (1 − t)·[x0 + ∫_0^t D(s)/(1 − s)² ds]
    from idff.solvers import _unipc_step

    a, b = torch.tensor([[1.0, -2.0]], dtype=torch.float64), torch.tensor([[0.5, 3.0]],
                                                                           dtype=torch.float64)
    x0, t1 = _x0(4), torch.tensor(0.3, dtype=torch.float64)
    d0, d1 = a.expand(4, 2), (a + b * t1).expand(4, 2)
    x = _unipc_step(x0, torch.tensor(0.0, dtype=torch.float64), t1, [(torch.tensor(0.0), d0)],
                    d1)
    integral = a * t1 / (1 - t1) + b * (1 / (1 - t1) + math.log(1 - t1) - 1)
    assert torch.allclose(x, (1 - t1) * (x0 + integral), atol=1e-12)


@pytest.mark.parametrize("solver", ["midpoint", "ab3", "dpm2m", "dpm3m", "unipc2", "unipc3"])
def test_agrees_with_dopri5_at_high_nfe(oracle, solver):
    # a CFM field (no singularity at t = 1) built from the exact probability flow
    def velocity(t, x):
        x1, s = oracle(t, x)
        return idff_drift(x1, s, x, t)

    x0 = _x0(100)
    ref = integrate(CFMField(velocity), x0, solver="dopri5", atol=1e-9, rtol=1e-9).x
    x = integrate(CFMField(velocity), x0, solver=solver, nfe=200, grid="uniform").x
    assert torch.allclose(x, ref, atol=2e-3)
    assert torch.allclose(ref, _exact(x0), atol=1e-5)


@pytest.mark.parametrize("solver", ["dpm2m", "dpm3m", "unipc2", "unipc3"])
@pytest.mark.parametrize("grid", ["uniform", "power"])
def test_dpm_final_step_is_exact_for_a_prediction_flat_at_one(solver, grid):
    # with a data prediction D(t) = A + B·(1 − t)² (dD/dt = 0 at t = 1, as along every
    # solution), the field (D − x)/(1 − t) takes every state to x(1) = A; the final dpm step
    # extrapolates D from the last two predictions and lands there from any state
    a, b = torch.tensor([[1.5, -2.0]]), torch.tensor([[3.0, 0.5]])

    def velocity(t, x):
        return (a + b * (1 - t[:, None]) ** 2 - x) / (1 - t[:, None])

    for nfe in (2, 3, 5):
        x = integrate(CFMField(velocity), _x0(8).float(), solver=solver, nfe=nfe, grid=grid).x
        assert torch.allclose(x, a.expand(8, 2), atol=1e-5)


def test_dpm2m_final_step_beats_the_first_order_jump_at_two_calls(oracle):
    # NFE 2 on the power grid (0, 1/4, 1): the first-order final step would land on the data
    # prediction D(1/4); the extrapolated one is several times closer to the exact flow
    x0, f = _x0(), IDFFField(oracle, sigma=0.2)

    def prediction(t, x):
        tt = torch.full((len(x),), t, dtype=x.dtype)
        return x + (1 - t) * f.drift(tt, x)

    first_order = prediction(0.25, x0 + 0.25 * (prediction(0.0, x0) - x0))
    jump = float((first_order - _exact(x0)).abs().max())
    assert _error(oracle, "dpm2m", 2, "power") < jump / 2
    assert _error(oracle, "dpm2m", 64, "power") < 0.02  # and it still converges


@pytest.mark.parametrize("solver", [s for s in GRID_SOLVERS if not s.startswith("ddim")])
@pytest.mark.parametrize("singular", [True, False])
def test_nfe_budget_is_exact(oracle, solver, singular):
    for nfe in (1, 2, 3, 4, 6, 10):
        f = IDFFField(oracle, sigma=0.2) if singular else CFMField(lambda t, x: -x)
        for grid in ("uniform", "power", "logsnr"):
            res = integrate(f, _x0(10), solver=solver, nfe=nfe, grid=grid)
            assert res.nfe <= nfe
            if solver in MULTISTEP or solver == "euler":
                assert res.nfe == nfe
            s = "euler" if nfe == 1 and solver in ("midpoint", "heun", "rk2") else solver
            assert res.nfe == nfe_for_steps(steps_for_nfe(nfe, s, singular), s, singular)


def test_rk2_family_is_second_order_and_contains_midpoint_and_heun(oracle):
    # α = 1/2 is the midpoint rule and α = 1 Heun's method, step for step (a CFM field: no
    # singularity at t = 1, so Heun's last step is not shortened)
    f = CFMField(lambda t, x: torch.sin(3 * t[:, None]) - x**3 / 4)
    x0 = _x0(20)
    for alpha, twin in ((0.5, "midpoint"), (1.0, "heun")):
        a = integrate(f, x0, solver="rk2", nfe=8, grid="power", alpha=alpha).x
        b = integrate(f, x0, solver=twin, nfe=8, grid="power").x
        assert torch.allclose(a, b, atol=1e-12)
    for alpha in (0.2, 2 / 3):
        e1 = float((integrate(IDFFField(oracle, sigma=0.2), x0, solver="rk2", nfe=64,
                              grid="power", alpha=alpha).x - _exact(x0)).abs().max())
        e2 = float((integrate(IDFFField(oracle, sigma=0.2), x0, solver="rk2", nfe=128,
                              grid="power", alpha=alpha).x - _exact(x0)).abs().max())
        assert math.log2(e1 / e2) > 1.75


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5, float("nan"), True])
def test_rk2_refuses_a_second_call_outside_the_step(oracle, alpha):
    with pytest.raises(ValueError, match="alpha"):
        integrate(IDFFField(oracle, sigma=0.2), _x0(4), solver="rk2", nfe=4, alpha=alpha)
    with pytest.raises(ConfigError, match="alpha"):
        SamplingConfig(solver="rk2", alpha=alpha)


def test_alpha_without_rk2_is_refused_not_ignored():
    with pytest.raises(ConfigError, match="only the rk2 solver"):
        SamplingConfig().replace(alpha=0.25)
    assert SamplingConfig().replace(solver="rk2", alpha=0.25).alpha == 0.25


def test_rho_without_the_power_grid_is_refused_not_ignored():
    with pytest.raises(ConfigError, match="only the power grid has an exponent") as e:
        SamplingConfig().replace(rho=1.5)
    assert "grid='power'" in str(e.value) and "--grid power" in e.value.cli
    with pytest.raises(ConfigError, match="adaptive and uses no time grid"):
        SamplingConfig().replace(solver="dopri5", rho=1.5)
    assert SamplingConfig().replace(grid="power", rho=1.5).rho == 1.5
    assert SamplingConfig(grid="power", rho=1.5).replace(rho=3.0).rho == 3.0
    # named, even at its default, rho asks for the power grid (the CLI's --rho 2): refused
    with pytest.raises(ConfigError, match="rho=2.0 would change nothing") as e:
        SamplingConfig().replace(rho=2.0)
    assert "--rho 2 would change nothing" in e.value.cli
    with pytest.raises(ConfigError, match="alpha=0.5 would change nothing"):
        SamplingConfig().replace(alpha=0.5)
    assert SamplingConfig().replace(solver="rk2", alpha=0.5).alpha == 0.5


def test_integrate_refuses_grid_and_solver_options_it_would_ignore(oracle):
    f = IDFFField(oracle, sigma=0.2)
    with pytest.raises(ValueError, match="rho=1.5 would change nothing"):
        integrate(f, _x0(4), solver="midpoint", nfe=4, rho=1.5)
    with pytest.raises(ValueError, match="alpha=0.25 would change nothing"):
        integrate(f, _x0(4), solver="midpoint", nfe=4, grid="power", alpha=0.25)
    with pytest.raises(ValueError, match="times would change nothing"):
        integrate(f, _x0(4), solver="euler", nfe=2, times=[0.0, 0.3, 1.0])
    assert integrate(f, _x0(4), solver="rk2", nfe=4, grid="power", rho=1.5, alpha=0.25).nfe == 4
    with pytest.raises(ValueError, match="atol/rtol would change nothing"):
        integrate(f, _x0(4), solver="midpoint", nfe=4, atol=1e-3)
    with pytest.raises(ValueError, match="t_end=0.1 would change nothing"):
        integrate(f, _x0(4), solver="euler", nfe=2, t_end=0.1)
    with pytest.raises(ValueError, match="trajectory_points=5 would change nothing"):
        integrate(f, _x0(4), solver="dopri5", trajectory_points=5)
    assert integrate(f, _x0(4), solver="srk", steps=2, t_end=0.01).x.shape == (4, 2)  # srk uses it
    res = integrate(f, _x0(4), solver="dopri5", atol=1e-3, rtol=1e-3, return_trajectory=True,
                    trajectory_points=5)
    full = integrate(f, _x0(4), solver="dopri5", atol=1e-3, rtol=1e-3, return_trajectory=True)
    assert res.trajectory.shape[0] < 10 < full.trajectory.shape[0]  # the option is used


def test_fields_refuse_the_other_fields_noise(oracle):
    with pytest.raises(ValueError, match="s=0.5, sde=False would change nothing"):
        IDFFField(oracle, sigma=0.2, s=0.5)
    with pytest.raises(ValueError, match="sde=True would change nothing"):
        IDFFField(oracle, sigma=0.2, sde=True)
    with pytest.raises(ValueError, match="gamma=1.0 would change nothing"):
        IDFFField(oracle, kind="published", sigma=0.2, gamma=1.0)
    # a run config switched from the published field to pf keeps its stored s, which the pf
    # field is not given: it samples as the pf ODE
    cfg = SamplingConfig(method="idff", sigma=0.2, field="published", s=0.2, sde=True,
                         solver="euler", nfe=4).replace(field="pf")
    assert (cfg.field, cfg.s) == ("pf", 0.2)
    a = cfg.integrate(oracle, _x0(8))
    b = SamplingConfig(method="idff", sigma=0.2, solver="euler", nfe=4).integrate(oracle, _x0(8))
    torch.testing.assert_close(a.x, b.x)
    # a config whose rk2 falls back to Euler at one call still samples
    assert SamplingConfig(solver="rk2", alpha=0.25, nfe=1).integrate(oracle, _x0(4)).nfe == 1


def test_uniform_grid_on_the_grid_path_matches_the_original_loop(oracle):
    x0 = _x0(50)
    for solver in ("euler", "midpoint", "heun", "ddim", "ddim2"):
        a = integrate(IDFFField(oracle, sigma=0.2), x0, steps=5, solver=solver).x
        t = time_grid(5, "custom", times=[k / 5 for k in range(6)])
        b = integrate(IDFFField(oracle, sigma=0.2), x0, steps=5, solver=solver,
                      grid="custom", times=t.tolist()).x
        assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("grid", [g for g in GRIDS if g != "custom"])
@pytest.mark.parametrize("steps", [1, 2, 5, 17])
def test_grids_are_monotone_from_zero_to_one(grid, steps):
    t = time_grid(steps, grid, rho=1.7)
    assert len(t) == steps + 1 and t[0] == 0 and t[-1] == 1
    assert bool((t[1:] > t[:-1]).all())
    assert torch.equal(check_times(t.tolist()), t)


def test_grid_shapes():
    assert torch.allclose(time_grid(4, "power", rho=2.0), 
                          torch.tensor([0, 1, 4, 9, 16], dtype=torch.float64) / 16)
    t = time_grid(6, "logsnr")  # symmetric about 1/2, small steps at both ends
    assert torch.allclose(t + t.flip(0), torch.ones(7, dtype=t.dtype))
    assert t[1] < 1 / 6


@pytest.mark.parametrize("times, match", [
    ([0.0, 0.5], "start at 0 and end at 1"),
    ([0.1, 0.5, 1.0], "start at 0 and end at 1"),
    ([0.0, 0.6, 0.4, 1.0], "strictly increasing"),
    ([0.0, "a", 1.0], "list of numbers"),
])
def test_bad_custom_times_are_refused(times, match):
    with pytest.raises(ValueError, match=match):
        check_times(times)


def test_bad_budgets_and_grids_are_refused(oracle):
    f = IDFFField(oracle, sigma=0.2)
    with pytest.raises(ValueError, match="adaptive and chooses its own steps"):
        integrate(f, _x0(5), solver="dopri5", nfe=4)
    with pytest.raises(ValueError, match="nfe or as steps, not both"):
        integrate(f, _x0(5), solver="euler", nfe=4, steps=4)
    with pytest.raises(ValueError, match="unknown grid 'cosine'"):
        integrate(f, _x0(5), nfe=4, grid="cosine")
    with pytest.raises(ValueError, match="custom grid has 2 steps but this budget takes 4"):
        integrate(f, _x0(5), nfe=4, grid="custom", times=[0, 0.5, 1])
    with pytest.raises(ValueError, match="is for ODEs but this field has diffusion"):
        integrate(IDFFField(oracle, sigma=0.2, gamma=1.0), _x0(5), nfe=4, solver="ab2")
    with pytest.raises(ValueError, match="exponent rho > 0"):
        time_grid(3, "power", rho=-1.0)


@pytest.mark.parametrize("kw, match", [
    ({"solver": "dopri5", "nfe": 4}, "adaptive and chooses its own steps"),
    ({"solver": "dopri5", "nfe": None, "grid": "power"}, "takes no grid"),
    ({"grid": "custom"}, "needs its times"),
    ({"grid": "custom", "times": [0, 0.3, 1], "nfe": 4, "solver": "euler"},
     "custom grid has 2 steps but this budget takes 4"),
    ({"grid": "power", "times": [0, 0.3, 1]}, "set grid 'custom' or drop times"),
    ({"rho": 0.0}, "rho .* must be a number > 0"),
    ({"grid": "power", "solver": "srk"}, "uniform grid only"),
])
def test_sampling_config_refuses_bad_grids(kw, match):
    with pytest.raises(ConfigError, match=match):
        SamplingConfig(**kw)


def test_an_explicit_nfe_with_an_adaptive_solver_is_refused_not_ignored():
    # what run.sample(n, nfe=4, solver="dopri5") asks for
    with pytest.raises(ConfigError, match="nfe=4 cannot be honoured"):
        SamplingConfig(nfe=10).replace(nfe=4, solver="dopri5")
    assert SamplingConfig(nfe=10).replace(solver="dopri5").nfe is None  # the switch alone


def test_sampling_config_stores_and_uses_a_custom_grid(oracle):
    s = SamplingConfig(sigma=0.2, solver="ab2", nfe=3, grid="custom", times=[0, 0.2, 0.5, 1])
    back = SamplingConfig.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s and back.times == (0.0, 0.2, 0.5, 1.0)
    assert s.replace(grid="power").times is None  # another grid drops the custom times
    assert s.replace(solver="dopri5").grid == "uniform"
    x0 = _x0(20)
    a = s.integrate(oracle, x0)
    b = integrate(IDFFField(oracle, sigma=0.2), x0, solver="ab2", nfe=3, grid="custom",
                  times=[0, 0.2, 0.5, 1])
    assert a.nfe == 3 and torch.equal(a.x, b.x)


def test_tuned_grid_beats_its_start_on_the_gaussian(oracle):
    field = IDFFField(oracle, sigma=0.2)
    x0, held = _x0(128, 1), _x0(64, 2)
    res = tune_grid(field, x0, _exact(x0), 3, "euler", held, _exact(held), iters=40, batch=64,
                    lr=0.1)
    assert res.error < 0.8 * res.init_error
    assert res.times[0] == 0 and res.times[-1] == 1 and len(res.times) == 4
    assert all(a < b for a, b in zip(res.times, res.times[1:]))


def test_tune_schedule_command_stores_a_grid_the_sampler_uses(toy_run):
    from idff.cli.main import cli
    from idff.runs import load

    res = CliRunner().invoke(cli, ["tune-schedule", str(toy_run), "--nfe", "3", "--solver",
                                   "ab2", "--n", "128", "--n-held", "64", "--iters", "25",
                                   "--teacher-nfe", "40"])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if "held-out" in x)
    before, after = (float(v) for v in re.findall(r"noises (\S+) \(power.*-> (\S+) \(tuned",
                                                  line)[0])
    assert after <= before
    run = load(toy_run)
    default = run.sampling
    assert default.grid != "custom" and default.nfe != 3  # the run's default is kept
    tuned = default.replace(nfe=3)  # the stored sampler of NFE 3
    assert tuned.grid == "custom" and tuned.solver == "ab2" and len(tuned.times) == 4
    res = run.sample(16, nfe=3, seed=0)
    assert res.nfe == 3 and res.x.shape == (16, 2)
    same = run.sample(16, nfe=3, seed=0, solver="ab2", grid="custom", times=tuned.times)
    assert torch.equal(res.x, same.x)
    # 'custom' at NFE 3 means the tuned times; other budgets have no tuned grid
    assert torch.equal(run.sample(16, nfe=3, seed=0, solver="ab2", grid="custom").x, res.x)
    assert run.sample(4, nfe=6).nfe == 6  # other budgets keep the run's sampler
    with pytest.raises(ConfigError, match="none are stored for NFE 6; run 'idff tune-schedule "
                       "RUN --nfe 6'"):
        run.sample(4, nfe=6, solver="ab2", grid="custom")
    bad = CliRunner().invoke(cli, ["tune-schedule", str(toy_run), "--nfe", "3", "--solver",
                                   "dopri5"])
    assert bad.exit_code == 2 and "cannot be tuned" in bad.output


def test_bench_crosses_solvers_with_grids(toy_run):
    from idff.eval.bench import entry_from_run, parse_grid

    assert parse_grid("power:1.5") == {"grid": "power", "rho": 1.5}
    assert parse_grid("logsnr") == {"grid": "logsnr"}
    for bad, match in (("cosine", "unknown grid"), ("power:-1", "number > 0"),
                       ("logsnr:2", "takes no parameter")):
        with pytest.raises(ValueError, match=match):
            parse_grid(bad)
    e = entry_from_run(toy_run, gammas=(0.0, 0.5), solvers=["midpoint", "ab2", "euler"],
                       grids=["uniform", "power:1.5"])
    assert set(e.samplers) == {f"{s} {g} gamma=0" for s in ("midpoint", "ab2", "euler")
                               for g in ("uniform", "power:1.5")} | {
        "euler uniform gamma=0.5", "euler power:1.5 gamma=0.5"}
    with pytest.raises(ValueError, match="one step"):  # every grid is [0, 1] at one step
        e.samplers["midpoint power:1.5 gamma=0"](8, 2, None, 0)
    a = e.samplers["ab2 power:1.5 gamma=0"](8, 4, None, 0)
    b = e.samplers["ab2 uniform gamma=0"](8, 4, None, 0)
    assert a.nfe == b.nfe == 4 and not torch.equal(a.x, b.x)


def test_bench_places_rk2_calls_from_the_candidate_name(toy_run):
    from idff.eval.bench import entry_from_run, parse_solver

    assert parse_solver("rk2:0.25") == ("rk2", {"alpha": 0.25})
    assert parse_solver("unipc3") == ("unipc3", {})
    for bad, match in (("rk2:0", "in \\(0, 1\\]"), ("rk2:x", "in \\(0, 1\\]"),
                       ("midpoint:0.3", "only rk2")):
        with pytest.raises(ValueError, match=match):
            parse_solver(bad)
    e = entry_from_run(toy_run, gammas=(0.0,), solvers=["rk2:0.25", "rk2:0.5", "midpoint"],
                       grids=["power"])
    x = {k: e.samplers[f"{k} power gamma=0"](8, 4, None, 0) for k in ("rk2:0.25", "rk2:0.5",
                                                                       "midpoint")}
    assert all(r.nfe == 4 for r in x.values())
    assert torch.equal(x["rk2:0.5"].x, x["midpoint"].x)  # α = 1/2 is the midpoint rule
    assert not torch.equal(x["rk2:0.25"].x, x["midpoint"].x)


def test_bench_offers_the_score_free_fields_as_one_noise_free_candidate(toy_run):
    from idff.cli.main import cli
    from idff.eval.bench import entry_from_run

    e = entry_from_run(toy_run, gammas=(0.0, 0.5), field="x1", solvers=["ab2", "euler"],
                       grids=["uniform"])
    assert set(e.samplers) == {"ab2 uniform field=x1", "euler uniform field=x1"}
    res = e.samplers["ab2 uniform field=x1"](8, 4, None, 0)
    assert res.nfe == 4 and res.x.shape == (8, 2)
    bad = CliRunner().invoke(cli, ["bench", "nfe", str(toy_run), "--field", "velocity",
                                   "--gammas", "0,0.5", "--nfe", "2", "--out", "unused"])
    assert bad.exit_code == 2 and "ODE without noise" in bad.output
