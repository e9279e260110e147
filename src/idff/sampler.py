"""Integrate a :class:`~idff.fields.Field` from t = 0 to t = 1 (spec §4c).

Fixed-step solvers use the grid ``t_k = k/N`` and never evaluate ``t = 1``: the last
step of Heun falls back to Euler when the field is singular there. Adaptive solvers
(torchdiffeq) stop at ``1 - h`` and, for IDFF, finish with the jump ``x ← x̂1(1 - h, x)``,
which costs one counted evaluation. NFE is always read off the network counter.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from idff.fields import Field

__all__ = ["SOLVERS", "ADAPTIVE", "SampleResult", "integrate", "steps_for_nfe"]

FIXED = ("euler", "heun", "midpoint", "ddim")
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
    if solver in ("euler", "ddim"):
        return nfe
    if solver == "midpoint":
        return max(nfe // 2, 1)
    if solver == "heun":
        return max((nfe + 1) // 2 if singular_at_one else nfe // 2, 1)
    raise ValueError(
        f"steps_for_nfe is for fixed-step solvers ({', '.join(FIXED)}), not {solver!r}."
    )


def _check_steps(steps: int) -> None:
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps (and so NFE) must be an integer >= 1, got {steps!r}.")


@torch.no_grad()
def integrate(
    field: Field,
    x0: Tensor,
    steps: int = 10,
    solver: str = "euler",
    return_trajectory: bool = False,
    generator: torch.Generator | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    t_end: float = 1e-3,
    trajectory_points: int = 50,
) -> SampleResult:
    """Solve the ODE (or SDE, when ``field.diffusion`` is non-zero) from ``x0`` at t = 0.

    Args:
        field: the velocity field; its network counter is reset here.
        x0: initial states ``(B, ...)``.
        steps: number of steps ``N`` of a fixed-step solver (``t_k = k/N``).
        solver: ``"euler"`` (Euler–Maruyama with diffusion), ``"heun"``, ``"midpoint"``,
            ``"ddim"`` (IDFF ``pf`` field only, see :meth:`IDFFField.ddim_step`),
            or an adaptive torchdiffeq method (``"dopri5"``, ...; ODE only).
        return_trajectory: also return the states at each step (adaptive: at
            ``trajectory_points`` times).
        generator: random generator for SDE noise.
        atol, rtol: tolerances of adaptive solvers.
        t_end: adaptive solvers stop at ``1 - t_end`` for singular fields.

    Returns:
        A :class:`SampleResult` with the exact NFE.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}.")
    if not torch.isfinite(x0).all():
        raise ValueError("x0 contains NaN or inf values; check the source samples.")
    field.reset()
    if solver in ADAPTIVE:
        return _adaptive(field, x0, solver, return_trajectory, atol, rtol, t_end, trajectory_points)
    _check_steps(steps)
    b = x0.shape[0]
    x = x0
    traj = [x0] if return_trajectory else None
    h = 1.0 / steps
    stochastic = any(field.diffusion(k * h) > 0 for k in range(steps))
    if stochastic and solver != "euler":
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
        elif solver == "ddim":
            if not hasattr(field, "ddim_step"):
                raise ValueError("solver 'ddim' needs an IDFF field (two heads); use 'euler'.")
            x_new = field.ddim_step(t, t + h, x)
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
