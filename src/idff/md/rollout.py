"""Torsion-trajectory rollout on top of :func:`idff.timeseries.rollout.rollout`.

Each new frame is one short flow solve from the current frame (t = 0) to the next
(t = 1) with a fixed NFE, conditioned on the current frame and its history (or on the
frame index). For periodic features every ``(sin, cos)`` pair of the current state is
projected back onto the unit circle before it is used, so errors off the circle never
accumulate. NFE is read off the network counter of every solve.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from idff.md.data import build_cond
from idff.sampling import SamplingConfig
from idff.timeseries.rollout import rollout as ts_rollout

__all__ = ["FrameRollout", "project_circle", "rollout"]


def project_circle(x: Tensor) -> Tensor:
    """Normalise each consecutive ``(sin, cos)`` pair of ``(B, 2K)`` to unit length."""
    p = x.reshape(x.shape[0], -1, 2)
    return (p / p.norm(dim=-1, keepdim=True).clamp(min=1e-6)).reshape(x.shape)


@dataclass
class FrameRollout:
    """States ``(B, n_steps + 1, D)`` (the first is the start) and NFE per frame."""

    states: Tensor
    nfe_per_frame: int


def rollout(
    model: nn.Module,
    window: Tensor,
    n_steps: int,
    sampling: SamplingConfig,
    cond: str = "state",
    start_index: int = 0,
    lag: int = 1,
    index_scale: float = 1.0,
    project: Callable[[Tensor], Tensor] | None = project_circle,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> FrameRollout:
    """Generate ``n_steps`` new frames for a batch of trajectories.

    Args:
        model: trained network ``model(t, x, cond)`` (two heads for IDFF).
        window: the last ``h + 1`` observed frames ``(B, h + 1, D)``, oldest first.
        n_steps: frames to generate (each ``lag`` frames of the data apart).
        sampling: how each frame is sampled (IDFF: ``γ > 0`` needs ``"euler"``; a CFM
            network starts from ``x_k + σ ε``, the CFM path at t = 0, when ``σ > 0``).
        cond: ``"state"`` or ``"index"`` (must match training).
        start_index: data frame index of the last observed frame (index conditioning).
        lag: frames of data per generated step (index conditioning).
        index_scale: the divisor used for the frame index in training.
        project: applied to every state before it is used (``None``: non-periodic data).
        generator: random generator for the sampling noise.
        progress: show a bar over the generated frames (after two seconds).
    """
    if window.dim() != 3:
        raise ValueError(f"window must have shape (B, history + 1, D), got {tuple(window.shape)}.")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}.")
    proj = project if project is not None else (lambda x: x)
    window = window.float()
    past = [window[:, j] for j in range(window.shape[1] - 1)]
    h1 = window.shape[1]

    def make_cond(k: int, history) -> Tensor:
        frames = past + [proj(x) for x in history[-h1:]]
        w = torch.stack(frames[-h1:], dim=1)
        idx = torch.full((w.shape[0],), float(start_index + (k - 1) * lag))
        return build_cond(w, idx, cond, index_scale).to(w.device)

    idff = sampling.method == "idff"
    noisy = not idff and sampling.sigma > 0
    if not idff:
        sampling = sampling.replace(gamma=0.0)

    def source(x: Tensor, g: torch.Generator | None) -> Tensor:
        x = proj(x)
        if noisy:
            x = x + sampling.sigma * torch.randn(x.shape, generator=g, device=x.device)
        return x

    res = ts_rollout(model, window[:, -1], n_steps, make_cond, sampling=sampling,
                     generator=generator, perturb=source, progress=progress)
    states = torch.stack([proj(x) for x in res.trajectory], dim=1).cpu()
    return FrameRollout(states=states, nfe_per_frame=max(res.nfe_per_step))
