"""Autoregressive rollouts of a trained flow over a forecast horizon.

A forecast starts at the last observed state ``x_0`` and, for each lead ``k = 1..K``,
integrates the sampling field from ``t = 0`` (the current state) to ``t = 1`` (the next
state) with a few solver steps, then feeds the result back:

    x_k = Φ_θ(x_{k-1}; cond_k),    k = 1, ..., K

where ``Φ_θ`` is one call of :func:`idff.sampler.integrate`. Ensembles repeat the initial
states ``members`` times; the members differ through the solver noise (SDE fields) or a
perturbed source. Nothing here depends on the state shape: ``(B, D)`` vectors (molecular
dihedrals), ``(B, C, H, W)`` fields (sea-surface temperature) and ``(B, T, D)`` windows
all roll out the same way.

Ensemble layout: member-major, row ``m·B + b`` is member ``m`` of initial state ``b``;
:func:`split_members` reshapes ``(..., M·B, ...)`` into ``(..., M, B, ...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from idff.progress import progress_bar
from idff.sampling import SamplingConfig

__all__ = ["RolloutResult", "rollout", "repeat_members", "split_members", "CondFn"]

#: ``make_cond(k, history) -> cond``: ``k`` is the lead being produced (1-based) and
#: ``history`` the states so far, ``history[0]`` the initial state and ``history[-1]`` the
#: current one, each ``(M·B, ...)``. Return ``None`` for an unconditional network.
CondFn = Callable[[int, Sequence[Tensor]], Tensor | None]

#: ``perturb(x, generator) -> x``: turns the current state into the flow's source, e.g.
#: ``x + σ ε`` for a CFM path whose t = 0 marginal is noised.
PerturbFn = Callable[[Tensor, torch.Generator | None], Tensor]


class RolloutResult(NamedTuple):
    """Output of :func:`rollout`; unpacks as ``trajectory, nfe_per_step``.

    Attributes:
        trajectory: states ``(K + 1, M·B, ...)``; index 0 is the initial state.
        nfe_per_step: counted network evaluations per sample for each of the ``K`` leads.
    """

    trajectory: Tensor
    nfe_per_step: list[int]


def repeat_members(x: Tensor, members: int) -> Tensor:
    """Repeat ``(B, ...)`` into ``(M·B, ...)``, member-major (row ``m·B + b``)."""
    if not isinstance(members, int) or members < 1:
        raise ValueError(f"members must be an integer >= 1, got {members!r}.")
    return x.repeat(members, *([1] * (x.dim() - 1)))


def split_members(x: Tensor, members: int, dim: int = 0) -> Tensor:
    """Reshape the ``M·B`` axis ``dim`` of ``x`` into ``(M, B)``."""
    n = x.shape[dim]
    if n % members:
        raise ValueError(
            f"axis {dim} has {n} rows, not a multiple of members={members}; pass the "
            "members count the rollout used."
        )
    return x.unflatten(dim, (members, n // members))


def rollout(
    model: nn.Module,
    x_init: Tensor,
    horizon: int,
    make_cond: CondFn | None = None,
    sampling: SamplingConfig | None = None,
    members: int = 1,
    generator: torch.Generator | None = None,
    perturb: PerturbFn | None = None,
    source: Callable[[Tensor, torch.Generator | None], Tensor] | None = None,
    progress: bool = False,
) -> RolloutResult:
    """Roll a trained flow forward ``horizon`` steps from ``x_init``.

    For each lead ``k`` the flow runs from the source ``x_{k-1}`` (IDFF's time-series path,
    docs/METHOD.md, "Path and coupling") with ``sampling.nfe`` network evaluations; its
    endpoint becomes ``x_k``.

    Args:
        model: the trained network ``model(t, x[, cond])`` (two heads for IDFF, a velocity
            for CFM methods); it is put in eval mode.
        x_init: last observed states ``(B, ...)``.
        horizon: number of leads ``K ≥ 1``.
        make_cond: builds each lead's conditioning (see :data:`CondFn`); ``None`` for an
            unconditional network.
        sampling: method, field, noise, solver and NFE per lead (the published runs use
            2–5 Euler steps); fields with diffusion need ``"euler"`` (Euler–Maruyama).
            Default: IDFF, ``pf`` with ``γ = 1`` (``dx = (x̂1 - x)/(1-t) dt + σ dW``, the
            ensemble's source of spread), 2 Euler steps.
        members: ensemble size ``M``; the initial states are repeated member-major.
        generator: random generator for the solver noise and ``perturb``/``source``.
        perturb: optional map from the current state to the flow's source (applied every
            lead), e.g. noising for a CFM path.
        source: optional map from the current state to a source that replaces it entirely,
            e.g. Gaussian noise for a noise-to-state conditional generator. Exclusive with
            ``perturb``.
        progress: show a bar over the leads when the rollout takes more than two seconds.

    Returns:
        :class:`RolloutResult` with the trajectory ``(K + 1, M·B, ...)`` and the NFE of
        each lead (per sample).
    """
    if sampling is None:
        sampling = SamplingConfig(solver="euler", nfe=2, gamma=1.0)
    if not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}.")
    if x_init.dim() < 2:
        raise ValueError(
            f"x_init must have a batch axis, shape (B, ...); got {tuple(x_init.shape)}. "
            "Use x[None] for a single state."
        )
    if perturb is not None and source is not None:
        raise ValueError("pass either perturb (noise the state) or source (replace it), not both.")
    model.eval()
    x = repeat_members(x_init, members)
    history = [x]
    nfe: list[int] = []
    bar = progress_bar(horizon, "rollout", unit="step", enable=progress)
    for k in range(1, horizon + 1):
        bar.update(1)
        cond = make_cond(k, history) if make_cond is not None else None
        x0 = x
        if perturb is not None:
            x0 = perturb(x, generator)
        elif source is not None:
            x0 = source(x, generator)
        res = sampling.integrate(model, x0, cond=cond, generator=generator)
        if not torch.isfinite(res.x).all():
            raise FloatingPointError(
                f"the rollout diverged at lead {k} (NaN/inf states); use a larger NFE per "
                "lead or a smaller noise scale."
            )
        x = res.x
        history.append(x)
        nfe.append(res.nfe)
    bar.close()
    return RolloutResult(trajectory=torch.stack(history), nfe_per_step=nfe)
