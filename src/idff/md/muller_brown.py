"""The Müller–Brown potential: a 2-D test system with an exact stationary density.

Many independent walkers follow overdamped Langevin dynamics
``dx = -∇U(x) dt + √(2 kT) dW`` (unit friction), integrated by Euler–Maruyama in torch
and batched over walkers. The stationary density is the Boltzmann density
``p(x) ∝ exp(-U(x)/kT)``, which :func:`boltzmann_grid` evaluates on a grid, so the
statistics of walkers — and of any rollout machinery driven by the same transition
kernel (:class:`EulerMaruyamaVelocity`) — can be checked against a closed form.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["BOX", "muller_brown", "muller_brown_grad", "boltzmann_grid", "sample_boltzmann",
           "langevin", "EulerMaruyamaVelocity", "histogram"]

_A = (-200.0, -100.0, -170.0, 15.0)
_a = (-1.0, -1.0, -6.5, 0.7)
_b = (0.0, 0.0, 11.0, 0.6)
_c = (-10.0, -10.0, -6.5, 0.7)
_X0 = (1.0, 0.0, -0.5, -1.0)
_Y0 = (0.0, 0.5, 1.5, 1.0)

#: the region holding the three minima: ``(x_min, x_max, y_min, y_max)``.
BOX = (-1.5, 1.2, -0.5, 2.0)


def muller_brown(x: Tensor) -> Tensor:
    """Potential energy ``U(x)`` of points ``(..., 2)``, shape ``(...)``.

    ``U = Σ_i A_i exp(a_i (x - x0_i)² + b_i (x - x0_i)(y - y0_i) + c_i (y - y0_i)²)``
    with the standard parameters (minima ≈ -146.7, -108.2, -80.8).
    """
    px, py = x[..., 0], x[..., 1]
    u = torch.zeros_like(px)
    for A, a, b, c, x0, y0 in zip(_A, _a, _b, _c, _X0, _Y0):
        dx, dy = px - x0, py - y0
        u = u + A * torch.exp(a * dx**2 + b * dx * dy + c * dy**2)
    return u


def muller_brown_grad(x: Tensor) -> Tensor:
    """Analytic gradient ``∇U`` of points ``(..., 2)``, shape ``(..., 2)``."""
    px, py = x[..., 0], x[..., 1]
    gx, gy = torch.zeros_like(px), torch.zeros_like(py)
    for A, a, b, c, x0, y0 in zip(_A, _a, _b, _c, _X0, _Y0):
        dx, dy = px - x0, py - y0
        e = A * torch.exp(a * dx**2 + b * dx * dy + c * dy**2)
        gx = gx + e * (2 * a * dx + b * dy)
        gy = gy + e * (b * dx + 2 * c * dy)
    return torch.stack([gx, gy], dim=-1)


def _edges(bins: int) -> tuple[Tensor, Tensor]:
    x0, x1, y0, y1 = BOX
    return (torch.linspace(x0, x1, bins + 1, dtype=torch.float64),
            torch.linspace(y0, y1, bins + 1, dtype=torch.float64))


def boltzmann_grid(kT: float, bins: int = 40, sub: int = 8) -> Tensor:
    """Boltzmann probabilities of the ``bins × bins`` cells of :data:`BOX` (sums to 1).

    Each cell's mass is the mean of ``exp(-U/kT)`` over a ``sub × sub`` midpoint grid.
    """
    if kT <= 0:
        raise ValueError(f"kT must be > 0, got {kT}.")
    ex, ey = _edges(bins * sub)
    cx, cy = 0.5 * (ex[1:] + ex[:-1]), 0.5 * (ey[1:] + ey[:-1])
    pts = torch.stack(torch.meshgrid(cx, cy, indexing="ij"), dim=-1)
    logw = -muller_brown(pts) / kT
    w = torch.exp(logw - logw.max()).reshape(bins, sub, bins, sub).sum((1, 3))
    return w / w.sum()


def sample_boltzmann(n: int, kT: float, bins: int = 400,
                     generator: torch.Generator | None = None) -> Tensor:
    """``n`` points ``(n, 2)`` from the Boltzmann density restricted to :data:`BOX`
    (cells of a fine grid drawn by mass, uniform within a cell)."""
    p = boltzmann_grid(kT, bins, sub=1).reshape(-1)
    idx = torch.multinomial(p, n, replacement=True, generator=generator)
    ex, ey = _edges(bins)
    i, j = idx // bins, idx % bins
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    x = ex[i] + u[:, 0] * (ex[1] - ex[0])
    y = ey[j] + u[:, 1] * (ey[1] - ey[0])
    return torch.stack([x, y], dim=1).float()


def langevin(x: Tensor, n_steps: int, dt: float, kT: float,
             generator: torch.Generator | None = None, save_every: int = 0) -> Tensor:
    """Overdamped Langevin by Euler–Maruyama from walkers ``x`` ``(B, 2)``.

    ``x ← x - ∇U(x) dt + √(2 kT dt) ξ``. Returns the final walkers ``(B, 2)``, or with
    ``save_every > 0`` every ``save_every``-th state ``(B, n_steps // save_every + 1, 2)``
    (the start first).
    """
    if dt <= 0 or kT <= 0 or n_steps < 0:
        raise ValueError(f"need dt > 0, kT > 0 and n_steps >= 0 (got {dt}, {kT}, {n_steps}).")
    scale = (2 * kT * dt) ** 0.5
    saved = [x]
    for k in range(1, n_steps + 1):
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x = x + scale * noise - dt * muller_brown_grad(x)
        if save_every and k % save_every == 0:
            saved.append(x)
    return torch.stack(saved, dim=1) if save_every else x


class EulerMaruyamaVelocity(nn.Module):
    """The exact one-step transition kernel as a CFM "network" ``v(t, x, cond)``.

    With a CFM rollout (``method="icfm"``, ``σ = √(2 kT dt)``, one Euler step, state
    conditioning) the source is ``x_k + σ ε`` and one Euler step adds
    ``v = -∇U(x_k) dt`` (``x_k`` read from the conditioning), which is exactly one
    Euler–Maruyama step of :func:`langevin`.
    """

    def __init__(self, dt: float):
        super().__init__()
        self.dt = dt

    def forward(self, t: Tensor, x: Tensor, cond: Tensor) -> Tensor:
        return -self.dt * muller_brown_grad(cond[:, :2])


def histogram(x: Tensor, bins: int = 40) -> Tensor:
    """Normalised ``bins × bins`` histogram of points ``(N, 2)`` on :data:`BOX` (points
    outside are dropped before normalising)."""
    x0, x1, y0, y1 = BOX
    i = ((x[:, 0].double() - x0) / (x1 - x0) * bins).floor().long()
    j = ((x[:, 1].double() - y0) / (y1 - y0) * bins).floor().long()
    ok = (i >= 0) & (i < bins) & (j >= 0) & (j < bins)
    h = torch.bincount(i[ok] * bins + j[ok], minlength=bins * bins).double()
    return (h / h.sum().clamp(min=1)).reshape(bins, bins)
