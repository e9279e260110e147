"""Velocity fields built from trained networks (docs/METHOD.md, "Fields" and "Baselines").

A field turns a network into the right-hand side of ``dx = drift(t, x) dt + g(t) dW``.
The network is wrapped in :class:`NFECounter`, so every field knows how many times the
network was called. The formula turning IDFF's two heads into a velocity lives only in
:func:`idff_drift`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from idff.network import as_two_heads, as_velocity, check_call_order, resolve_sigma
from idff.path import IDFFPath, expand_t

__all__ = [
    "FIELDS",
    "NFECounter",
    "Field",
    "IDFFField",
    "CFMField",
    "idff_drift",
    "IDFF_KINDS",
]

FIELDS = ("pf", "published", "x1", "velocity", "cfm")
#: IDFF field kinds (docs/METHOD.md, "Fields"); ``x1`` and ``velocity`` drop the score term
IDFF_KINDS = ("pf", "published", "x1", "velocity")


class NFECounter(nn.Module):
    """Wrap a network and count its forward calls (one call = one NFE per sample)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.calls = 0

    def forward(self, *args, **kwargs):
        self.calls += 1
        return self.net(*args, **kwargs)


def idff_drift(
    x1_hat: Tensor,
    score: Tensor,
    x: Tensor,
    t: Tensor,
    kind: str = "pf",
    gamma: float = 0.0,
    s: float = 0.0,
) -> Tensor:
    """Fuse IDFF's heads into a drift.

    ``kind="pf"`` (docs/METHOD.md, "Fields"), the probability flow of the training path and, for
    ``γ > 0``, its marginal-preserving SDE family (diffusion ``γσ``):

        drift = (x̂1 - x)/(1 - t) + (γ² - 1)·ŝ

    ``kind="published"`` (docs/METHOD.md, "Fields"), the field of the published code:

        drift = √(1 - s² t(1-t))·(x̂1 - x)/(1 - t) + s √(t(1-t))·ŝ

    Two score-free uses of the same heads, for comparison (docs/METHOD.md, "Fields"):
    ``kind="x1"`` takes the trained ``x̂1`` as the data prediction, ``drift = (x̂1 - x)/(1 - t)``
    (the pf drift without its score term); ``kind="velocity"`` is the CFM-trained velocity
    ``E[x1 - x0 | x] = (x̂1 - x)/(1 - t) - 2t·ŝ`` (``D`` of the bounded heads).

    Args:
        x1_hat, score: the heads, shape ``(B, ...)``.
        x: current state ``(B, ...)``.
        t: times ``(B,)``, strictly below 1.
    """
    tt = expand_t(t, x)
    flow = (x1_hat - x) / (1 - tt)
    if kind == "pf":
        return flow + (gamma**2 - 1) * score
    if kind == "published":
        var = tt * (1 - tt)
        return torch.sqrt(1 - s**2 * var) * flow + s * torch.sqrt(var) * score
    if kind == "x1":
        return flow
    if kind == "velocity":
        return flow - 2 * tt * score
    raise ValueError(f"unknown IDFF field {kind!r}; choose one of {', '.join(IDFF_KINDS)}.")


class Field:
    """Base class: ``drift(t, x)``, ``diffusion(t)`` and, for IDFF, ``endpoint(t, x)``."""

    #: whether the drift is singular at t = 1 (solvers then stop short and jump).
    singular_at_one = False

    def __init__(self, net: nn.Module, cond: Tensor | None = None):
        check_call_order(net.net if isinstance(net, NFECounter) else net, type(self).__name__)
        self.net = net if isinstance(net, NFECounter) else NFECounter(net)
        self.cond = cond

    @property
    def nfe(self) -> int:
        return self.net.calls

    def reset(self) -> None:
        self.net.calls = 0

    def _call(self, t: Tensor, x: Tensor):
        if self.cond is None:
            return self.net(t, x)
        return self.net(t, x, self.cond)

    def drift(self, t: Tensor, x: Tensor) -> Tensor:
        raise NotImplementedError

    def diffusion(self, t: float) -> float:
        return 0.0

    def endpoint(self, t: Tensor, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no endpoint prediction.")


class IDFFField(Field):
    """IDFF sampling field (see :func:`idff_drift`).

    Args:
        net: a two-head network ``net(t, x[, cond]) -> (x̂1, ŝ)``.
        kind: ``"pf"`` (default; exact probability flow / marginal-preserving SDE),
            ``"published"`` (the published field, for reproduction), or the score-free
            ``"x1"`` / ``"velocity"`` (see :func:`idff_drift`; ODEs, no noise).
        sigma: the training noise ``σ`` (sets the diffusion ``γσ`` of the ``pf`` family);
            ``None`` (default): the σ the network carries (``TwoHead(..., sigma=σ)``), or 0.2
            for one that carries none. A σ other than the network's is refused.
        gamma: ``pf`` only: diffusion multiplier ``γ ≥ 0`` (0 = ODE).
        s: ``published`` only: sampling noise scale ``s ≥ 0``, ``s ≤ 2``.
        sde: ``published`` only: add the published diffusion ``g(t) = s² √(t(1-t))``.
        cond: conditioning passed to every network call.
    """

    singular_at_one = True

    def __init__(
        self,
        net: nn.Module,
        kind: str = "pf",
        sigma: float | None = None,
        gamma: float = 0.0,
        s: float = 0.0,
        sde: bool = False,
        cond: Tensor | None = None,
    ):
        super().__init__(net, cond)
        sigma = resolve_sigma(sigma, self.net, "IDFFField(sigma=...)")
        if kind not in IDFF_KINDS:
            raise ValueError(f"unknown IDFF field {kind!r}; choose one of "
                             f"{', '.join(IDFF_KINDS)}.")
        if gamma < 0 or s < 0:
            raise ValueError(f"noise scales must be >= 0 (gamma={gamma}, s={s}).")
        if kind in ("x1", "velocity") and (gamma > 0 or s > 0 or sde):
            raise ValueError(f"the {kind!r} field is an ODE without noise; use kind='pf' for "
                             "gamma > 0.")
        if kind == "pf" and (s > 0 or sde):
            raise ValueError(f"s={s!r}, sde={sde!r} would change nothing: they belong to the "
                             "published field, and kind is 'pf' (its noise is gamma); use "
                             "kind='published'.")
        if kind == "published" and gamma > 0:
            raise ValueError(f"gamma={gamma!r} would change nothing: it belongs to the pf field "
                             "(the published field's noise is s, with sde=True); use kind='pf'.")
        if kind == "published" and s**2 / 4 > 1:
            raise ValueError(
                f"sampling noise s={s} makes 1 - s²·t(1-t) negative near t = 0.5, so the "
                "published field is undefined; use s <= 2 (the published runs use s = σ or 2σ)."
            )
        self.kind, self.sigma, self.gamma, self.s, self.sde = kind, sigma, gamma, s, sde

    def heads(self, t: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """The network's ``(x̂1, ŝ)`` at ``(t, x)`` (one counted evaluation)."""
        return as_two_heads(self._call(t, x), "IDFFField")

    def drift(self, t: Tensor, x: Tensor) -> Tensor:
        x1_hat, score = self.heads(t, x)
        return idff_drift(x1_hat, score, x, t, self.kind, self.gamma, self.s)

    def diffusion(self, t: float) -> float:
        if self.kind == "pf":
            return self.gamma * self.sigma
        if self.kind == "published" and self.sde:
            return self.s**2 * math.sqrt(max(t * (1 - t), 0.0))
        return 0.0

    def endpoint(self, t: Tensor, x: Tensor) -> Tensor:
        return self.heads(t, x)[0]

    def ddim_step(self, t: Tensor, t_next: Tensor, x: Tensor, noise: Tensor | None = None,
                  second_order: bool = False) -> Tensor:
        """Update that re-noises the heads' endpoint estimates at ``t_next``.

        With ``ε̂ = -λ_t ŝ`` and ``x̂0 = (x - t x̂1 - σ_t ε̂)/(1 - t)`` it returns
        ``t' x̂1 + (1 - t') x̂0 + σ_{t'} ε̂``. Its slope at ``t' = t`` is the probability
        flow ``(x̂1 - x)/(1 - t) - ŝ``, so it is a first-order solver of the ``pf`` ODE that
        is exact while the heads stay constant; it lands on ``x̂1`` at ``t' = 1``.

        ``second_order``: first take this step to the midpoint ``t_m = (t + t')/2``, call
        the heads there, and use those estimates (``x̂1``, ``ε̂`` at ``t_m``) for the step
        from ``x`` at ``t`` (two evaluations; the midpoint rule in the heads' variables).

        ``noise`` (with ``γ > 0``): the re-noised part is split into the kept fraction
        ``√(1 - η²)·ε̂`` and fresh noise ``η·noise`` with ``η = min(γσ·√(t' - t)/σ_{t'}, 1)``,
        so the fresh noise has the Euler–Maruyama size ``γσ√h`` of the SDE family (DDIM
        with stochasticity; ``γ = 0`` or ``noise=None`` is deterministic).
        """
        if self.kind != "pf":
            raise ValueError("the ddim solvers integrate the 'pf' field family.")
        path = IDFFPath(self.sigma)
        tt, tn = expand_t(t, x), expand_t(t_next, x)

        def estimates(tc: Tensor, xc: Tensor) -> tuple[Tensor, Tensor]:
            x1_hat, score = self.heads(tc, xc)
            return x1_hat, -path.lambda_t(expand_t(tc, xc)) * score

        def step(x1_hat: Tensor, eps_hat: Tensor, to: Tensor) -> Tensor:
            x0_hat = (x - tt * x1_hat - path.sigma_t(tt) * eps_hat) / (1 - tt)
            return to * x1_hat + (1 - to) * x0_hat + path.sigma_t(to) * eps_hat

        x1_hat, eps_hat = estimates(t, x)
        if second_order:
            tm = 0.5 * (t + t_next)
            x1_hat, eps_hat = estimates(tm, step(x1_hat, eps_hat, expand_t(tm, x)))
        if noise is None or self.gamma == 0:
            return step(x1_hat, eps_hat, tn)
        sig_n = path.sigma_t(tn)
        eta = self.gamma * self.sigma * (tn - tt).clamp(min=0).sqrt() / sig_n.clamp(min=1e-12)
        eta = eta.clamp(max=1)
        x0_hat = (x - tt * x1_hat - path.sigma_t(tt) * eps_hat) / (1 - tt)
        mixed = (1 - eta**2).sqrt() * eps_hat + eta * noise
        return tn * x1_hat + (1 - tn) * x0_hat + sig_n * mixed


class CFMField(Field):
    """Velocity field of a (OT-)CFM network ``net(t, x[, cond]) -> v``."""

    def drift(self, t: Tensor, x: Tensor) -> Tensor:
        return as_velocity(self._call(t, x), "CFMField")
