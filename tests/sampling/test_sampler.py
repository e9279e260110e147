"""Samplers against closed forms: with exact heads for Gaussian data (independent coupling)
the probability-flow field transports N(0, I) to the data distribution."""

import pytest
import torch
from torch import nn

from idff.analytic import GaussianHeads
from idff.fields import CFMField, IDFFField, NFECounter, idff_drift
from idff.models import MLP, TwoHead
from idff.sampler import integrate, steps_for_nfe

MEAN = torch.tensor([2.0, -1.0])
COV = torch.tensor([[0.25, 0.1], [0.1, 0.2]])
N = 40_000


def _x0(n=N, d=2, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _moments(x):
    return x.mean(0), torch.cov(x.T)


@pytest.fixture(scope="module")
def oracle():
    return GaussianHeads(MEAN, COV, sigma=0.2)


# (field kwargs, solver, steps, mean tol, cov tol) — tolerances stated here are the contract.
CASES = [
    ({"kind": "pf"}, "midpoint", 5, 0.01, 0.01),  # ODE, s = 0, NFE 10
    ({"kind": "pf", "gamma": 1.0}, "euler", 10, 0.01, 0.08),  # SDE, NFE 10
    ({"kind": "published", "s": 0.0}, "euler", 10, 0.01, 0.10),
    ({"kind": "published", "s": 0.2, "sde": True}, "euler", 10, 0.03, 0.10),
]


@pytest.mark.parametrize("kw,solver,steps,mtol,ctol", CASES)
def test_exact_heads_reproduce_gaussian_at_nfe10(oracle, kw, solver, steps, mtol, ctol):
    f = IDFFField(oracle, sigma=0.2, **kw)
    res = integrate(
        f, _x0(), steps=steps, solver=solver, generator=torch.Generator().manual_seed(3)
    )
    assert res.nfe == 10
    m, c = _moments(res.x)
    assert torch.allclose(m, MEAN.double(), atol=mtol)
    assert torch.allclose(c, COV.double(), atol=ctol)


def test_pf_is_exact_in_the_limit_and_published_is_not():
    """docs/METHOD.md, "Fields": 1-D, x1 ~ N(2, 0.5²), σ = 0.2, 400 Euler steps."""
    oracle = GaussianHeads(torch.tensor([2.0]), torch.tensor([[0.25]]), sigma=0.2)
    x0 = _x0(100_000, 1)
    x0 = (x0 - x0.mean()) / x0.std()  # remove sampling noise from the source moments
    pf = integrate(IDFFField(oracle, kind="pf", sigma=0.2), x0, steps=400).x
    assert pf.std().item() == pytest.approx(0.5, abs=0.003)
    pub = integrate(IDFFField(oracle, kind="published", s=0.0), x0, steps=400).x
    assert pub.std().item() == pytest.approx(0.470, abs=0.003)
    pub_s = integrate(IDFFField(oracle, kind="published", s=0.4), x0, steps=400).x
    assert pub_s.mean().item() == pytest.approx(1.977, abs=0.003)


def test_midpoint_beats_euler_at_equal_nfe(oracle):
    x0 = _x0(50_000)
    target = torch.linalg.det(COV.double())
    err = {}
    for solver, steps in (("euler", 4), ("midpoint", 2)):
        x = integrate(IDFFField(oracle, sigma=0.2), x0, steps=steps, solver=solver).x
        err[solver] = abs(torch.linalg.det(torch.cov(x.T)) - target)
    assert err["midpoint"] < 0.5 * err["euler"]


def test_drift_formulas():
    x, x1, s = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    t = torch.rand(5)
    tt = t[:, None]
    assert torch.allclose(idff_drift(x1, s, x, t, "pf"), (x1 - x) / (1 - tt) - s)
    assert torch.allclose(idff_drift(x1, s, x, t, "pf", gamma=2.0), (x1 - x) / (1 - tt) + 3 * s)
    v = idff_drift(x1, s, x, t, "published", s=0.4)
    ref = (
        torch.sqrt(1 - 0.16 * tt * (1 - tt)) * (x1 - x) / (1 - tt)
        + 0.4 * torch.sqrt(tt * (1 - tt)) * s
    )
    assert torch.allclose(v, ref)


class Counted(nn.Module):
    """An independent call counter, to check the sampler's NFE."""

    def __init__(self, net):
        super().__init__()
        self.net, self.n = net, 0

    def forward(self, *a):
        self.n += 1
        return self.net(*a)


@pytest.mark.parametrize(
    "solver,steps,expected",
    [
        ("euler", 7, 7),
        ("midpoint", 3, 6),
        ("heun", 4, 7),
        ("ddim", 5, 5),
        ("ddim2", 3, 6),
        ("srk", 2, 22),  # shape check + 10 drift calls per step + the final jump
        ("dopri5", None, None),
    ],
)
def test_nfe_is_counted_exactly(oracle, solver, steps, expected):
    net = Counted(oracle)
    res = integrate(IDFFField(net, sigma=0.2), _x0(100), steps=steps, solver=solver)
    assert res.nfe == net.n
    if expected is not None:
        assert res.nfe == expected
    cnet = Counted(lambda t, x: -x)
    res = integrate(
        CFMField(cnet),
        _x0(100),
        steps=steps,
        solver=solver if solver not in ("ddim", "ddim2") else "euler",
    )
    assert res.nfe == cnet.n
    if solver == "heun":
        assert res.nfe == 2 * steps  # no singularity at t = 1: Heun's last stage is evaluated


def test_steps_for_nfe():
    assert steps_for_nfe(10, "euler") == 10
    assert steps_for_nfe(10, "midpoint") == 5
    assert steps_for_nfe(9, "heun") == 5
    assert steps_for_nfe(10, "ddim2") == 5
    assert steps_for_nfe(22, "srk") == 2 and steps_for_nfe(21, "srk") == 1
    with pytest.raises(ValueError, match="nfe must be >= 1"):
        steps_for_nfe(0, "euler")


def test_adaptive_ends_with_the_endpoint_jump(oracle):
    res = integrate(
        IDFFField(oracle, sigma=0.2), _x0(20_000), solver="dopri5", return_trajectory=True
    )
    assert res.times[-1] == 1.0 and res.times[-2] < 1.0
    assert res.trajectory.shape[0] == res.times.shape[0]
    m, c = _moments(res.x)
    assert torch.allclose(m, MEAN.double(), atol=0.02)
    assert torch.allclose(c, COV.double(), atol=0.02)


@pytest.mark.parametrize("shape,split_dim", [((6, 3), 1), ((4, 2, 5, 5), 1), ((4, 7, 3), 2)])
def test_shapes_and_trajectories(shape, split_dim):
    class Conv(nn.Module):
        def forward(self, t, x):
            return torch.cat([x * 0.5, x * 0.1], dim=split_dim)

    net = TwoHead(Conv(), split_dim=split_dim)
    x0 = torch.randn(shape)
    res = integrate(IDFFField(net), x0, steps=4, solver="midpoint", return_trajectory=True)
    assert res.x.shape == shape
    assert res.trajectory.shape == (5, *shape)
    assert torch.allclose(res.trajectory[0], x0)


def test_same_seed_same_samples():
    torch.manual_seed(0)
    net = TwoHead(MLP(2, 4, hidden=16, depth=2))
    kw = dict(steps=5, solver="euler")
    f = IDFFField(net, gamma=1.0)
    a = integrate(f, _x0(50).float(), generator=torch.Generator().manual_seed(7), **kw).x
    b = integrate(f, _x0(50).float(), generator=torch.Generator().manual_seed(7), **kw).x
    c = integrate(f, _x0(50).float(), generator=torch.Generator().manual_seed(8), **kw).x
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_sampler_input(oracle):
    f = IDFFField(oracle, sigma=0.2)
    with pytest.raises(ValueError, match="steps .* must be an integer >= 1"):
        integrate(f, _x0(10), steps=0)
    with pytest.raises(ValueError, match="unknown solver"):
        integrate(f, _x0(10), solver="rk45")
    with pytest.raises(ValueError, match="use s <= 2"):
        IDFFField(oracle, kind="published", s=2.5)
    bad = _x0(10)
    bad[0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        integrate(f, bad)
    with pytest.raises(ValueError, match="has diffusion"):
        integrate(IDFFField(oracle, gamma=1.0), _x0(10), steps=3, solver="midpoint")
    with pytest.raises(ValueError, match="twice|2×"):
        TwoHead(lambda t, x: x)(torch.zeros(2), torch.randn(2, 3))


def test_counter_wraps_once(oracle):
    c = NFECounter(oracle)
    f = IDFFField(c)
    assert f.net is c


@pytest.mark.parametrize("solver,steps", [("ddim", 400), ("ddim2", 50)])
def test_ddim_solvers_converge_to_the_gaussian(oracle, solver, steps):
    res = integrate(IDFFField(oracle, sigma=0.2), _x0(), steps=steps, solver=solver)
    m, c = _moments(res.x)
    assert torch.allclose(m, MEAN.double(), atol=0.01)
    assert torch.allclose(c, COV.double(), atol=0.01)


def test_ddim2_beats_ddim_at_equal_nfe(oracle):
    err = {}
    for solver, steps in (("ddim", 10), ("ddim2", 5)):
        x = integrate(IDFFField(oracle, sigma=0.2), _x0(), steps=steps, solver=solver).x
        err[solver] = (torch.cov(x.T) - COV.double()).abs().max().item()
    assert err["ddim2"] < 0.7 * err["ddim"]


def test_stochastic_ddim_keeps_the_gaussian(oracle):
    f = IDFFField(oracle, sigma=0.2, gamma=1.0)
    g = torch.Generator
    res = integrate(f, _x0(), steps=200, solver="ddim", generator=g().manual_seed(1))
    m, c = _moments(res.x)
    assert torch.allclose(m, MEAN.double(), atol=0.01)
    assert torch.allclose(c, COV.double(), atol=0.015)
    short = integrate(f, _x0(), steps=5, solver="ddim", generator=g().manual_seed(1)).x
    again = integrate(f, _x0(), steps=5, solver="ddim", generator=g().manual_seed(1)).x
    assert torch.equal(short, again)
    det = integrate(IDFFField(oracle, sigma=0.2), _x0(), steps=5, solver="ddim").x
    assert not torch.allclose(short, det)


def test_srk_matches_fine_euler_for_the_published_sde():
    """torchsde's SRK (the published integrator) and fine Euler–Maruyama agree in law."""
    oracle = GaussianHeads(torch.tensor([2.0]), torch.tensor([[0.25]]), sigma=0.2)
    f = IDFFField(oracle, kind="published", s=0.4, sde=True)
    x0 = _x0(20_000, 1)
    srk = integrate(f, x0, steps=10, solver="srk", generator=torch.Generator().manual_seed(0))
    assert srk.nfe == 1 + 10 * 10 + 1
    fine = integrate(f, x0, steps=400, solver="euler", generator=torch.Generator().manual_seed(0))
    assert srk.x.mean().item() == pytest.approx(fine.x.mean().item(), abs=0.02)
    assert srk.x.std().item() == pytest.approx(fine.x.std().item(), abs=0.02)
