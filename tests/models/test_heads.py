"""TwoHead parametrizations: each represents the exact Gaussian heads, and 'velocity' has
bounded outputs where the exact heads grow like 1/√(1 - t)."""

import pytest
import torch
from torch import nn

from idff.analytic import GaussianHeads
from idff.fields import IDFFField
from idff.models import TwoHead, build_model
from idff.path import IDFFPath

MEAN = torch.tensor([2.0, -1.0])
COV = torch.tensor([[0.5, 0.1], [0.1, 0.2]])
SIGMA = 0.3


class Inverted(nn.Module):
    """The backbone output that makes TwoHead(parametrization) return the oracle's heads."""

    def __init__(self, oracle, parametrization):
        super().__init__()
        self.oracle, self.param = oracle, parametrization
        self.calls = []

    def forward(self, t, x):
        x1, s = self.oracle(t, x)
        tt = t[:, None]
        if self.param == "x1":
            a, b = x1, s
        elif self.param == "skip":
            a, b = (x1 - x) / (1 - tt), s
        else:
            b = -2 * (1 - tt).sqrt() * s / SIGMA
            a = (x1 - x + SIGMA * tt * (1 - tt).sqrt() * b) / (1 - tt)
        self.calls.append((a, b))
        return torch.cat([a, b], 1)


@pytest.mark.parametrize("param", ["x1", "skip", "velocity"])
def test_every_parametrization_represents_the_exact_heads(param):
    oracle = GaussianHeads(MEAN, COV, SIGMA)
    net = TwoHead(Inverted(oracle, param), parametrization=param, sigma=SIGMA)
    torch.manual_seed(0)
    t, x = torch.rand(64) * 0.98 + 0.01, torch.randn(64, 2) * 2
    x1, s = net(t, x)
    ex1, es = oracle(t, x)
    assert torch.allclose(x1, ex1, atol=1e-4) and torch.allclose(s, es, atol=1e-4)


def test_velocity_outputs_stay_bounded_near_t1_and_give_the_pf_field():
    # data on a line (variance 1e-10 across it), as images lie near a manifold: there the
    # exact score grows like 1/√(1 - t) at typical x_t, the network outputs D and G do not
    cov = torch.tensor([[0.5, 0.0], [0.0, 1e-10]], dtype=torch.float64)
    oracle = GaussianHeads(MEAN.double(), cov, SIGMA)
    inv = Inverted(oracle, "velocity")
    net = TwoHead(inv, parametrization="velocity", sigma=SIGMA)
    path = IDFFPath(SIGMA)
    gen = torch.Generator().manual_seed(1)
    sizes = {}
    for t in (0.9, 0.999, 0.99999):
        tt = torch.full((512,), t, dtype=torch.float64)
        x1 = MEAN.double() + torch.randn(512, 2, generator=gen, dtype=torch.float64) @ cov.sqrt()
        x0 = torch.randn(512, 2, generator=gen, dtype=torch.float64)
        x = path.sample(x0, x1, tt, torch.randn(512, 2, generator=gen, dtype=torch.float64)).xt
        _, s = net(tt, x)
        d, g = inv.calls[-1]
        sizes[t] = (s.abs().mean().item(), d.abs().mean().item(), g.abs().mean().item())
        # the exact pf field v* = (x̂1 - x)/(1 - t) - ŝ equals D + σ(1 - 2t)/(2√(1 - t))·G
        v = IDFFField(net, sigma=SIGMA).drift(tt, x)
        expected = d + SIGMA * (1 - 2 * t) / (2 * (1 - t) ** 0.5) * g
        assert torch.allclose(v, expected, rtol=1e-6, atol=1e-6)
    assert sizes[0.99999][0] > 30 * sizes[0.9][0]  # ŝ: √(0.1 / 1e-5) = 100×
    assert sizes[0.99999][1] < 2 * sizes[0.9][1] and sizes[0.99999][2] < 2 * sizes[0.9][2]


def test_velocity_needs_sigma_and_builds_from_a_config():
    with pytest.raises(ValueError, match="needs the path's sigma"):
        TwoHead(nn.Identity(), parametrization="velocity")
    m = build_model({"backbone": "mlp", "method": "idff", "dim": 2, "hidden": 8, "depth": 1,
                     "parametrization": "velocity", "sigma": 0.2})
    assert m.sigma == 0.2 and m.parametrization == "velocity"
    x1, s = m(torch.full((3,), 0.5), torch.randn(3, 2))
    assert x1.shape == s.shape == (3, 2)


def test_toy_config_passes_sigma_to_the_velocity_heads():
    from idff.toy.config import toy_run_config

    cfg = toy_run_config("idff", "moons", parametrization="velocity", objective={"sigma": 0.4})
    assert cfg["model"]["sigma"] == 0.4 == cfg["objective"]["sigma"]


def test_score_free_fields_match_the_gaussian_closed_forms():
    # 'velocity' is E[x1 - x0 | x] (x̂1 minus E[x0 | x] from the exact ε posterior), which
    # the bounded heads output as D; 'x1' is the trained x̂1 as the data prediction
    oracle = GaussianHeads(MEAN, COV, SIGMA)
    inv = Inverted(oracle, "velocity")
    net = TwoHead(inv, parametrization="velocity", sigma=SIGMA)
    path = IDFFPath(SIGMA)
    torch.manual_seed(0)
    t, x = torch.rand(64) * 0.98 + 0.01, torch.randn(64, 2) * 2
    x1_hat, s = oracle(t, x)
    tt = t[:, None]
    x0_hat = (x - tt * x1_hat - path.sigma_t(tt) * oracle.eps_posterior_mean(t, x)) / (1 - tt)
    v = IDFFField(net, kind="velocity", sigma=SIGMA).drift(t, x)
    assert torch.allclose(v, x1_hat - x0_hat, atol=1e-4)
    assert torch.allclose(v, inv.calls[-1][0], atol=1e-4)  # the network's D output
    flow = IDFFField(oracle, kind="x1", sigma=SIGMA).drift(t, x)
    assert torch.allclose(flow, (x1_hat - x) / (1 - tt), atol=1e-5)
    pf = IDFFField(oracle, sigma=SIGMA).drift(t, x)
    assert torch.allclose(pf, flow - s, atol=1e-5)  # x1 is pf without its score term
    half = torch.full((4,), 0.5)
    assert torch.allclose(IDFFField(oracle, kind="velocity", sigma=SIGMA).drift(half, x[:4]),
                          IDFFField(oracle, sigma=SIGMA).drift(half, x[:4]), atol=1e-5)
    with pytest.raises(ValueError, match="ODE without noise"):
        IDFFField(oracle, kind="x1", sigma=SIGMA, gamma=1.0)
