"""Path, target, coupling and loss agree with torchcfm's reference implementation.

torchcfm uses the same conventions as this package: ``t = 0`` is the source ``x0``, ``t = 1``
the data ``x1``, and the path mean is ``t·x1 + (1 − t)·x0`` (``compute_mu_t``). Its
``sigma`` is a standard deviation, not a variance:

* ``ConditionalFlowMatcher`` / ``ExactOptimalTransportConditionalFlowMatcher``: the std is
  the constant ``sigma`` (``compute_sigma_t``), our :class:`~idff.path.CFMPath` σ;
* ``SchrodingerBridgeConditionalFlowMatcher``: the std is ``sigma·√(t(1 − t))`` (its
  docstring writes ``sqrt(t(1 − t))·sigma²``, but the code returns
  ``self.sigma * torch.sqrt(t * (1 - t))``, i.e. ``√(σ²·t(1 − t))``), which is our
  :class:`~idff.path.IDFFPath` ``σ_t`` with the same σ; its ``compute_lambda`` is
  ``2σ_t/(σ² + 1e-8)``, our ``λ_t = 2σ_t/σ²`` up to that regulariser.

torchcfm has no loss function: its training scripts use ``mean((v_θ(t, x_t) − u_t)²)``,
the loss written out below.

One difference in how pairs are drawn, by design: torchcfm's ``OTPlanSampler.sample_plan``
draws the minibatch's pairs from the plan with replacement (``replace=True`` by default),
so a batch may repeat a pair and miss another, and reorders the targets; our
:func:`~idff.coupling.couple` keeps every target in place (and with it its conditioning)
and gives it a source from its column of the plan, so between equal-size batches every
pair of the optimal permutation is used exactly once. The two agree on the plan and on the
set of pairs, which is what is compared here (torchcfm with ``replace=False``).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

cfm = pytest.importorskip("torchcfm.conditional_flow_matching")
pytest.importorskip("ot")

from torchcfm.optimal_transport import OTPlanSampler  # noqa: E402

from idff.coupling import couple  # noqa: E402
from idff.objective import CFMObjective  # noqa: E402
from idff.path import CFMPath, IDFFPath  # noqa: E402

B, D = 8, 3


def _batch(seed: int = 0, shape=(B, D)):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(shape, generator=g, dtype=torch.float64)
    x1 = torch.randn(shape, generator=g, dtype=torch.float64) + 1.5
    t = torch.rand(shape[0], generator=g, dtype=torch.float64)
    eps = torch.randn(shape, generator=g, dtype=torch.float64)
    return x0, x1, t, eps


def _separated_pairs(seed: int = 0):
    """Sources far apart and targets that are a known shuffle of them plus a small shift:
    the exact OT plan is the unique permutation sending source ``perm[j]`` to target ``j``."""
    g = torch.Generator().manual_seed(seed)
    x0 = 10.0 * torch.arange(B, dtype=torch.float64)[:, None].repeat(1, D)
    x0 = x0 + torch.randn(B, D, generator=g, dtype=torch.float64)
    perm = torch.randperm(B, generator=g)
    x1 = x0[perm] + 0.1 * torch.randn(B, D, generator=g, dtype=torch.float64)
    return x0, x1, perm


class _Net(nn.Module):
    """A fixed (seeded) velocity network ``v(t, x)``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Sequential(nn.Linear(D + 1, 16), nn.Tanh(), nn.Linear(16, D)).double()

    def forward(self, t, x):
        return self.lin(torch.cat([x, t[:, None]], dim=1))


# -- the (OT-)CFM path and target ------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("shape", [(B, D), (4, 2, 3, 3)])
def test_cfm_path_and_target_match_torchcfm(sigma, shape):
    x0, x1, t, eps = _batch(1, shape)
    ref = cfm.ExactOptimalTransportConditionalFlowMatcher(sigma=sigma)
    assert ref.compute_sigma_t(t) == sigma  # torchcfm's sigma is the (constant) std
    ps = CFMPath(sigma).sample(x0, x1, t, eps)
    xt_ref = ref.sample_xt(x0, x1, t, eps)
    torch.testing.assert_close(ps.xt, xt_ref, rtol=0, atol=1e-12)
    ut_ref = ref.compute_conditional_flow(x0, x1, t, xt_ref)
    torch.testing.assert_close(CFMPath.target(ps), ut_ref, rtol=0, atol=0)
    # the independent-coupling matcher (I-CFM) shares both
    icfm = cfm.ConditionalFlowMatcher(sigma=sigma)
    torch.testing.assert_close(icfm.sample_xt(x0, x1, t, eps), ps.xt, rtol=0, atol=1e-12)


# -- the exact OT coupling -------------------------------------------------------------


def _pairs(src: torch.Tensor, tgt: torch.Tensor, x0: torch.Tensor, x1: torch.Tensor):
    """``{(index of the source in x0, index of the target in x1)}`` of a re-paired batch."""
    i = torch.cdist(src, x0).argmin(1).tolist()
    j = torch.cdist(tgt, x1).argmin(1).tolist()
    return set(zip(i, j))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ot_coupling_matches_torchcfm_plan(seed):
    x0, x1, perm = _separated_pairs(seed)
    expected = {(int(perm[j]), j) for j in range(B)}

    sampler = OTPlanSampler(method="exact")
    plan = torch.from_numpy(sampler.get_map(x0, x1))
    support = {(int(a), int(b)) for a, b in (plan > 1e-12).nonzero().tolist()}
    assert support == expected  # torchcfm's plan: the unique optimal permutation
    torch.testing.assert_close(plan[plan > 1e-12], torch.full((B,), 1.0 / B, dtype=plan.dtype))

    y0, y1 = couple(x0, x1, "ot", generator=torch.Generator().manual_seed(seed))
    assert torch.equal(y1, x1)  # targets stay in place ...
    assert _pairs(y0, y1, x0, x1) == expected  # ... and take their sources from the plan

    r0, r1 = sampler.sample_plan(x0, x1, replace=False)  # every pair of the plan once
    assert _pairs(r0, r1, x0, x1) == expected


# -- the CFM loss of a fixed network on the same batch ---------------------------------


@pytest.mark.parametrize("coupling, sigma", [("ot", 0.0), ("ot", 0.1), ("independent", 0.2)])
def test_cfm_loss_matches_torchcfm(coupling, sigma):
    x0, x1, _ = _separated_pairs(3)
    net = _Net()
    seed = 7
    ours = CFMObjective(sigma=sigma, coupling=coupling)(
        net, x1, x0=x0, generator=torch.Generator().manual_seed(seed)).loss

    # the same draws as the objective: the coupling (it consumes the generator under "ot"),
    # then t ~ U[0, 1], then ε
    g = torch.Generator().manual_seed(seed)
    couple(x0, x1, coupling, generator=g)
    t = torch.rand(B, generator=g, dtype=x1.dtype)
    eps = torch.randn(x1.shape, generator=g, dtype=x1.dtype)

    if coupling == "ot":
        ref = cfm.ExactOptimalTransportConditionalFlowMatcher(sigma=sigma)
        r0, r1 = ref.ot_sampler.sample_plan(x0, x1, replace=False)
        # put torchcfm's pairs in target order, so pair j gets the objective's t[j], ε[j]
        order = torch.cdist(x1, r1).argmin(1)
        r0, r1 = r0[order], r1[order]
        assert torch.equal(r1, x1)
    else:
        ref = cfm.ConditionalFlowMatcher(sigma=sigma)
        r0, r1 = x0, x1
    xt = ref.sample_xt(r0, r1, t, eps)
    ut = ref.compute_conditional_flow(r0, r1, t, xt)
    theirs = torch.mean((net(t, xt) - ut) ** 2)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=0)


# -- IDFF's path and the Schrödinger-bridge matcher ------------------------------------


@pytest.mark.parametrize("sigma", [0.1, 0.2, 1.0])
def test_idff_path_matches_schrodinger_bridge_matcher(sigma):
    x0, x1, t, eps = _batch(2)
    t = torch.cat([t, torch.tensor([0.0, 0.5, 1.0], dtype=t.dtype)])
    x0, x1, eps = (torch.cat([v, v[:3]]) for v in (x0, x1, eps))
    # same σ on both sides: torchcfm's std is sigma·√(t(1 − t)), as is our σ_t
    sb = cfm.SchrodingerBridgeConditionalFlowMatcher(sigma=sigma, ot_method="exact")
    path = IDFFPath(sigma)
    torch.testing.assert_close(path.sigma_t(t), sb.compute_sigma_t(t), rtol=1e-12, atol=0)
    torch.testing.assert_close(path.sigma_t(torch.tensor(0.5)), torch.tensor(sigma / 2))
    # λ_t = 2σ_t/σ² against torchcfm's 2σ_t/(σ² + 1e-8)
    lam = path.lambda_t(t)
    torch.testing.assert_close(lam, sb.compute_lambda(t), rtol=1e-8 / sigma**2 * 1.01, atol=0)
    torch.testing.assert_close(lam[-2], torch.tensor(1.0 / sigma, dtype=lam.dtype))

    ps = path.sample(x0, x1, t, eps)
    torch.testing.assert_close(ps.xt, sb.sample_xt(x0, x1, t, eps), rtol=0, atol=1e-12)

    # the conditional velocity of the IDFF path, d/dt (t x1 + (1 − t) x0 + σ_t ε) =
    # x1 − x0 + σ_t' ε, is torchcfm's SB target (σ_t'/σ_t)(x_t − μ_t) + x1 − x0 (away from
    # t = 0, 1, where σ_t' is singular; torchcfm adds 1e-8 to 2t(1 − t))
    inner = (t > 0.02) & (t < 0.98)
    u_ours = x1 - x0 + path.dsigma_t(t)[:, None] * eps
    u_ref = sb.compute_conditional_flow(x0, x1, t, ps.xt)
    torch.testing.assert_close(u_ours[inner], u_ref[inner], rtol=1e-6, atol=1e-9)
    assert math.isclose(float(path.dsigma_t(torch.tensor(0.5))), 0.0, abs_tol=1e-15)
