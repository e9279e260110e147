import math

import pytest
import torch

from idff.coupling import couple, transport_cost
from idff.path import CFMPath, IDFFPath

SHAPES = [(64, 3), (16, 2, 5, 5), (32, 7, 4)]


@pytest.mark.parametrize("shape", SHAPES)
def test_idff_path_moments(shape):
    torch.manual_seed(0)
    path = IDFFPath(sigma=0.3)
    x0, x1 = torch.randn(shape), torch.randn(shape)
    t = torch.rand(shape[0])
    reps = 4000
    xs = torch.stack([path.sample(x0, x1, t).xt for _ in range(reps)])
    tt = t.reshape(-1, *[1] * (len(shape) - 1))
    mean = tt * x1 + (1 - tt) * x0
    std = 0.3 * torch.sqrt(tt * (1 - tt))
    assert xs.shape == (reps, *shape)
    assert torch.allclose(xs.mean(0), mean, atol=4 * 0.15 / math.sqrt(reps) + 1e-6)
    assert torch.allclose(xs.std(0), std.expand(shape), rtol=0.1, atol=1e-6)


def test_sigma_t_closed_form_and_lambda():
    path = IDFFPath(sigma=0.2)
    t = torch.tensor([0.0, 0.25, 0.5, 1.0])
    assert torch.allclose(path.sigma_t(t), 0.2 * torch.tensor([0.0, math.sqrt(3) / 4, 0.5, 0.0]))
    assert torch.allclose(path.lambda_t(t), 2 * path.sigma_t(t) / 0.04)
    # the cancellation that makes the probability flow sigma-free (docs/METHOD.md, "Fields")
    tt = torch.tensor([0.1, 0.3, 0.7, 0.9])
    factor = (path.sigma_t(tt) / (1 - tt) + path.dsigma_t(tt)) * path.lambda_t(tt)
    assert torch.allclose(factor, torch.ones(4))


def test_endpoints_and_cfm_target():
    x0, x1 = torch.randn(8, 2), torch.randn(8, 2)
    p = IDFFPath(0.2)
    assert torch.allclose(p.sample(x0, x1, torch.zeros(8)).xt, x0)
    assert torch.allclose(p.sample(x0, x1, torch.ones(8)).xt, x1)
    c = CFMPath(0.0)
    ps = c.sample(x0, x1, torch.full((8,), 0.5))
    assert torch.allclose(ps.xt, 0.5 * (x0 + x1))
    assert torch.allclose(CFMPath.target(ps), x1 - x0)


@pytest.mark.parametrize("shape", SHAPES)
def test_ot_coupling_lowers_cost(shape):
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(shape, generator=g)
    x1 = torch.randn(shape, generator=g) + 1.0
    a0, a1 = couple(x0, x1, "ot", generator=g)
    assert a0.shape == x0.shape and a1.shape == x1.shape
    cost = transport_cost(a0, a1)
    assert cost < transport_cost(x0, x1)
    # exact OT: no random re-pairing does better
    for _ in range(50):
        perm = torch.randperm(shape[0], generator=g)
        assert cost <= transport_cost(x0, x1[perm]) + 1e-5
    i0, i1 = couple(x0, x1, "independent")
    assert i0 is x0 and i1 is x1


def test_ot_coupling_is_a_permutation_for_equal_batches():
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(32, 2, generator=g), torch.randn(32, 2, generator=g)
    a, b = couple(x0, x1, "ot", generator=g)
    # targets keep their order (conditioning stays aligned); sources are a permutation
    assert torch.equal(b, x1)
    assert len({tuple(r.tolist()) for r in a}) == 32


def test_bad_pairs_have_clear_errors():
    p = IDFFPath(0.2)
    with pytest.raises(ValueError, match="same shape"):
        p.sample(torch.randn(4, 2), torch.randn(4, 3), torch.rand(4))
    with pytest.raises(TypeError, match="cast both"):
        p.sample(torch.randn(4, 2).double(), torch.randn(4, 2), torch.rand(4))
    bad = torch.randn(4, 2)
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        p.sample(bad, torch.randn(4, 2), torch.rand(4))
    with pytest.raises(ValueError, match="one time per sample"):
        p.sample(torch.randn(4, 2), torch.randn(4, 2), torch.rand(3))
    with pytest.raises(ValueError, match="unknown coupling"):
        couple(torch.randn(4, 2), torch.randn(4, 2), "sinkhorn")
    with pytest.raises(ValueError, match="sigma must be > 0"):
        IDFFPath(0.0)
