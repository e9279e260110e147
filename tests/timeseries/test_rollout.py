"""Rollout: shapes, NFE accounting, closed-form drift, conditioning and ensembles."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from idff.sampling import SamplingConfig
from idff.timeseries.rollout import repeat_members, rollout, split_members


class ConstantStep(nn.Module):
    """Two heads with ``x̂1 = x + (1 - t)·(c + cond)`` and ``ŝ = 0``: the ``pf`` ODE moves
    every state by exactly ``c + cond`` per lead (Euler is exact for a frozen endpoint)."""

    def __init__(self, c: float):
        super().__init__()
        self.c = c

    def forward(self, t, x, cond=None):
        shift = self.c if cond is None else self.c + cond
        tt = t.reshape(-1, *([1] * (x.dim() - 1)))
        return x + (1 - tt) * shift, torch.zeros_like(x)


@pytest.mark.parametrize("shape", [(3, 2), (3, 1, 4, 5), (3, 6, 2)])
@pytest.mark.parametrize("solver,steps,nfe", [("euler", 3, 3), ("midpoint", 2, 4), ("heun", 2, 3)])
def test_rollout_shapes_nfe_and_closed_form(shape, solver, steps, nfe):
    x0 = torch.randn(shape)
    sampling = SamplingConfig(nfe=nfe, solver=solver, gamma=0.0)
    assert sampling.steps() == steps
    traj, nfe_per_step = rollout(ConstantStep(0.5), x0, horizon=4, sampling=sampling, members=2)
    assert traj.shape == (5, 2 * shape[0], *shape[1:])
    assert nfe_per_step == [nfe] * 4
    ens = split_members(traj, 2, dim=1)
    for k in range(5):
        torch.testing.assert_close(ens[k, 1], x0 + 0.5 * k)
        torch.testing.assert_close(ens[k, 0], x0 + 0.5 * k)


def test_rollout_conditioning_sees_lead_and_history():
    seen = []

    def make_cond(k, history):
        seen.append((k, len(history)))
        return torch.full_like(history[-1], float(k))

    x0 = torch.zeros(2, 3)
    traj, _ = rollout(ConstantStep(0.0), x0, horizon=3, make_cond=make_cond,
                      sampling=SamplingConfig(nfe=1, solver="euler"))
    assert seen == [(1, 1), (2, 2), (3, 3)]
    # lead k adds k: cumulative sums 1, 3, 6
    torch.testing.assert_close(traj[:, 0, 0], torch.tensor([0.0, 1.0, 3.0, 6.0]))


def test_rollout_sde_members_differ_and_are_seeded():
    x0 = torch.zeros(4, 3)
    kw = dict(horizon=2, sampling=SamplingConfig(nfe=4, solver="euler", gamma=1.0, sigma=0.2),
              members=5)
    a = rollout(ConstantStep(0.0), x0, generator=torch.Generator().manual_seed(1), **kw)
    b = rollout(ConstantStep(0.0), x0, generator=torch.Generator().manual_seed(1), **kw)
    torch.testing.assert_close(a.trajectory, b.trajectory)
    ens = split_members(a.trajectory[-1], 5)
    assert ens.std(0).min() > 0
    torch.testing.assert_close(a.trajectory[0], repeat_members(x0, 5))


def test_rollout_source_and_perturb():
    x0 = torch.ones(2, 3)
    ode = SamplingConfig(nfe=1, solver="euler")
    res = rollout(ConstantStep(0.0), x0, horizon=1, sampling=ode,
                  source=lambda x, g: torch.zeros_like(x))
    torch.testing.assert_close(res.trajectory[1], torch.zeros(2, 3))
    res = rollout(ConstantStep(0.0), x0, horizon=1, sampling=ode,
                  perturb=lambda x, g: x + 1)
    torch.testing.assert_close(res.trajectory[1], torch.full((2, 3), 2.0))


def test_rollout_cfm_method_uses_velocity():
    net = lambda t, x, cond=None: torch.full_like(x, 2.0)  # noqa: E731
    wrapped = nn.Module()
    wrapped.forward = net
    res = rollout(wrapped, torch.zeros(1, 2), horizon=2,
                  sampling=SamplingConfig(method="otcfm", nfe=3, solver="euler"))
    torch.testing.assert_close(res.trajectory[-1], torch.full((1, 2), 4.0))
    assert res.nfe_per_step == [3, 3]


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"horizon": 0}, "horizon must be an integer >= 1"),
        ({"horizon": 2, "members": 0}, "members must be an integer >= 1"),
        ({"horizon": 1, "sampling": SamplingConfig(solver="midpoint", gamma=1.0)},
         "use solver='euler'"),
        ({"horizon": 1, "perturb": lambda x, g: x, "source": lambda x, g: x}, "not both"),
    ],
)
def test_rollout_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        rollout(ConstantStep(0.0), torch.zeros(2, 3), **kw)


def test_rollout_needs_batch_axis_and_split_checks():
    with pytest.raises(ValueError, match="batch axis"):
        rollout(ConstantStep(0.0), torch.zeros(3), horizon=1)
    with pytest.raises(ValueError, match="not a multiple of members"):
        split_members(torch.zeros(5, 2), 2)
