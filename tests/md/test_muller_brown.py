"""Müller–Brown walkers: an exact check of Langevin sampling and of the rollout machinery."""

import pytest
import torch

from idff.md.muller_brown import (
    EulerMaruyamaVelocity,
    boltzmann_grid,
    histogram,
    langevin,
    muller_brown,
    muller_brown_grad,
    sample_boltzmann,
)
from idff.md.rollout import rollout
from idff.metrics import js_divergence
from idff.sampling import SamplingConfig

KT, DT = 20.0, 1e-4


def _js(x, p):
    return js_divergence(histogram(x, p.shape[0]).numpy(), p.numpy())


def test_minima_and_gradient():
    minima = torch.tensor([[-0.558, 1.442], [0.623, 0.028], [-0.050, 0.467]])
    torch.testing.assert_close(muller_brown(minima), torch.tensor([-146.70, -108.17, -80.77]),
                               atol=0.05, rtol=0)
    assert muller_brown_grad(minima).abs().max() < 0.5  # stationary points (to 3 decimals)
    x = torch.randn(16, 2, dtype=torch.float64, requires_grad=True)
    (auto,) = torch.autograd.grad(muller_brown(x).sum(), x)
    torch.testing.assert_close(muller_brown_grad(x.detach()), auto)


def test_boltzmann_stays_stationary():
    g = torch.Generator().manual_seed(0)
    p = boltzmann_grid(KT, 20)
    x = sample_boltzmann(4000, KT, generator=g)
    floor = _js(sample_boltzmann(4000, KT, generator=g), p)  # finite-sample JS of exact draws
    y = langevin(x, 300, DT, KT, generator=g)
    assert _js(y, p) < 2 * floor
    # the mean energy too, once the time step is small enough that Euler–Maruyama's
    # O(dt) bias (≈ 3 energy units at DT) is below the sampling error
    y = langevin(x, 1000, DT / 5, KT, generator=g)
    assert muller_brown(y).mean() == pytest.approx(muller_brown(x).mean().item(), abs=1.0)


def test_walkers_relax_to_boltzmann():
    # hot enough that the barriers (≈ 1–2 kT) are crossed within the run
    kT = 80.0
    g = torch.Generator().manual_seed(1)
    p = boltzmann_grid(kT, 12)
    floor = _js(sample_boltzmann(2000, kT, generator=g), p)
    x = torch.tensor([[-0.558, 1.442]]).repeat(2000, 1)
    traj = langevin(x, 3000, DT, kT, generator=g, save_every=1000)
    js = [_js(traj[:, k], p) for k in range(traj.shape[1])]
    assert js[0] > 10 * floor
    assert js[-1] < 3 * floor


def test_rollout_with_the_exact_kernel_is_langevin():
    x = sample_boltzmann(64, KT, generator=torch.Generator().manual_seed(2))
    ref = langevin(x, 15, DT, KT, generator=torch.Generator().manual_seed(3), save_every=1)
    s = SamplingConfig(method="icfm", sigma=(2 * KT * DT) ** 0.5, nfe=1, solver="euler")
    r = rollout(EulerMaruyamaVelocity(DT), x[:, None], 15, s, project=None,
                generator=torch.Generator().manual_seed(3))
    assert r.nfe_per_frame == 1
    torch.testing.assert_close(r.states, ref)


def test_bad_settings():
    with pytest.raises(ValueError, match="kT must be > 0"):
        boltzmann_grid(0.0)
    with pytest.raises(ValueError, match="dt > 0"):
        langevin(torch.zeros(1, 2), 1, 0.0, KT)
