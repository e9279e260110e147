"""ODE likelihood: closed-form Gaussian flows (IDFF pf and CFM), Hutchinson vs exact, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from idff.analytic import GaussianHeads
from idff.eval.likelihood import (
    bits_per_dim,
    divergence_exact,
    divergence_hutchinson,
    log_likelihood,
    standard_normal_logpdf,
)
from idff.fields import CFMField, IDFFField
from idff.path import IDFFPath

MU = torch.tensor([1.5, -0.5], dtype=torch.float64)
COV = torch.tensor([[0.5, 0.15], [0.15, 0.3]], dtype=torch.float64)


def idff_marginal(t: float, sigma: float) -> torch.distributions.MultivariateNormal:
    """x_t of the IDFF path with x0 ~ N(0, I), x1 ~ N(MU, COV) independent."""
    var = (1 - t) ** 2 + IDFFPath(sigma).sigma_t(torch.tensor(t, dtype=torch.float64)) ** 2
    return torch.distributions.MultivariateNormal(t * MU, t**2 * COV + var * torch.eye(2))


class GaussianCFMVelocity(nn.Module):
    """Exact marginal velocity of x_t = t x1 + (1 - t) x0, x1 ~ N(μ, diag(s²)), x0 ~ N(0, I).

    Per dimension ``v_t = t² s² + (1 - t)²`` and ``u(t, x) = μ + v_t'/(2 v_t) (x - tμ)``.
    """

    def __init__(self, mu, s2):
        super().__init__()
        self.mu, self.s2 = mu, s2

    def forward(self, t, x):
        t = t.reshape(-1, 1).to(x)
        v = t**2 * self.s2 + (1 - t) ** 2
        dv = 2 * t * self.s2 - 2 * (1 - t)
        return self.mu + dv / (2 * v) * (x - t * self.mu)


def test_idff_pf_likelihood_matches_closed_form():
    sigma, t_end = 0.2, 1e-3
    field = IDFFField(GaussianHeads(MU, COV, sigma), kind="pf", sigma=sigma)
    g = torch.Generator().manual_seed(0)
    x = MU + torch.randn(6, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(COV).T
    res = log_likelihood(field, x, estimator="exact", t_end=t_end, atol=1e-7, rtol=1e-7)
    ref = idff_marginal(1 - t_end, sigma).log_prob(x)
    torch.testing.assert_close(res.logp, ref, atol=1e-4, rtol=0)
    assert res.t_start == pytest.approx(1 - t_end) and res.estimator == "exact"
    assert res.nfe > 0
    torch.testing.assert_close(res.nll, -res.logp)
    torch.testing.assert_close(res.bpd, res.nll / (2 * math.log(2)))


def test_cfm_gaussian_flow_likelihood_matches_closed_form():
    mu, s2 = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64), torch.tensor([0.25, 1.5, 0.7],
                                                                                dtype=torch.float64)
    field = CFMField(GaussianCFMVelocity(mu, s2))
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2
    res = log_likelihood(field, x, atol=1e-8, rtol=1e-8)
    ref = torch.distributions.Normal(mu, s2.sqrt()).log_prob(x).sum(1)
    torch.testing.assert_close(res.logp, ref, atol=1e-5, rtol=0)
    assert res.t_start == 1.0  # CFM fields are regular at t = 1
    # a wrong model scores the same data worse
    worse = log_likelihood(CFMField(GaussianCFMVelocity(mu + 1, s2)), x).logp
    assert (worse < res.logp).float().mean() > 0.5


def test_hutchinson_is_exact_for_diagonal_jacobians_and_unbiased_otherwise():
    d = 6
    g = torch.Generator().manual_seed(0)
    diag = torch.randn(d, generator=g, dtype=torch.float64)
    x = torch.randn(4, d, generator=g, dtype=torch.float64)
    probe = torch.randint(0, 2, x.shape, generator=g).double() * 2 - 1
    fn = lambda z: z * diag + torch.sin(z)  # Jacobian diag(diag + cos z)
    _, div_h = divergence_hutchinson(fn, x, probe)
    v, div_e = divergence_exact(fn, x)
    torch.testing.assert_close(div_e, (diag + torch.cos(x)).sum(1))
    torch.testing.assert_close(div_h, div_e)  # Rademacher: exact for diagonal Jacobians
    torch.testing.assert_close(v, fn(x))
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    lin = lambda z: z @ a.T
    xs = torch.randn(20_000, d, generator=g, dtype=torch.float64)
    for kind in ("rademacher", "gaussian"):
        p = (torch.randint(0, 2, xs.shape, generator=g).double() * 2 - 1 if kind == "rademacher"
             else torch.randn(xs.shape, generator=g, dtype=torch.float64))
        _, est = divergence_hutchinson(lin, xs, p)
        se = est.std() / math.sqrt(xs.shape[0])
        assert abs(est.mean() - torch.trace(a)) < 4 * se
    _, ex = divergence_exact(lin, xs[:3])
    torch.testing.assert_close(ex, torch.trace(a).expand(3))


def test_hutchinson_likelihood_is_unbiased_for_the_idff_flow():
    sigma = 0.2
    field = IDFFField(GaussianHeads(MU, COV, sigma), kind="pf", sigma=sigma)
    x = (MU + torch.tensor([[0.3, -0.2]], dtype=torch.float64)).repeat(400, 1)
    exact = log_likelihood(field, x[:1], estimator="exact").logp
    hut = log_likelihood(field, x, estimator="hutchinson",
                         generator=torch.Generator().manual_seed(0)).logp
    assert hut.std() > 0  # the probes do vary
    assert abs(hut.mean() - exact) < 4 * hut.std() / 20


def test_auto_estimator_and_bits_per_dim():
    ones = torch.ones(20, dtype=torch.float64)
    field = CFMField(GaussianCFMVelocity(0 * ones, ones))
    x = torch.randn(3, 20, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    res = log_likelihood(field, x, generator=torch.Generator().manual_seed(0), atol=1e-8,
                         rtol=1e-8)
    assert res.estimator == "hutchinson"
    # a flow from N(0, I) to N(0, I) whose Jacobian is c(t)·I: Rademacher probes are exact
    torch.testing.assert_close(res.logp, standard_normal_logpdf(x), atol=1e-5, rtol=0)
    nll = torch.tensor([20 * math.log(2)])
    assert bits_per_dim(nll, 20).item() == pytest.approx(1.0)
    assert bits_per_dim(nll, 20, levels=256).item() == pytest.approx(1.0 + 7.0)
    assert bits_per_dim(nll, 20, levels=256, value_range=(0, 1)).item() == pytest.approx(9.0)


def test_likelihood_errors():
    heads = GaussianHeads(MU, COV, 0.2)
    with pytest.raises(ValueError, match="ODE sampling only"):
        log_likelihood(IDFFField(heads, kind="pf", sigma=0.2, gamma=0.5), MU[None])
    with pytest.raises(ValueError, match="ODE sampling only"):
        log_likelihood(IDFFField(heads, kind="published", s=0.2, sde=True), MU[None])
    field = IDFFField(heads, kind="pf", sigma=0.2)
    with pytest.raises(ValueError, match="unknown estimator"):
        log_likelihood(field, MU[None], estimator="skilling")
    with pytest.raises(ValueError, match="step_size"):
        log_likelihood(field, MU[None], solver="rk4")
    with pytest.raises(ValueError, match="NaN"):
        log_likelihood(field, torch.full((1, 2), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="probe shape"):
        divergence_hutchinson(lambda z: z, torch.zeros(2, 3), torch.zeros(2, 2))
    # the published field with s = 0 is an ODE and is accepted
    ok = log_likelihood(IDFFField(heads, kind="published", s=0.0), MU[None], solver="rk4",
                        step_size=0.05)
    assert torch.isfinite(ok.logp).all()
