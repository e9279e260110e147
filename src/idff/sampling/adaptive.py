"""Adaptive torchdiffeq methods (ODE only): they choose their own steps, stop at ``1 − t_end``
on a field singular at ``t = 1`` and finish with the counted jump ``x ← x̂1(1 − t_end, x)``
(docs/METHOD.md, "Integration")."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from idff.sampling.base import Solver
from idff.sampling.result import SampleResult

__all__ = ["Adaptive", "ADAPTIVE_METHODS", "budget_refusal", "grid_refusal"]

#: the torchdiffeq methods offered, with their orders
ADAPTIVE_METHODS = {"dopri5": 5, "bosh3": 3, "adaptive_heun": 2, "dopri8": 8}


class Adaptive(Solver):
    """One torchdiffeq method; ``of(name)`` is its registered class."""

    on_grid, adaptive, jump_calls = False, True, 1
    summary = "adaptive torchdiffeq method (chooses its own steps; ODE only)"

    @classmethod
    def of(cls, method: str) -> type[Adaptive]:
        return type(f"Adaptive_{method}", (cls,), {"name": method,
                                                   "order": ADAPTIVE_METHODS[method]})

    @classmethod
    def steps_for_nfe(cls, nfe: int, singular_at_one: bool = True) -> int:
        raise ValueError(budget_refusal(cls.name, f"nfe={nfe}"))

    @classmethod
    def nfe_for_steps(cls, steps: int, singular_at_one: bool = True) -> int:
        raise ValueError(f"nfe_for_steps is for fixed-step solvers, not {cls.name!r}.")

    def solve(self, field, x0: Tensor, steps: int | None, generator, t_end: float,
              return_trajectory: bool, atol: float = 1e-5, rtol: float = 1e-5,
              trajectory_points: int = 50, **kw: Any) -> SampleResult:
        return _adaptive(field, x0, self.name, return_trajectory, atol, rtol, t_end,
                         trajectory_points)


def budget_refusal(solver: str, asked: str, drop: str | None = None) -> str:
    """The one refusal of a budget (``asked``: ``"nfe=4"`` or ``"--nfe 4"``) given to an
    adaptive solver."""
    drop = drop or asked.split("=")[0].split(" ")[0]
    return (f"{asked} cannot be honoured: solver {solver!r} is adaptive and chooses its own "
            f"steps (the count used is reported); drop {drop} or choose a fixed-step solver "
            "(e.g. midpoint).")


def grid_refusal(solver: str, grid: str, steps: int | None = None) -> str:
    """The one refusal of a grid (or a step count) given to an adaptive solver."""
    asked = f"grid {grid!r}" if steps is None else f"steps={steps!r}"
    return (f"solver {solver!r} is adaptive and chooses its own steps: it takes no grid and no "
            f"step count, so {asked} cannot be honoured; use grid 'uniform' without steps, or "
            "a fixed-step solver (e.g. midpoint).")


def _adaptive(field, x0, solver, return_trajectory, atol, rtol, t_end, points) -> SampleResult:
    if any(field.diffusion(t) > 0 for t in (0.25, 0.5, 0.75)):
        raise ValueError(
            f"adaptive solver {solver!r} integrates ODEs only; this field has diffusion. "
            "Set the noise to zero or use solver='euler'."
        )
    from torchdiffeq import odeint

    stop = 1.0 - t_end if field.singular_at_one else 1.0
    n = points if return_trajectory else 2
    times = torch.linspace(0.0, stop, n, dtype=x0.dtype, device=x0.device)

    def rhs(t: Tensor, x: Tensor) -> Tensor:
        return field.drift(t.expand(x.shape[0]), x)

    try:
        traj = odeint(rhs, x0, times, method=solver, atol=atol, rtol=rtol)
    except AssertionError as e:  # torchdiffeq signals step-size underflow by assertion
        raise RuntimeError(
            f"adaptive solver {solver!r} stalled ({e}) after {field.nfe} evaluations: the field "
            "is too stiff near t = 1. Use a fixed-step solver, looser atol/rtol, or a larger "
            "t_end."
        ) from e
    x = traj[-1]
    if field.singular_at_one:
        t = torch.full((x.shape[0],), stop, dtype=x.dtype, device=x.device)
        x = field.endpoint(t, x)
        traj = torch.cat([traj, x[None]])
        times = torch.cat([times, times.new_ones(1)])
    return SampleResult(
        x=x,
        nfe=field.nfe,
        trajectory=traj if return_trajectory else None,
        times=times.cpu() if return_trajectory else None,
    )
