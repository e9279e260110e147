import re

import pytest
import torch
from torch import nn

from idff.analytic import GaussianHeads
from idff.objective import CFMObjective, IDFFObjective
from idff.path import IDFFPath

MEAN = torch.tensor([1.0, -0.5])
COV = torch.tensor([[0.5, 0.2], [0.2, 0.3]])


PROBE = torch.tensor([[0.3, -0.2], [1.5, 0.5]])


def _regressed_at_probe(sigma: float, t: float, target) -> torch.Tensor:
    """Affine least-squares fit of ``target(ps)`` on ``x_t`` (Gaussian data, exact for the
    posterior mean), evaluated at :data:`PROBE`."""
    torch.manual_seed(0)
    n = 200_000
    x1 = MEAN + torch.randn(n, 2) @ torch.linalg.cholesky(COV).T
    ps = IDFFPath(sigma).sample(torch.randn(n, 2), x1, torch.full((n,), t))
    design = torch.cat([ps.xt, torch.ones(n, 1)], 1).double()
    coef = torch.linalg.lstsq(design, target(ps).double()).solution
    return torch.cat([PROBE, torch.ones(2, 1)], 1).double() @ coef


def test_oracle_eps_posterior_matches_regression():
    """E[ε | x_t] of the closed form equals a least-squares regression on samples."""
    sigma, t = 0.5, 0.4
    oracle = GaussianHeads(MEAN, COV, sigma)
    pred = _regressed_at_probe(sigma, t, lambda ps: ps.eps)
    probe = PROBE
    exact = oracle.eps_posterior_mean(torch.full((2,), t), probe).double()
    assert torch.allclose(pred, exact, atol=0.01)
    # and the score head is -E[eps|x]/lambda_t
    _, s = oracle(torch.full((2,), t), probe)
    lam = IDFFPath(sigma).lambda_t(torch.tensor(t))
    assert torch.allclose(-lam * s.double(), exact, atol=1e-5)


class Perturbed(nn.Module):
    def __init__(self, base, dflow=0.0, dscore=0.0):
        super().__init__()
        self.base, self.dflow, self.dscore = base, dflow, dscore

    def forward(self, t, x):
        f, s = self.base(t, x)
        return f + self.dflow, s + self.dscore


@pytest.mark.parametrize("score_target", ["eps"])
def test_exact_heads_minimise_the_idff_loss(score_target):
    torch.manual_seed(0)
    oracle = GaussianHeads(MEAN, COV, 0.2)
    obj = IDFFObjective(sigma=0.2, flow_weight=2.0, score_target=score_target, t_eps=0.01)
    x1 = MEAN + torch.randn(100_000, 2) @ torch.linalg.cholesky(COV).T

    def loss(m):
        torch.manual_seed(1)
        return obj(m, x1).loss.item()

    best = loss(oracle)
    assert best < loss(Perturbed(oracle, dflow=0.05))
    assert best < loss(Perturbed(oracle, dscore=0.01))
    assert best < loss(Perturbed(oracle, dflow=-0.05, dscore=-0.01))


def test_loss_terms_and_weighting():
    obj = IDFFObjective(sigma=0.2, flow_weight=5.0)

    def model(t, x):
        return torch.zeros_like(x), torch.zeros_like(x)

    x1 = torch.randn(512, 2)
    torch.manual_seed(0)
    out = obj(model, x1)
    # zero heads: flow term = E|x1|^2 / D, score term = E|eps|^2 / D ≈ 1
    assert out.flow.item() == pytest.approx(x1.pow(2).mean().item(), rel=1e-5)
    assert out.score.item() == pytest.approx(1.0, abs=0.1)
    assert out.loss.item() == pytest.approx(5 * out.flow.item() + out.score.item(), rel=1e-5)
    w = IDFFObjective(flow_weighting="clipped", max_weight=4.0).flow_weights(
        torch.tensor([0.0, 0.5, 0.9])
    )
    assert torch.allclose(w, torch.tensor([1.0, 4.0, 4.0]) / 3.0)


def test_nonfinite_loss_is_a_clear_error():
    def nan_model(t, x):
        return torch.full_like(x, float("nan")), torch.zeros_like(x)

    with pytest.raises(FloatingPointError, match="not finite"):
        IDFFObjective()(nan_model, torch.randn(8, 2))
    with pytest.raises(FloatingPointError, match="not finite"):
        CFMObjective()(lambda t, x: torch.full_like(x, float("inf")), torch.randn(8, 2))


def test_bad_options():
    with pytest.raises(ValueError, match="score_target"):
        IDFFObjective(score_target="noise")
    with pytest.raises(ValueError, match="flow_weighting"):
        IDFFObjective(flow_weighting="edm")


@pytest.mark.parametrize("shape", [(8, 3), (4, 2, 6, 6), (4, 5, 3)])
def test_objectives_run_on_any_shape(shape):
    def two_head(t, x):
        return x * 0.5, x * 0.1

    x1 = torch.randn(shape)
    for obj in (IDFFObjective(coupling="ot"), IDFFObjective(score_target="x0")):
        out = obj(two_head, x1)
        assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    out = CFMObjective(coupling="ot")(lambda t, x: x, x1, x0=torch.randn(shape))
    assert torch.isfinite(out.loss)


def test_implied_velocity_is_the_posterior_mean_velocity():
    """D̂ = (x̂1 − x)/(1 − t) − 2t·ŝ of the exact heads equals a regression of x1 − x0 on x_t."""
    from idff.objective import implied_velocity

    sigma, t = 0.5, 0.7
    oracle = GaussianHeads(MEAN, COV, sigma)
    pred = _regressed_at_probe(sigma, t, lambda ps: ps.x1 - ps.x0)
    probe, tp = PROBE, torch.full((2,), t)
    f, s = oracle(tp, probe)
    assert torch.allclose(implied_velocity(f, s, probe, tp).double(), pred, atol=0.01)


def test_implied_velocity_is_the_velocity_heads_output():
    from idff.models.heads import TwoHead
    from idff.objective import implied_velocity

    class Fixed(nn.Module):
        def __init__(self, out):
            super().__init__()
            self.out = out

        def forward(self, t, x):
            return self.out

    torch.manual_seed(0)
    out = torch.randn(5, 4)
    heads = TwoHead(Fixed(out), parametrization="velocity", sigma=0.2)
    t, x = torch.rand(5) * 0.99, torch.randn(5, 2)
    f, s = heads(t, x)
    assert torch.allclose(implied_velocity(f, s, x, t), out[:, :2], atol=1e-4)


def test_exact_heads_minimise_the_cfm_weighted_loss():
    torch.manual_seed(0)
    oracle = GaussianHeads(MEAN, COV, 0.2)
    obj = IDFFObjective(sigma=0.2, flow_weight=2.0, flow_weighting="cfm", t_eps=0.01)
    x1 = MEAN + torch.randn(100_000, 2) @ torch.linalg.cholesky(COV).T

    def loss(m):
        torch.manual_seed(1)
        return obj(m, x1).loss.item()

    best = loss(oracle)
    assert best < loss(Perturbed(oracle, dflow=0.05))
    assert best < loss(Perturbed(oracle, dscore=0.01))


@pytest.mark.parametrize("kwargs,needle", [
    ({"coupling": "sinkhorn"}, "unknown coupling 'sinkhorn'; choose one of independent, ot"),
    ({"flow_weight": -1.0}, "flow_weight must be a finite number >= 0"),
    ({"flow_weight": float("nan")}, "flow_weight must be a finite number >= 0"),
    ({"max_weight": 5.0}, "max_weight=5.0 would change nothing"),
    ({"t_eps": 1.0}, "t_eps must be in [0, 1)"),
])
def test_idff_objective_refuses_bad_or_unused_settings(kwargs, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        IDFFObjective(sigma=0.2, **kwargs)


def test_objective_settings_that_apply_are_kept():
    obj = IDFFObjective(sigma=0.2, flow_weighting="clipped", max_weight=5.0, t_eps=0.01)
    assert (obj.max_weight, obj.t_eps) == (5.0, 0.01)
    with pytest.raises(ValueError, match="unknown coupling 'exact'"):
        CFMObjective(coupling="exact")
