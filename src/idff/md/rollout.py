"""Autoregressive rollout: each new frame is one short flow solve from the current frame.

Per step the sampler starts at the current state ``x_k`` (t = 0), conditions the network
on the current frame and its history (or on the frame index), integrates to t = 1 with a
fixed NFE and feeds the result back. For periodic features each ``(sin, cos)`` pair is
projected back onto the unit circle after every step. NFE is read off the network
counter of every solve.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from idff.md.data import build_cond
from idff.methods import make_sampling_field
from idff.sampler import integrate, steps_for_nfe

__all__ = ["RolloutConfig", "RolloutResult", "project_circle", "rollout"]


def project_circle(x: Tensor) -> Tensor:
    """Normalise each consecutive ``(sin, cos)`` pair of ``(B, 2K)`` to unit length."""
    p = x.reshape(x.shape[0], -1, 2)
    return (p / p.norm(dim=-1, keepdim=True).clamp(min=1e-6)).reshape(x.shape)


@dataclass
class RolloutConfig:
    """How each frame is sampled.

    Attributes:
        method: ``"idff"`` or a CFM method name (``"cfm"``, ``"otcfm"``, ``"icfm"``).
        nfe: network evaluations per frame.
        solver: fixed-step solver; with ``gamma > 0`` (IDFF) it must be ``"euler"``.
        gamma: IDFF ``pf`` diffusion multiplier (``γσ`` noise; 1 gives a Brownian bridge).
        sigma: the training ``σ`` (IDFF path noise / CFM path noise).
        field: IDFF field, ``"pf"`` or ``"published"``.
        s: published field noise scale.
        sde: published field diffusion on/off.
        source_noise: CFM only: start from ``x_k + σ ε`` (the CFM path at t = 0).
    """

    method: str = "idff"
    nfe: int = 4
    solver: str = "euler"
    gamma: float = 1.0
    sigma: float = 0.1
    field: str = "pf"
    s: float = 0.0
    sde: bool = False
    source_noise: bool = True


@dataclass
class RolloutResult:
    """States ``(B, n_steps + 1, D)`` (the first is the start) and NFE per frame."""

    states: Tensor
    nfe_per_frame: int


@torch.no_grad()
def rollout(
    model: nn.Module,
    window: Tensor,
    n_steps: int,
    config: RolloutConfig,
    cond: str = "state",
    start_index: int = 0,
    lag: int = 1,
    index_scale: float = 1.0,
    project: Callable[[Tensor], Tensor] | None = project_circle,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> RolloutResult:
    """Generate ``n_steps`` new frames for a batch of trajectories.

    Args:
        model: trained network ``model(t, x, cond)`` (two heads for IDFF).
        window: the last ``h + 1`` observed frames ``(B, h + 1, D)``, oldest first.
        n_steps: frames to generate (each ``lag`` frames of the data apart).
        config: sampling settings.
        cond: ``"state"`` or ``"index"`` (must match training).
        start_index: data frame index of the last observed frame (index conditioning).
        lag: frames of data per generated step (index conditioning).
        index_scale: the divisor used for the frame index in training.
        project: applied to every new state (``None`` for non-periodic data).
        generator: random generator for the sampling noise.
    """
    if window.dim() != 3:
        raise ValueError(f"window must have shape (B, history + 1, D), got {tuple(window.shape)}.")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}.")
    steps = steps_for_nfe(config.nfe, config.solver)
    model.eval()
    window = window.float().clone()
    states = [window[:, -1]]
    nfe = None
    for k in tqdm(range(n_steps), desc=f"rollout {config.method}", disable=not progress,
                  mininterval=2.0):
        x = window[:, -1]
        idx = torch.full((x.shape[0],), float(start_index + k * lag))
        c = build_cond(window, idx, cond, index_scale)
        idff = config.method == "idff"
        field = make_sampling_field(
            "idff" if idff else "icfm", model, field=config.field, sigma=config.sigma,
            gamma=config.gamma if idff else 0.0, s=config.s, sde=config.sde, cond=c,
        )
        x0 = x
        if config.method != "idff" and config.source_noise and config.sigma > 0:
            x0 = x + config.sigma * torch.randn(x.shape, generator=generator)
        res = integrate(field, x0, steps=steps, solver=config.solver, generator=generator)
        nfe = res.nfe if nfe is None else max(nfe, res.nfe)
        x_new = project(res.x) if project is not None else res.x
        if not torch.isfinite(x_new).all():
            raise FloatingPointError(
                f"the rollout diverged at step {k + 1}; try more NFE per frame or a smaller lag."
            )
        window = torch.cat([window[:, 1:], x_new[:, None]], dim=1)
        states.append(x_new)
    return RolloutResult(states=torch.stack(states, dim=1), nfe_per_frame=int(nfe))
