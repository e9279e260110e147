"""SRK: ``torchsde.sdeint``'s default Itô scheme for diagonal noise (strong order 1.5), the
integrator of the published image scripts (docs/METHOD.md, "Integration")."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from idff.fields import Field
from idff.sampling.base import Solver
from idff.sampling.result import SampleResult

__all__ = ["SRK", "SRK_CALLS_PER_STEP"]

#: drift evaluations per step of torchsde's default Itô scheme for diagonal noise (SRK)
SRK_CALLS_PER_STEP = 10


class SRK(Solver):
    """Equal steps on ``[0, 1 − t_end]`` for singular fields, then the jump to ``x̂1``: 10
    drift calls per step, one shape check and the jump, all counted."""

    name, order, calls_per_step = "srk", 1, SRK_CALLS_PER_STEP
    fixed_calls, jump_calls, min_nfe = 1, 1, 12
    diffusion, on_grid = True, False
    summary = "torchsde's stochastic Runge–Kutta (10 calls per step), uniform grid only"

    def solve(self, field: Field, x0: Tensor, steps: int, generator, t_end: float,
              return_trajectory: bool, **kw: Any) -> SampleResult:
        if return_trajectory:
            raise ValueError("solver 'srk' does not record trajectories; use 'euler'.")
        if kw.get("grid", "uniform") != "uniform":
            raise ValueError("solver 'srk' runs on the uniform grid only; use grid='uniform'.")
        return _srk(field, x0, steps, generator, t_end)


def _srk(field: Field, x0: Tensor, steps: int, generator, t_end: float) -> SampleResult:
    """``torchsde.sdeint`` with its default method for an Itô SDE with diagonal noise (SRK,
    strong order 1.5), ``steps`` equal steps on ``[0, 1 − t_end]`` for singular fields, then
    the jump to ``x̂1``. Every drift call (including torchsde's initial shape check) is a
    counted network evaluation."""
    import torchsde

    shape = x0.shape
    stop = 1.0 - t_end if field.singular_at_one else 1.0

    class _SDE(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t: Tensor, y: Tensor) -> Tensor:
            tt = t.to(y.dtype).expand(y.shape[0])
            return field.drift(tt, y.view(shape)).reshape(y.shape[0], -1)

        def g(self, t: Tensor, y: Tensor) -> Tensor:
            return torch.full_like(y, field.diffusion(float(t)))

    y0 = x0.reshape(shape[0], -1)
    entropy = None if generator is None else int(
        torch.randint(0, 2**31 - 1, (1,), generator=generator).item())
    ts = torch.tensor([0.0, stop], dtype=x0.dtype, device=x0.device)
    bm = torchsde.BrownianInterval(0.0, float(ts[-1]), size=y0.shape, dtype=x0.dtype,
                                   device=x0.device, entropy=entropy,
                                   levy_area_approximation="space-time")
    x = torchsde.sdeint(_SDE(), y0, ts, bm=bm, dt=stop / steps)[-1].reshape(shape)
    if field.singular_at_one:
        x = field.endpoint(torch.full((shape[0],), stop, dtype=x.dtype, device=x.device), x)
    return SampleResult(x=x, nfe=field.nfe)
