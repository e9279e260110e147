"""A run's SamplingConfig: its repr and ``replace`` agree on which settings apply.

On a run whose NFE has a stored sampler (``sampling.budgets``), naming a sampler option sets
that sampler aside and starts from the run's stored settings (docs/METHOD.md, "Samplers
stored per budget"); the repr shows those settings, and a request they cannot honour is
refused naming the sampler set aside, not a setting the user never saw.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import idff
from idff.cli.main import cli
from idff.errors import ConfigError
from idff.sampling import SamplingConfig

_RUN = {"method": "idff", "objective": {"sigma": 0.05},
        "sampling": {"nfe": 10, "solver": "midpoint",
                     "budgets": {"10": {"solver": "unipc3", "grid": "power"},
                                 "4": {"solver": "rk2", "alpha": 0.25, "grid": "power",
                                       "rho": 1.5}}}}


def test_the_repr_shows_the_stored_settings_a_named_option_starts_from():
    cfg = SamplingConfig.from_run(_RUN)
    text = repr(cfg)
    assert "solver='unipc3'" in text and "grid='power'" in text  # the entry in use
    assert "home={'solver': 'midpoint'" in text and "'grid': 'uniform'" in text
    assert cfg.home["grid"] == cfg.replace(solver="heun").grid == "uniform"  # what replace uses
    # no entry in use: nothing to set aside, no home
    assert "home=" not in repr(cfg.replace(nfe=6)) and "home=" not in repr(SamplingConfig())


def test_rho_alpha_and_noise_over_a_set_aside_entry_name_it():
    cfg = SamplingConfig.from_run(_RUN)
    with pytest.raises(ConfigError, match=r"^rho=3.0 sets aside the sampler stored for NFE 10 "
                                          r"\(unipc3, power grid \(rho 2\), pf field\) and starts "
                                          r"from the run's stored settings, whose grid 'uniform' "
                                          r"has no exponent; add grid='power'\.$"):
        cfg.replace(rho=3.0)
    assert cfg.replace(rho=3.0, grid="power").rho == 3.0
    with pytest.raises(ConfigError, match=r"NFE 4 \(rk2 \(alpha 0.25\).*solver 'midpoint' has "
                                          r"no movable second call; add solver='rk2'"):
        cfg.replace(nfe=4, alpha=0.3)
    # gamma no longer swaps unipc3 for midpoint without a word
    with pytest.raises(ConfigError, match=r"^gamma=0.5 sets aside the sampler stored for NFE 10 "
                                          r"\(unipc3.*whose solver 'midpoint' integrates ODEs "
                                          r"only.*; add solver='euler'\.$") as e:
        cfg.replace(gamma=0.5)
    assert e.value.cli.startswith("--gamma 0.5 sets aside") and "add --solver euler" in e.value.cli
    ok = cfg.replace(gamma=0.5, solver="euler")
    assert (ok.solver, ok.grid, ok.gamma) == ("euler", "uniform", 0.5)
    with pytest.raises(ConfigError, match=r"^sde=True sets aside the sampler stored for NFE 4"):
        cfg.replace(nfe=4, field="published", s=0.1, sde=True)
    # without a table, the same requests behave as before (no entry to set aside)
    plain = SamplingConfig.from_run({**_RUN, "sampling": {"nfe": 10}})
    assert plain.replace(gamma=0.5).solver == "midpoint"  # integrate names its own solver
    with pytest.raises(ConfigError, match="would change nothing"):
        plain.replace(rho=3.0)


def test_the_shipped_run_and_idff_sample_agree_with_its_repr(tmp_path):
    run = idff.load("fashion_mnist/idff")
    assert (run.sampling.solver, run.sampling.grid) == ("unipc3", "power")
    assert run.sampling.home["solver"] == "midpoint"
    with pytest.raises(ConfigError, match="sampler stored for NFE 10 .unipc3"):
        run.sample(2, gamma=0.5, seed=0)
    res = CliRunner().invoke(cli, ["sample", "fashion_mnist/idff", "--gamma", "0.5", "--n", "2",
                                   "--out", str(tmp_path / "g.png")])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert res.output.startswith("Error: --gamma 0.5 sets aside the sampler stored for NFE 10 "
                                 "(unipc3") and "add --solver euler" in res.output
