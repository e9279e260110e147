"""Learned time grids: fit the N step times of a few-call solve to a many-call teacher
(docs/METHOD.md, "Few-step solvers", learned grids).

The grid is ``t_k = Σ_{i<k} softmax(θ)_i`` (so ``0 = t_0 < … < t_N = 1`` for every θ),
started from a power grid; θ is fitted with Adam so that the N-step solve from noise ``x0``
lands where a many-call solve from the same ``x0`` lands (mean squared error), on a few
hundred noises. Gradients flow through the solver's arithmetic and the network's time input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from idff.fields import Field
from idff.sampling.grids import Learned
from idff.sampling.integrate import solve_on_grid
from idff.sampling.registry import time_grid

__all__ = ["TunedGrid", "tune_grid"]


@dataclass
class TunedGrid:
    """The fitted grid and how well it matches the teacher.

    Attributes:
        times: ``0 = t_0 < … < t_N = 1``.
        init_times: the starting grid.
        init_error, error: mean squared distance to the teacher's endpoints on held-out
            noises, with the starting and the fitted grid.
        losses: training loss per iteration.
    """

    times: list[float]
    init_times: list[float]
    init_error: float
    error: float
    losses: list[float]


def _grid_from_logits(theta: Tensor) -> Tensor:
    return Learned(theta=theta).times()


def _error(field: Field, x0: Tensor, target: Tensor, times: Tensor, solver: str) -> float:
    with torch.no_grad():
        x = solve_on_grid(field, x0, times, solver)
    return float(((x - target) ** 2).flatten(1).mean(1).mean())


def tune_grid(field: Field, x0: Tensor, teacher: Tensor, steps: int, solver: str,
              x0_held: Tensor, teacher_held: Tensor, iters: int = 60, batch: int = 32,
              lr: float = 0.05, init_rho: float = 2.0, seed: int = 0,
              echo: Callable[[str], None] | None = None) -> TunedGrid:
    """Fit the ``steps`` step times of ``solver`` (an ODE solver of
    :func:`idff.sampling.integrate.solve_on_grid`) to the teacher endpoints.

    Args:
        field: the field (no diffusion); its network's weights are left untouched.
        x0, teacher: training noises ``(M, ...)`` and the teacher's endpoints from them.
        steps: grid steps ``N``.
        x0_held, teacher_held: held-out noises and endpoints, used to report the error and
            to keep the starting grid if fitting made it worse.
        iters, batch, lr: Adam iterations, noises per iteration, learning rate.
        init_rho: the starting grid is ``power`` with this exponent.
        seed: the batch order.

    Returns:
        A :class:`TunedGrid`.
    """
    if steps < 2:
        raise ValueError(f"a grid of {steps} step has no free time to fit; give a budget with "
                         "at least two steps (e.g. --nfe 2 with a one-call-per-step solver).")
    init = time_grid(steps, "power", init_rho)
    theta = torch.log(init[1:] - init[:-1]).clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    params = list(field.net.parameters())
    saved = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    losses = []
    try:
        for it in range(iters):
            idx = torch.randperm(len(x0), generator=gen)[:batch]
            x = solve_on_grid(field, x0[idx], _grid_from_logits(theta), solver)
            loss = ((x - teacher[idx]) ** 2).flatten(1).mean(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if echo is not None and (it % 10 == 0 or it == iters - 1):
                echo(f"iter {it:4d}  loss {losses[-1]:.5g}  times "
                     f"{[round(float(v), 4) for v in _grid_from_logits(theta.detach())]}")
    finally:
        for p, r in zip(params, saved):
            p.requires_grad_(r)
    times = _grid_from_logits(theta.detach())
    init_err = _error(field, x0_held, teacher_held, init, solver)
    err = _error(field, x0_held, teacher_held, times, solver)
    if not err <= init_err or not math.isfinite(err):
        times, err = init, init_err
    return TunedGrid([float(v) for v in times], [float(v) for v in init], init_err, err, losses)
