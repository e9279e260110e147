"""Integrate a :class:`~idff.fields.Field` from t = 0 to t = 1 (docs/METHOD.md, "Integration"
and "Few-step solvers").

Fixed-step solvers use a time grid (``t_k = k/N`` by default; :mod:`idff.solvers` for the
others and for the multistep solvers) and never evaluate ``t = 1``: the last
step of Heun falls back to Euler when the field is singular there. Adaptive solvers
(torchdiffeq) stop at ``1 - h`` and, for IDFF, finish with the jump ``x ← x̂1(1 - h, x)``,
which costs one counted evaluation. NFE is always read off the network counter.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from idff.fields import Field
from idff.solvers import GRIDS, MULTISTEP, solve_on_grid, time_grid

__all__ = ["SOLVERS", "ADAPTIVE", "SampleResult", "integrate", "steps_for_nfe",
           "effective_solver"]

FIXED = ("euler", "heun", "midpoint", "rk2", "ddim", "ddim2", "srk", *MULTISTEP)
ADAPTIVE = ("dopri5", "bosh3", "adaptive_heun", "dopri8")
SOLVERS = FIXED + ADAPTIVE


@dataclass
class SampleResult:
    """Output of :func:`integrate`.

    Attributes:
        x: final samples ``(B, ...)``.
        nfe: counted network evaluations per sample.
        trajectory: states ``(K, B, ...)`` at ``times`` when requested, else ``None``.
        times: the ``K`` times of ``trajectory``.
    """

    x: Tensor
    nfe: int
    trajectory: Tensor | None = None
    times: Tensor | None = None


def steps_for_nfe(nfe: int, solver: str, singular_at_one: bool = True) -> int:
    """Largest step count whose fixed-step solve uses at most ``nfe`` evaluations."""
    if nfe < 1:
        raise ValueError(f"nfe must be >= 1, got {nfe}.")
    if solver in ("euler", "ddim") or solver in MULTISTEP:
        return nfe
    if solver in ("midpoint", "rk2", "ddim2"):
        return max(nfe // 2, 1)
    if solver == "srk":  # one shape check, 10 drift calls per step, the final jump
        return max((nfe - 1 - int(singular_at_one)) // SRK_CALLS_PER_STEP, 1)
    if solver == "heun":
        return max((nfe + 1) // 2 if singular_at_one else nfe // 2, 1)
    raise ValueError(
        f"steps_for_nfe is for fixed-step solvers ({', '.join(FIXED)}), not {solver!r}."
    )


def effective_solver(solver: str, nfe: int | None) -> str:
    """The solver actually run: one evaluation allows only a first-order step."""
    if nfe == 1 and solver in ("midpoint", "heun", "rk2"):
        return "euler"
    if nfe == 1 and solver == "ddim2":
        return "ddim"
    return solver


#: drift evaluations per step of torchsde's default Itô scheme for diagonal noise (SRK)
SRK_CALLS_PER_STEP = 10


def _check_steps(steps: int) -> None:
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps (and so NFE) must be an integer >= 1, got {steps!r}.")


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
        solver: ``"euler"`` (Euler–Maruyama with diffusion), ``"heun"``, ``"midpoint"``,
            ``"ddim"`` (IDFF ``pf`` field only, see :meth:`IDFFField.ddim_step`),
            ``"ddim2"`` (its second-order midpoint form, two evaluations per step),
            ``"rk2"`` (the two-stage second-order family, second call at ``t + α·h``),
            ``"srk"`` (``torchsde.sdeint``'s default Itô scheme, the integrator of the
            published image scripts: 10 drift evaluations per step plus one shape check,
            counted), a multistep solver (``"ab2"``–``"ab4"``, ``"dpm2m"``, ``"dpm3m"``,
            ``"unipc2"``, ``"unipc3"``: one evaluation per step, see :mod:`idff.solvers`),
            or an adaptive torchdiffeq method (``"dopri5"``, ...; ODE only).
        nfe: the budget of a fixed-step solver: the most steps that spend at most ``nfe``
            counted evaluations (one evaluation turns ``midpoint``/``heun`` into Euler and
            ``ddim2`` into ``ddim``). Refused for adaptive solvers.
        grid, rho, times: the time grid (:func:`idff.solvers.time_grid`): ``"uniform"``,
            ``"power"`` (exponent ``rho``), ``"logsnr"`` or ``"custom"`` (``times``). A
            ``rho`` other than 2 without the power grid, or ``times`` without the custom
            grid, is refused (it would change nothing).
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
        A :class:`SampleResult` with the exact NFE.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}.")
    if grid not in GRIDS:
        raise ValueError(f"unknown grid {grid!r}; choose one of {', '.join(GRIDS)}.")
    if not torch.isfinite(x0).all():
        raise ValueError("x0 contains NaN or inf values; check the source samples.")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 1:
        raise ValueError(f"alpha (where rk2's second call sits in a step) must be in (0, 1], "
                         f"got {alpha!r}; 0.5 is the midpoint rule.")
    # options that this solver or grid would ignore are refused, not dropped
    if alpha != 0.5 and solver != "rk2":
        raise ValueError(f"alpha={alpha!r} would change nothing: only the rk2 solver has a "
                         f"movable second call, and the solver is {solver!r}; use solver='rk2'.")
    if rho != 2.0 and grid != "power":
        raise ValueError(f"rho={rho!r} would change nothing: only the power grid has an "
                         f"exponent, and the grid is {grid!r}; use grid='power'.")
    if times is not None and grid != "custom":
        raise ValueError(f"times would change nothing: they are a custom grid, and the grid "
                         f"is {grid!r}; use grid='custom'.")
    if solver not in ADAPTIVE and (atol, rtol) != (1e-5, 1e-5):
        raise ValueError(f"atol/rtol would change nothing: they are the tolerances of adaptive "
                         f"solvers, and {solver!r} takes fixed steps; drop them or use "
                         "solver='dopri5'.")
    if solver not in ADAPTIVE and solver != "srk" and t_end != 1e-3:
        raise ValueError(f"t_end={t_end!r} would change nothing: only adaptive solvers and "
                         f"srk stop short of t = 1, and the solver is {solver!r}.")
    if trajectory_points != 50 and not (solver in ADAPTIVE and return_trajectory):
        raise ValueError(f"trajectory_points={trajectory_points!r} would change nothing: it "
                         "sets how many states an adaptive solver returns with "
                         "return_trajectory=True (fixed-step solvers return every step).")
    if solver in ADAPTIVE:
        if nfe is not None or steps is not None or grid != "uniform":
            raise ValueError(f"solver {solver!r} is adaptive and chooses its own steps, so it "
                             "takes no nfe, steps or grid; drop them or choose a fixed-step "
                             "solver (e.g. 'midpoint').")
        field.reset()
        return _adaptive(field, x0, solver, return_trajectory, atol, rtol, t_end, trajectory_points)
    if nfe is not None:
        if steps is not None:
            raise ValueError("give the budget as nfe or as steps, not both.")
        if isinstance(nfe, bool) or not isinstance(nfe, int) or nfe < 1:
            raise ValueError(f"nfe must be an integer >= 1, got {nfe!r}.")
        solver = effective_solver(solver, nfe)
        steps = steps_for_nfe(nfe, solver, field.singular_at_one)
    elif steps is None:
        steps = 10 if times is None or grid != "custom" else len(times) - 1
    _check_steps(steps)
    field.reset()
    if solver == "srk":
        if return_trajectory:
            raise ValueError("solver 'srk' does not record trajectories; use 'euler'.")
        if grid != "uniform":
            raise ValueError("solver 'srk' runs on the uniform grid only; use grid='uniform'.")
        return _srk(field, x0, steps, generator, t_end)
    if grid != "uniform" or solver in MULTISTEP or solver == "rk2":
        grid_t = time_grid(steps, grid, rho, times)
        traj = [x0] if return_trajectory else None
        x = solve_on_grid(field, x0, grid_t, solver, generator, traj, alpha)
        return SampleResult(x=x, nfe=field.nfe,
                            trajectory=torch.stack(traj) if traj else None,
                            times=grid_t.float() if return_trajectory else None)
    # the uniform grid of the original solvers, kept verbatim (reference samples are exact)
    b = x0.shape[0]
    x = x0
    traj = [x0] if return_trajectory else None
    h = 1.0 / steps
    stochastic = any(field.diffusion(k * h) > 0 for k in range(steps))
    if stochastic and solver not in ("euler", "ddim", "ddim2"):
        raise ValueError(
            f"solver {solver!r} is for ODEs but this field has diffusion; use solver='euler' "
            "(Euler–Maruyama) or set the noise (gamma / sde) to zero."
        )
    for k in range(steps):
        tk = k * h
        t = torch.full((b,), tk, dtype=x.dtype, device=x.device)
        last = k == steps - 1
        if solver == "euler":
            x_new = x + h * field.drift(t, x)
            g = field.diffusion(tk)
            if g > 0 and not last:
                noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
                x_new = x_new + g * h**0.5 * noise
        elif solver in ("ddim", "ddim2"):
            if not hasattr(field, "ddim_step"):
                raise ValueError(f"solver {solver!r} needs an IDFF field (two heads); use 'euler'.")
            noise = None
            if stochastic and not last:
                noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            x_new = field.ddim_step(t, t + h, x, noise=noise, second_order=solver == "ddim2")
        elif solver == "midpoint":
            xm = x + 0.5 * h * field.drift(t, x)
            x_new = x + h * field.drift(t + 0.5 * h, xm)
        else:  # heun
            d = field.drift(t, x)
            x_pred = x + h * d
            if last and field.singular_at_one:
                x_new = x_pred
            else:
                x_new = x + 0.5 * h * (d + field.drift(t + h, x_pred))
        x = x_new
        if traj is not None:
            traj.append(x)
    times = torch.linspace(0, 1, steps + 1) if return_trajectory else None
    return SampleResult(
        x=x, nfe=field.nfe, trajectory=torch.stack(traj) if traj else None, times=times
    )


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
