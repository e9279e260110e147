"""The solver and grid registry: one class per family, read by every surface (the command
line, SamplingConfig, ``bench nfe``'s parsers); the spellings ``rk2:0.25`` / ``power:1.5``
everywhere; one refusal per rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from idff.cli.main import cli
from idff.errors import ConfigError
from idff.fields import CFMField
from idff.sampling import (
    SamplingConfig,
    Solver,
    integrate,
    nfe_for_steps,
    parse_grid,
    parse_solver,
    register_solver,
    steps_for_nfe,
    unregister_solver,
)
from idff.sampling.registry import solver_class, solver_names


class Leapfrog(Solver):
    """A toy solver defined outside the library: Euler with a half step at each end."""

    name, order, calls_per_step = "leapfrog_test", 1, 1
    summary = "a test solver"

    def step(self, field, x, s):
        return x + s.h * field.drift(s.t, x)


@pytest.fixture
def leapfrog():
    register_solver(Leapfrog)
    yield Leapfrog
    unregister_solver(Leapfrog.name)


def test_a_solver_class_registered_outside_the_library_is_offered_everywhere(leapfrog):
    help_ = CliRunner().invoke(cli, ["sample", "--help"], terminal_width=400).output
    assert "leapfrog_test" in help_
    cfg = SamplingConfig(solver="leapfrog_test", nfe=4)  # accepted
    assert cfg.steps() == 4
    assert parse_solver("leapfrog_test") == ("leapfrog_test", {})
    from idff.eval.bench import parse_solver as bench_parse

    assert bench_parse("leapfrog_test") == ("leapfrog_test", {})
    res = integrate(CFMField(lambda t, x: -x), torch.ones(3, 2), solver="leapfrog_test", nfe=4)
    assert res.nfe == 4
    torch.testing.assert_close(res.x, torch.full((3, 2), 0.75**4))


def test_an_unregistered_solver_is_gone_from_every_surface(leapfrog):
    unregister_solver(leapfrog.name)
    try:
        assert "leapfrog_test" not in CliRunner().invoke(cli, ["sample", "--help"],
                                                          terminal_width=400).output
        with pytest.raises(ConfigError, match="unknown solver 'leapfrog_test'"):
            SamplingConfig(solver="leapfrog_test")
        with pytest.raises(ValueError, match="unknown solver 'leapfrog_test'"):
            parse_solver("leapfrog_test")
    finally:
        register_solver(leapfrog)


def test_budget_facts_are_the_solver_classes():
    # the call counts of the former tables, now each class's own
    calls = {"euler": 1, "ddim": 1, "ab3": 1, "unipc2": 1, "midpoint": 2, "rk2": 2,
             "ddim2": 2, "heun": 2}
    for name, per_step in calls.items():
        assert solver_class(name).calls_per_step == per_step
    assert steps_for_nfe(4, "heun") == 2 and nfe_for_steps(2, "heun") == 3  # last step Euler
    assert nfe_for_steps(2, "heun", singular_at_one=False) == 4
    assert nfe_for_steps(1, "srk") == 12 == solver_class("srk").min_nfe
    for name in solver_names(adaptive=False):
        for nfe in (1, 2, 5, 13, 40):
            if nfe >= solver_class(name).min_nfe:
                assert nfe_for_steps(steps_for_nfe(nfe, name), name) <= nfe


def test_parameters_are_checked_once_by_their_class():
    for bad in ("rk2:0", "rk2:1.5", "rk2:x"):
        with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\]"):
            parse_solver(bad)
    with pytest.raises(ValueError, match="only rk2 takes a parameter"):
        parse_solver("heun:0.3")
    with pytest.raises(ValueError, match="power exponent must be a number > 0"):
        parse_grid("power:0")
    assert parse_grid("power") == {"grid": "power", "rho": 2.0}
    with pytest.raises(ConfigError, match=r"alpha .* must be in \(0, 1\]"):
        SamplingConfig(solver="rk2", alpha=1.5)
    with pytest.raises(ValueError, match=r"alpha .* must be in \(0, 1\]"):
        integrate(CFMField(lambda t, x: -x), torch.ones(2, 2), solver="rk2", alpha=0.0)


def test_an_nfe_with_an_adaptive_solver_has_one_refusal(toy_run, tmp_path):
    import idff

    needle = "cannot be honoured: solver 'dopri5' is adaptive and chooses its own steps"
    with pytest.raises(ValueError, match="nfe=4 " + needle):
        integrate(CFMField(lambda t, x: -x), torch.ones(2, 2), solver="dopri5", nfe=4)
    with pytest.raises(ConfigError, match="nfe=4 " + needle):
        SamplingConfig(solver="dopri5", nfe=4)
    with pytest.raises(ConfigError, match="nfe=4 " + needle):
        idff.load(toy_run).sample(4, nfe=4, solver="dopri5")
    res = CliRunner().invoke(cli, ["sample", str(toy_run), "--solver", "dopri5", "--nfe", "4",
                                   "--out", str(tmp_path / "x.npy")])
    assert res.exit_code == 2 and "--nfe 4 " + needle in res.output


def test_sample_takes_the_registry_spellings(toy_run, tmp_path):
    def sample(*args):
        out = tmp_path / f"{len(list(tmp_path.iterdir()))}.npy"
        res = CliRunner().invoke(cli, ["sample", str(toy_run), "--n", "16", "--nfe", "4",
                                       *args, "--out", str(out)])
        assert res.exit_code == 0, res.output
        return np.load(out)

    a = sample("--solver", "rk2:0.25", "--grid", "power:1.5")
    b = sample("--solver", "rk2", "--alpha", "0.25", "--grid", "power", "--rho", "1.5")
    assert np.array_equal(a, b)
    assert not np.array_equal(a, sample("--solver", "midpoint", "--grid", "power:1.5"))


@pytest.mark.parametrize("args, needles", [
    (["--solver", "rk2:0.25", "--alpha", "0.3"], ["--solver rk2:0.25 already sets alpha"]),
    (["--grid", "power:1.5", "--rho", "2"], ["--grid power:1.5 already sets rho"]),
    (["--solver", "rk2:2"], ["alpha must be in (0, 1]"]),
    (["--solver", "midpoint:0.3"], ["only rk2 takes a parameter"]),
    (["--grid", "logsnr:2"], ["takes no parameter"]),
    (["--solver", "rk9"], ["unknown solver 'rk9'"]),
])
def test_bad_spellings_are_one_line_refusals(toy_run, tmp_path, args, needles):
    res = CliRunner().invoke(cli, ["sample", str(toy_run), *args,
                                   "--out", str(tmp_path / "x.npy")])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    for n in needles:
        assert n in res.output, res.output
    assert not (tmp_path / "x.npy").exists()


def test_generate_takes_the_registry_spellings(tmp_path):
    help_ = CliRunner().invoke(cli, ["generate", "--help"], terminal_width=400).output
    assert "rk2:ALPHA" in help_ and "power:RHO" in help_ and "unipc3" in help_
    spelled = (["--solver", "rk2:0.25", "--grid", "power:1.5"],
               ["--solver", "rk2", "--alpha", "0.25", "--grid", "power", "--rho", "1.5"])
    for i, args in enumerate(spelled):
        res = CliRunner().invoke(cli, ["generate", "fashion_mnist/idff", "--n", "1", "--nfe",
                                       "2", *args, "--out", str(tmp_path / str(i))])
        assert res.exit_code == 0, res.output
        record = json.loads((tmp_path / str(i) / "generate.json").read_text())
        assert (record["solver"], record["alpha"], record["grid"], record["rho"]) == (
            "rk2", 0.25, "power", 1.5)
    assert (tmp_path / "0" / "000000.png").read_bytes() == \
        (tmp_path / "1" / "000000.png").read_bytes()


def test_a_grid_with_an_adaptive_solver_has_one_refusal():
    needle = "is adaptive and chooses its own steps: it takes no grid"
    with pytest.raises(ConfigError, match=needle):
        SamplingConfig(solver="dopri5", nfe=None, grid="power")
    with pytest.raises(ValueError, match=needle):
        integrate(CFMField(lambda t, x: -x), torch.ones(2, 2), solver="dopri5", grid="power")
    with pytest.raises(ValueError, match="steps=3 cannot be honoured"):
        integrate(CFMField(lambda t, x: -x), torch.ones(2, 2), solver="dopri5", steps=3)


def test_the_sampling_package_is_small_modules_that_do_not_lean_on_the_old_paths():
    import ast
    from pathlib import Path

    import idff.sampling

    for path in Path(idff.sampling.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) <= 450, path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module not in ("idff.sampler", "idff.solvers",
                                           "idff.sampling_aside"), (path.name, node.module)
