"""Integrate a :class:`~idff.fields.Field` from t = 0 to t = 1 (docs/METHOD.md, "Integration"
and "Few-step solvers").

Fixed-step solvers run on a time grid (``t_k = k/N`` by default; :mod:`idff.sampling.grids`)
through one loop, :func:`solve_on_grid`, that calls the solver's ``step``; they never
evaluate ``t = 1``. SRK and the adaptive torchdiffeq methods integrate by themselves and,
for IDFF, finish with the jump ``x ← x̂1(1 − t_end, x)``, which costs one counted
evaluation. NFE is always read off the network counter.
"""

from __future__ import annotations

import torch
from torch import Tensor

from idff.fields import Field
from idff.sampling.base import Solver, Step
from idff.sampling.registry import (
    budget_refusal,
    check_solver_params,
    effective_solver,
    grid_class,
    grid_refusal,
    solver_class,
    solver_names,
    steps_for_nfe,
    time_grid,
)
from idff.sampling.result import SampleResult

__all__ = ["integrate", "solve_on_grid"]


def solve_on_grid(field: Field, x0: Tensor, times: Tensor, solver: str | Solver,
                  generator: torch.Generator | None = None,
                  trajectory: list[Tensor] | None = None, alpha: float = 0.5,
                  floats: bool = False) -> Tensor:
    """Integrate ``field`` from ``x0`` at ``times[0] = 0`` to ``times[-1] = 1``.

    Every solver evaluates the field at ``t < 1`` only; those that take diffusion add its
    noise, the others integrate the ODE. Gradients flow to ``times`` when it requires them.

    Args:
        field: the field (its counter is not reset here).
        x0: states ``(B, ...)`` at ``t = 0``.
        times: the grid, float64 ``(N + 1,)``.
        solver: a registered solver that runs on a grid, or an instance of one.
        generator: random generator of the SDE noise.
        trajectory: if a list, the state after each step is appended to it.
        alpha: ``rk2`` only: its second call sits at ``t + α·h``.
        floats: step the uniform grid in Python floats (:class:`~idff.sampling.base.Step`).

    Returns:
        The states at ``t = 1``.
    """
    if isinstance(solver, str):
        cls = solver_class(solver)
        if not cls.on_grid:
            raise ValueError(f"solver {solver!r} does not run on a time grid; choose one of "
                             f"{', '.join(solver_names(on_grid=True))}.")
        solver = cls(**({"alpha": alpha} if cls.param == "alpha" else {}))
    n = len(times) - 1
    if floats:
        stochastic = any(field.diffusion(k * (1.0 / n)) > 0 for k in range(n))
    else:
        stochastic = any(field.diffusion(float(times[k].detach())) > 0 for k in range(n))
    if stochastic and not solver.diffusion:
        raise ValueError(
            f"solver {solver.name!r} is for ODEs but this field has diffusion; use "
            "solver='euler' (Euler–Maruyama) or set the noise (gamma / sde) to zero."
        )
    if solver.two_heads and not hasattr(field, "ddim_step"):
        raise ValueError(f"solver {solver.name!r} needs an IDFF field (two heads); use 'euler'.")
    solver.start(field, x0)
    x = x0
    for k in range(n):
        x = solver.step(field, x, Step(k, n, times, x, floats, stochastic, generator))
        if trajectory is not None:
            trajectory.append(x)
    return x


def _refuse_unused(solver: str, grid: str, nfe, steps, rho, times, atol, rtol, t_end,
                   points, alpha, return_trajectory) -> None:
    """Options this solver or grid would ignore are refused, not dropped."""
    cls = solver_class(solver)
    if alpha != 0.5 and cls.param != "alpha":
        raise ValueError(f"alpha={alpha!r} would change nothing: only the rk2 solver has a "
                         f"movable second call, and the solver is {solver!r}; use solver='rk2'.")
    if rho != 2.0 and grid != "power":
        raise ValueError(f"rho={rho!r} would change nothing: only the power grid has an "
                         f"exponent, and the grid is {grid!r}; use grid='power'.")
    if times is not None and grid != "custom":
        raise ValueError(f"times would change nothing: they are a custom grid, and the grid "
                         f"is {grid!r}; use grid='custom'.")
    if not cls.adaptive and (atol, rtol) != (1e-5, 1e-5):
        raise ValueError(f"atol/rtol would change nothing: they are the tolerances of adaptive "
                         f"solvers, and {solver!r} takes fixed steps; drop them or use "
                         "solver='dopri5'.")
    if cls.on_grid and t_end != 1e-3:
        raise ValueError(f"t_end={t_end!r} would change nothing: only adaptive solvers and "
                         f"srk stop short of t = 1, and the solver is {solver!r}.")
    if points != 50 and not (cls.adaptive and return_trajectory):
        raise ValueError(f"trajectory_points={points!r} would change nothing: it "
                         "sets how many states an adaptive solver returns with "
                         "return_trajectory=True (fixed-step solvers return every step).")
    if cls.adaptive:
        if nfe is not None:
            raise ValueError(budget_refusal(solver, f"nfe={nfe}"))
        if steps is not None or grid != "uniform":
            raise ValueError(grid_refusal(solver, grid, steps))


@torch.no_grad()
def integrate(
    field: Field,
    x0: Tensor,
    steps: int | None = None,
    solver: str = "euler",
    nfe: int | None = None,
    grid: str = "uniform",
    rho: float = 2.0,
    times: list[float] | tuple[float, ...] | None = None,
    return_trajectory: bool = False,
    generator: torch.Generator | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    t_end: float = 1e-3,
    trajectory_points: int = 50,
    alpha: float = 0.5,
) -> SampleResult:
    """Solve the ODE (or SDE, when ``field.diffusion`` is non-zero) from ``x0`` at t = 0.

    Args:
        field: the velocity field; its network counter is reset here.
        x0: initial states ``(B, ...)``.
        steps: number of steps ``N`` of a fixed-step solver (kept for older callers; the
            budget is ``nfe``). Neither given: 10 steps.
        solver: a registered solver (:mod:`idff.sampling.registry`): ``"euler"``
            (Euler–Maruyama with diffusion), ``"heun"``, ``"midpoint"``, ``"rk2"`` (second
            call at ``t + α·h``), ``"ddim"``/``"ddim2"`` (IDFF fields), ``"srk"``
            (``torchsde``'s default Itô scheme: 10 evaluations per step plus one shape check,
            counted), a multistep solver (``"ab2"``–``"ab4"``, ``"dpm2m"``, ``"dpm3m"``,
            ``"unipc2"``, ``"unipc3"``: one evaluation per step), or an adaptive torchdiffeq
            method (``"dopri5"``, ...; ODE only).
        nfe: the budget of a fixed-step solver: the most steps that spend at most ``nfe``
            counted evaluations (one evaluation turns ``midpoint``/``heun``/``rk2`` into
            Euler and ``ddim2`` into ``ddim``). Refused for adaptive solvers.
        grid, rho, times: the time grid (:func:`idff.sampling.registry.time_grid`):
            ``"uniform"``, ``"power"`` (exponent ``rho``), ``"logsnr"`` or ``"custom"``
            (``times``). A ``rho`` other than 2 without the power grid, or ``times`` without
            the custom grid, is refused (it would change nothing).
        return_trajectory: also return the states at each step (adaptive: at
            ``trajectory_points`` times).
        generator: random generator for SDE noise.
        atol, rtol: tolerances of adaptive solvers.
        t_end: adaptive solvers and ``srk`` stop at ``1 - t_end`` for singular fields.
            ``atol``, ``rtol``, ``t_end`` and ``trajectory_points`` other than their defaults
            are refused where the solver would not use them.
        alpha: ``rk2`` only: where its second call sits in each step, ``0 < α <= 1``
            (another value with another solver is refused).

    Returns:
        A :class:`~idff.sampling.result.SampleResult` with the exact NFE.
    """
    cls = solver_class(solver)
    grid_class(grid)
    if not torch.isfinite(x0).all():
        raise ValueError("x0 contains NaN or inf values; check the source samples.")
    check_solver_params("rk2", alpha=alpha)
    _refuse_unused(solver, grid, nfe, steps, rho, times, atol, rtol, t_end, trajectory_points,
                   alpha, return_trajectory)
    if cls.adaptive:
        field.reset()
        return cls().solve(field, x0, None, generator, t_end, return_trajectory, atol=atol,
                           rtol=rtol, trajectory_points=trajectory_points)
    if nfe is not None:
        if steps is not None:
            raise ValueError("give the budget as nfe or as steps, not both.")
        if isinstance(nfe, bool) or not isinstance(nfe, int) or nfe < 1:
            raise ValueError(f"nfe must be an integer >= 1, got {nfe!r}.")
        solver = effective_solver(solver, nfe)
        cls = solver_class(solver)
        steps = steps_for_nfe(nfe, solver, field.singular_at_one)
    elif steps is None:
        steps = 10 if times is None or grid != "custom" else len(times) - 1
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps (and so NFE) must be an integer >= 1, got {steps!r}.")
    field.reset()
    if not cls.on_grid:
        return cls().solve(field, x0, steps, generator, t_end, return_trajectory, grid=grid)
    grid_t = time_grid(steps, grid, rho, times)
    # the first-order and two-stage solvers step the uniform grid in Python floats, as the
    # original loop did: the stored reference samples are exact to that arithmetic
    floats = grid == "uniform" and cls.uniform_in_floats
    traj = [x0] if return_trajectory else None
    x = solve_on_grid(field, x0, grid_t, cls(**({"alpha": alpha} if cls.param == "alpha" else
                                                 {})), generator, traj, floats=floats)
    out_times = None
    if return_trajectory:
        out_times = torch.linspace(0, 1, steps + 1) if floats else grid_t.float()
    return SampleResult(x=x, nfe=field.nfe, trajectory=torch.stack(traj) if traj else None,
                        times=out_times)
