"""Per-time diagnostics: loss-weight shares in closed form, head errors on exact heads."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from idff.analytic import GaussianHeads
from idff.eval.diagnostics import per_time_errors, velocity_weight, write_table

MEAN = torch.tensor([1.0, -0.5])
COV = torch.tensor([[0.5, 0.2], [0.2, 0.3]])


def _share_late(obj, t0=0.7):
    t = np.linspace(0, 1, 200_001)[:-1] + 0.5 / 200_000
    w = velocity_weight(obj, t)
    return w[t >= t0].sum() / w.sum()


def test_velocity_weight_shares_in_closed_form():
    # x̂1 loss, no weighting: (1 − t)², share of t > 0.7 is 0.3³
    assert _share_late({"name": "idff"}) == pytest.approx(0.027, abs=1e-4)
    # CFM and the "cfm" flow weighting: uniform
    assert _share_late({"name": "otcfm"}) == pytest.approx(0.3, abs=1e-4)
    assert _share_late({"name": "idff", "flow_weighting": "cfm"}) == pytest.approx(0.3, abs=1e-4)
    # clipped at 100: min(1, 100(1 − t)²) → (0.2 + 1/30) / (0.9 + 1/30)
    clipped = {"name": "idff", "flow_weighting": "clipped", "max_weight": 100.0}
    assert _share_late(clipped) == pytest.approx((0.2 + 1 / 30) / (0.9 + 1 / 30), abs=1e-3)


class Shifted(nn.Module):
    def __init__(self, base, d):
        super().__init__()
        self.base, self.d = base, d

    def forward(self, t, x):
        f, s = self.base(t, x)
        return f + self.d, s


def test_exact_heads_have_the_lowest_error_in_every_bin():
    oracle = GaussianHeads(MEAN, COV, 0.2)
    x1 = MEAN + torch.randn(4000, 2, generator=torch.Generator().manual_seed(0)) @ \
        torch.linalg.cholesky(COV).T
    cfg = {"method": "idff", "objective": {"name": "idff", "sigma": 0.2,
                                           "coupling": "independent"}, "train": {"batch_size": 256}}
    best = per_time_errors(oracle, cfg, x1, "exact", bins=5, t_max=0.95)
    worse = per_time_errors(Shifted(oracle, 0.1), cfg, x1, "shifted", bins=5, t_max=0.95)
    assert len(best) == 5 and best[0].t_lo == 0 and best[-1].t_hi == pytest.approx(0.95)
    for a, b in zip(best, worse):
        assert a.vel_mse < b.vel_mse and a.x1_mse < b.x1_mse
        assert a.eps_mse == pytest.approx(b.eps_mse)
    # the ε error of exact heads is at most 1 (ε itself) and falls below it
    assert all(r.eps_mse < 1.0 for r in best)
    assert sum(r.weight_share for r in best) == pytest.approx(1 - 0.05**3, abs=1e-3)


def test_cfm_network_and_table(tmp_path):
    x1 = torch.randn(600, 2, generator=torch.Generator().manual_seed(1))
    cfg = {"method": "icfm", "objective": {"name": "icfm", "sigma": 0.0, "coupling": "independent"}}

    def zero(t, x):
        return torch.zeros_like(x)

    rows = per_time_errors(zero, cfg, x1, "zero", bins=3)
    # E‖x1 − x0‖² per element = 2 for independent standard normals
    for r in rows:
        assert r.vel_mse == pytest.approx(2.0, rel=0.1)
        assert np.isnan(r.x1_mse)
    text = write_table(rows, tmp_path / "diag", "header")
    assert "| zero | 0.00–0.33 |" in text
    assert (tmp_path / "diag.csv").read_text().count("\n") == 4


def test_cli_on_a_toy_run(tmp_path):
    from idff.cli.main import cli

    run = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train", "toy", "--method", "otcfm", "--dataset", "8gaussians",
                                 "--steps", "20", "--out", str(run)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "d"
    r = CliRunner().invoke(cli, ["diagnose", str(run), "--n", "200", "--bins", "4",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "d.png").stat().st_size > 1000
    assert (tmp_path / "d.md").read_text().count("| run | 0.") == 4
    r = CliRunner().invoke(cli, ["diagnose", str(tmp_path), "--out", str(out)])
    assert r.exit_code == 2 and "is not a run" in r.output
    # options this run would ignore are refused, not dropped
    r = CliRunner().invoke(cli, ["diagnose", str(run), "--data-root", str(tmp_path),
                                 "--out", str(tmp_path / "d2")])
    assert r.exit_code == 2 and "--data-root would change nothing" in r.output, r.output
    assert not (tmp_path / "d2.md").exists()
    r = CliRunner().invoke(cli, ["nll", str(run), "--n", "10", "--t-end", "0.01"])
    assert r.exit_code == 2 and "--t-end would change nothing" in r.output, r.output
