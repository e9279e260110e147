"""Time grids and few-step solvers on any grid (docs/METHOD.md, "Few-step solvers").

A grid is ``0 = t_0 < t_1 < … < t_N = 1``. :func:`time_grid` builds the named ones;
:func:`solve_on_grid` integrates a :class:`~idff.fields.Field` over a grid with a fixed-step
solver. Its arithmetic is in torch, so the grid may carry gradients (the learned grids of
:mod:`idff.schedule` are fitted through it).

``rk2`` is the two-stage second-order Runge–Kutta family: its second call at ``t + α·h``
(``α = 1/2``: midpoint, ``α = 1``: Heun, ``α = 2/3``: Ralston; small ``α``: a finite-difference
second-order Taylor step).

Multistep solvers spend one network call per step:

- ``ab2``, ``ab3``, ``ab4``: Adams–Bashforth on the drift (iPNDM on a uniform grid), with
  variable steps and a lower-order start;
- ``dpm2m``, ``dpm3m``: DPM-Solver++ multistep in data-prediction form for the flow path,
  with the data prediction ``x̂1 = x + (1 − t)·drift`` (IDFF's ``x̂1 − (1 − t)·ŝ``, a CFM
  velocity's implied endpoint); the final step to ``t = 1`` extrapolates the last two
  predictions (``dD/dt = 0`` at ``t = 1``);
- ``unipc2``, ``unipc3``: UniPC (B(h) = e^h − 1) on the same data prediction: the
  ``dpm``-style predictor of order 2 or 3 and a corrector that reuses the call at the new
  point, so each interior step gains an order without spending a call; the same final step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from idff.fields import Field

__all__ = [
    "GRIDS",
    "MULTISTEP",
    "GRID_SOLVERS",
    "LOGSNR_SPAN",
    "time_grid",
    "check_times",
    "solve_on_grid",
]

GRIDS = ("uniform", "power", "logsnr", "custom")
#: multistep solvers (one call per step) and their orders
MULTISTEP = {"ab2": 2, "ab3": 3, "ab4": 4, "dpm2m": 2, "dpm3m": 3, "unipc2": 2, "unipc3": 3}
#: every solver :func:`solve_on_grid` runs
GRID_SOLVERS = ("euler", "heun", "midpoint", "rk2", "ddim", "ddim2", *MULTISTEP)
#: the ``logsnr`` grid is uniform in λ = log(t/(1 − t)) on [−L, L], rescaled to [0, 1]
LOGSNR_SPAN = 4.0

_NODES, _WEIGHTS = (torch.from_numpy(a) for a in np.polynomial.legendre.leggauss(16))


def time_grid(steps: int, grid: str = "uniform", rho: float = 2.0,
              times: Sequence[float] | None = None) -> Tensor:
    """The ``steps + 1`` times of a grid, float64, ``t_0 = 0`` and ``t_N = 1``.

    Args:
        steps: number of steps ``N >= 1``.
        grid: ``"uniform"`` (``k/N``), ``"power"`` (``(k/N)^ρ``: ρ > 1 packs steps near the
            noise), ``"logsnr"`` (uniform in ``λ = log(t/(1 − t))`` on ``[−L, L]`` with
            ``L`` = :data:`LOGSNR_SPAN`, rescaled to end at 0 and 1) or ``"custom"``
            (``times``).
        rho: the exponent of the power grid.
        times: the custom grid.

    Raises:
        ValueError: an unknown grid, a bad ``rho`` or custom times that are not a grid of
            ``steps`` steps.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"a grid needs an integer number of steps >= 1, got {steps!r}.")
    k = torch.arange(steps + 1, dtype=torch.float64) / steps
    if grid == "uniform":
        return k
    if grid == "power":
        if not (isinstance(rho, (int, float)) and math.isfinite(rho) and rho > 0):
            raise ValueError(f"the power grid needs an exponent rho > 0, got {rho!r}.")
        return k**rho
    if grid == "logsnr":
        s = torch.sigmoid(LOGSNR_SPAN * (2 * k - 1))
        t = (s - s[0]) / (s[-1] - s[0])
        t[0], t[-1] = 0.0, 1.0
        return t
    if grid == "custom":
        if times is None:
            raise ValueError("grid 'custom' needs its times (0 = t_0 < … < t_N = 1); run "
                             "'idff tune-schedule' or choose grid 'uniform' or 'power'.")
        t = check_times(times)
        if len(t) != steps + 1:
            raise ValueError(f"the custom grid has {len(t) - 1} steps but this budget takes "
                             f"{steps}; tune a grid for this NFE ('idff tune-schedule RUN "
                             "--nfe N') or choose grid 'uniform' or 'power'.")
        return t
    raise ValueError(f"unknown grid {grid!r}; choose one of {', '.join(GRIDS)}.")


def check_times(times: Sequence[float] | Tensor) -> Tensor:
    """``times`` as a float64 tensor after checking it is a grid ``0 = t_0 < … < t_N = 1``.

    Raises:
        ValueError: fewer than two times, not starting at 0 or ending at 1, or not
            strictly increasing.
    """
    try:
        t = torch.as_tensor([float(v) for v in times], dtype=torch.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"grid times must be a list of numbers, got {times!r}.") from e
    if len(t) < 2 or t[0] != 0 or t[-1] != 1:
        raise ValueError("grid times must start at 0 and end at 1 (0 = t_0 < … < t_N = 1), "
                         f"got {[round(float(v), 6) for v in t]}.")
    if not bool((t[1:] > t[:-1]).all()):
        raise ValueError("grid times must be strictly increasing, got "
                         f"{[round(float(v), 6) for v in t]}.")
    return t


# ------------------------------------------------------------------------------ solving


def _lagrange_integrals(nodes: list[Tensor], h: Tensor, exp_kernel: bool) -> list[Tensor]:
    """``w_j = ∫_0^h ℓ_j(u) k(u) du`` for the Lagrange basis ``ℓ_j`` through ``nodes``
    (``u`` measured from the current point), ``k = 1`` or ``k = e^u``; 16-point
    Gauss–Legendre, exact for the polynomial case and to rounding for ``e^u``."""
    u = 0.5 * h * (_NODES + 1)
    kern = torch.exp(u) if exp_kernel else torch.ones_like(u)
    out = []
    for j, uj in enumerate(nodes):
        basis = torch.ones_like(u)
        for i, ui in enumerate(nodes):
            if i != j:
                basis = basis * (u - ui) / (uj - ui)
        out.append(0.5 * h * (_WEIGHTS * basis * kern).sum())
    return out


def _logit(t: Tensor) -> Tensor:
    return torch.log(t) - torch.log1p(-t)


def _unipc_rhos(lams: list[Tensor], lam_new: Tensor, corrector: bool) -> tuple[Tensor, Tensor]:
    """UniPC's coefficients (B(h) = e^h − 1) for a step from ``lams[-1]`` to ``lam_new``
    in data-prediction form, docs/METHOD.md, "Few-step solvers": the ratios
    ``r_m = (λ_m − λ_n)/h`` of the older nodes and the weights ``ρ`` of the scaled
    differences ``(D_m − D_n)/r_m`` (and, for the corrector, of ``D_new − D_n`` last).
    Returns ``(r, ρ)``."""
    h = lam_new - lams[-1]
    r = torch.stack([(lm - lams[-1]) / h for lm in lams[-2::-1]]) if len(lams) > 1 else None
    p = len(lams) + (1 if corrector else 0) - 1  # unknown weights
    if p == 0:
        return r, h.new_zeros(0)
    if p == 1:  # UniP-2 and UniC-1 take ρ = 1/2, as the reference solver does
        return r, h.new_tensor([0.5])
    hh = -h
    b_h = torch.expm1(hh)
    phi = torch.expm1(hh) / hh - 1
    fact, b = 1.0, []
    for i in range(1, p + 1):
        b.append(phi * fact / b_h)
        fact *= i + 1
        phi = phi / hh - 1 / fact
    nodes = torch.cat([r, h.new_ones(1)]) if corrector else r
    mat = torch.stack([nodes**i for i in range(p)])
    return r, torch.linalg.solve(mat, torch.stack(b))


def _unipc_step(x: Tensor, tk: Tensor, tn: Tensor, hist: list[tuple[Tensor, Tensor]],
                d_new: Tensor | None) -> Tensor:
    """One UniPC step from the corrected state ``x`` at ``tk`` (the last node of ``hist``)
    to ``tn < 1``: the predictor when ``d_new`` is None, else the corrector that also uses
    the prediction ``d_new`` made at ``tn`` (docs/METHOD.md, "Few-step solvers")."""
    dtype = x.dtype
    d_n = hist[-1][1]
    if tk == 0:  # λ = −∞: exact integral in t of D, constant (predictor) or linear (corrector)
        x_new = (1 - tn).to(dtype) * x + tn.to(dtype) * d_n
        if d_new is not None:
            w = (1 / (1 - tn) + torch.log1p(-tn) - 1) / tn * (1 - tn)
            x_new = x_new + w.to(dtype) * (d_new - d_n)
        return x_new
    lam_k, lam_n = _logit(tk), _logit(tn)
    nodes = [(s, dj) for s, dj in hist if s > 0]
    r, rho = _unipc_rhos([_logit(s) for s, _ in nodes], lam_n, d_new is not None)
    h = lam_n - lam_k
    base = ((1 - tn) / (1 - tk)).to(dtype) * x - (tn * torch.expm1(-h)).to(dtype) * d_n
    diffs = [(dj - d_n) / r[i].to(dtype) for i, (_, dj) in enumerate(nodes[-2::-1])]
    if d_new is not None:
        diffs.append(d_new - d_n)
    res = sum((rho[i].to(dtype) * dv for i, dv in enumerate(diffs)), torch.zeros_like(x))
    return base + (tn * torch.expm1(-h)).neg().to(dtype) * res


def _final_jump(history: list[tuple[Tensor, Tensor]], dtype: torch.dtype) -> Tensor:
    """``x_1 = D(1)`` from the last two data predictions, with ``dD/dt = 0`` at ``t = 1``:
    ``D(t) ≈ D(1) + a·(1 − t)²`` (the last prediction itself when there is only one)."""
    tk, d = history[-1]
    if len(history) == 1:
        return d
    (tp, dp), r = history[-2], (1 - tk) ** 2
    return d + (r / ((1 - tp) ** 2 - r)).to(dtype) * (d - dp)


def solve_on_grid(field: Field, x0: Tensor, times: Tensor, solver: str,
                  generator: torch.Generator | None = None,
                  trajectory: list[Tensor] | None = None, alpha: float = 0.5) -> Tensor:
    """Integrate ``field`` from ``x0`` at ``times[0] = 0`` to ``times[-1] = 1``.

    Every solver evaluates the field at ``t < 1`` only. ``euler`` (Euler–Maruyama with
    diffusion, no noise on the last step), ``ddim`` and ``ddim2`` take diffusion; the others
    integrate the ODE. Gradients flow to ``times`` when it requires them.

    Args:
        field: the field (its counter is not reset here).
        x0: states ``(B, ...)`` at ``t = 0``.
        times: the grid, float64 ``(N + 1,)``.
        solver: one of :data:`GRID_SOLVERS`.
        generator: random generator of the SDE noise.
        trajectory: if a list, the state after each step is appended to it.
        alpha: ``rk2`` only: its second call sits at ``t + α·h`` (docs/METHOD.md,
            "Few-step solvers").

    Returns:
        The states at ``t = 1``.
    """
    if solver not in GRID_SOLVERS:
        raise ValueError(f"solver {solver!r} does not run on a time grid; choose one of "
                         f"{', '.join(GRID_SOLVERS)}.")
    n = len(times) - 1
    b, dtype = x0.shape[0], x0.dtype
    stochastic = any(field.diffusion(float(times[k].detach())) > 0 for k in range(n))
    if stochastic and solver not in ("euler", "ddim", "ddim2"):
        raise ValueError(
            f"solver {solver!r} is for ODEs but this field has diffusion; use solver='euler' "
            "(Euler–Maruyama) or set the noise (gamma / sde) to zero."
        )
    if solver in ("ddim", "ddim2") and not hasattr(field, "ddim_step"):
        raise ValueError(f"solver {solver!r} needs an IDFF field (two heads); use 'euler'.")
    order = MULTISTEP.get(solver, 0)
    history: list[tuple[Tensor, Tensor]] = []  # (time, drift or data prediction)
    x = x0
    corrected = x0  # unipc: the corrected state at the last node (x is the predicted one)
    for k in range(n):
        tk, tn = times[k], times[k + 1]
        h = tn - tk
        t = tk.to(dtype).expand(b)
        hx = h.to(dtype)
        last = k == n - 1
        if solver == "euler":
            x_new = x + hx * field.drift(t, x)
            g = field.diffusion(float(tk.detach()))
            if g > 0 and not last:
                noise = torch.randn(x.shape, generator=generator, dtype=dtype, device=x.device)
                x_new = x_new + g * hx.sqrt() * noise
        elif solver in ("ddim", "ddim2"):
            noise = None
            if stochastic and not last:
                noise = torch.randn(x.shape, generator=generator, dtype=dtype, device=x.device)
            x_new = field.ddim_step(t, tn.to(dtype).expand(b), x, noise=noise,
                                    second_order=solver == "ddim2")
        elif solver == "midpoint":
            xm = x + 0.5 * hx * field.drift(t, x)
            x_new = x + hx * field.drift((tk + 0.5 * h).to(dtype).expand(b), xm)
        elif solver == "rk2":  # the two-stage second-order family, docs/METHOD.md
            d = field.drift(t, x)
            xa = x + (alpha * hx) * d
            da = field.drift((tk + alpha * h).to(dtype).expand(b), xa)
            x_new = x + hx * ((1 - 0.5 / alpha) * d + (0.5 / alpha) * da)
        elif solver == "heun":
            d = field.drift(t, x)
            x_pred = x + hx * d
            if last and field.singular_at_one:
                x_new = x_pred
            else:
                x_new = x + 0.5 * hx * (d + field.drift(tn.to(dtype).expand(b), x_pred))
        elif solver.startswith("ab"):
            history.append((tk, field.drift(t, x)))
            nodes = history[-order:]
            w = _lagrange_integrals([s - tk for s, _ in nodes], h, exp_kernel=False)
            x_new = x + sum(wj.to(dtype) * dj for wj, (_, dj) in zip(w, nodes))
        elif solver.startswith("unipc"):  # docs/METHOD.md, "Few-step solvers"
            d = x + (1 - tk).to(dtype) * field.drift(t, x)
            if history:  # correct the state at tk with the call just made there
                corrected = _unipc_step(corrected, history[-1][0], tk, history[-order:], d)
            history.append((tk, d))
            if tn == 1:
                x_new = _final_jump(history, dtype)
            else:
                x_new = _unipc_step(corrected, tk, tn, history[-order:], None)
        else:  # dpm2m, dpm3m: docs/METHOD.md, "Few-step solvers"
            d = x + (1 - tk).to(dtype) * field.drift(t, x)
            history.append((tk, d))
            nodes = [(s, dj) for s, dj in history[-order:] if s > 0]
            if tn == 1 and len(history) > 1:
                x_new = _final_jump(history, dtype)
            elif tk == 0 or tn == 1 or len(nodes) == 1:
                x_new = x + (h / (1 - tk)).to(dtype) * (d - x)
            else:
                lam = _logit(tk)
                w = _lagrange_integrals([_logit(s) - lam for s, _ in nodes], _logit(tn) - lam,
                                        exp_kernel=True)
                scale = (1 - tn) * tk / (1 - tk)
                x_new = ((1 - tn) / (1 - tk)).to(dtype) * x + sum(
                    (scale * wj).to(dtype) * dj for wj, (_, dj) in zip(w, nodes))
        if order:
            del history[:-order]
        x = x_new
        if trajectory is not None:
            trajectory.append(x)
    return x
