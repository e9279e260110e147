"""Exact-ODE log-likelihood of a deterministic field, in nats and bits per dimension.

For an ODE ``dx/dt = v(t, x)`` carrying the prior ``p_0 = N(0, I)`` at t = 0 to the model
at t = T (T = 1, or ``1 − t_end`` for IDFF fields that are singular at 1), the
instantaneous change of variables (Chen et al. 2018, FFJORD) gives

    log p_T(x_T) = log p_0(x_0) − ∫_0^T ∇·v(t, x_t) dt,

solved backwards from ``x_T = x`` together with ``L(t) = ∫_t^T ∇·v ds``. The divergence is
exact (``D`` backward passes; the default for ``D ≤ 16``, e.g. 2D toys) or Hutchinson's
unbiased estimate ``εᵀ (∂v/∂x) ε`` with one Rademacher or Gaussian probe ``ε`` per sample,
held fixed along the trajectory. This is math only: it uses fields and torchdiffeq.

For IDFF this evaluates the probability-flow field ``v* = (x̂1 − x)/(1 − t) − ŝ``
(``kind="pf"``, γ = 0) or the published field with ``s = 0``; for CFM the learned
velocity. SDE fields have no such likelihood and are refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from idff.fields import Field
from idff.progress import progress_bar

__all__ = [
    "ESTIMATORS",
    "LikelihoodResult",
    "divergence_exact",
    "divergence_hutchinson",
    "standard_normal_logpdf",
    "bits_per_dim",
    "log_likelihood",
]

ESTIMATORS = ("auto", "exact", "hutchinson", "hutchinson-gaussian")

#: largest data dimension for which ``estimator="auto"`` picks the exact divergence.
EXACT_MAX_DIM = 16


@dataclass
class LikelihoodResult:
    """Output of :func:`log_likelihood` (all per sample, shape ``(B,)``).

    Attributes:
        logp: ``log p_T(x)`` in nats (model space, continuous density).
        nll: ``−logp``.
        bpd: bits per dimension, ``nll / (D ln 2)`` plus the dequantisation offset when
            ``levels`` was given (see :func:`bits_per_dim`).
        prior_logp: ``log p_0(x_0)`` of the recovered latent.
        delta: ``∫_0^T ∇·v dt``.
        x0: the latent ``(B, ...)``.
        nfe: counted network evaluations per sample (forward calls).
        t_start: the time ``T`` at which ``x`` was placed.
        estimator: which divergence was used.
    """

    logp: Tensor
    nll: Tensor
    bpd: Tensor
    prior_logp: Tensor
    delta: Tensor
    x0: Tensor
    nfe: int
    t_start: float
    estimator: str


def divergence_exact(fn: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """``v = fn(x)`` and its exact divergence ``Σ_i ∂v_i/∂x_i`` (``D`` backward passes).

    Args:
        fn: a map ``(B, ...) -> (B, ...)`` acting on each sample independently.
        x: points ``(B, ...)``.

    Returns:
        ``v`` of ``x``'s shape and the divergence ``(B,)``.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        v = fn(x)
        flat = v.flatten(1)
        div = torch.zeros(x.shape[0], dtype=v.dtype, device=v.device)
        for i in range(flat.shape[1]):
            (g,) = torch.autograd.grad(flat[:, i].sum(), x, retain_graph=True)
            div = div + g.flatten(1)[:, i]
    return v.detach(), div.detach()


def divergence_hutchinson(
    fn: Callable[[Tensor], Tensor], x: Tensor, probe: Tensor
) -> tuple[Tensor, Tensor]:
    """``v = fn(x)`` and Hutchinson's estimate ``εᵀ (∂v/∂x) ε`` of its divergence.

    Unbiased when ``E[εεᵀ] = I`` (Rademacher or standard normal ``ε``); one
    vector–Jacobian product per call.

    Args:
        fn: a map ``(B, ...) -> (B, ...)`` acting on each sample independently.
        x: points ``(B, ...)``; probe: ``ε`` of ``x``'s shape.
    """
    if probe.shape != x.shape:
        raise ValueError(f"probe shape {tuple(probe.shape)} must equal x's {tuple(x.shape)}.")
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        v = fn(x)
        (g,) = torch.autograd.grad((v * probe).sum(), x)
    return v.detach(), (g * probe).flatten(1).sum(1).detach()


def standard_normal_logpdf(x: Tensor) -> Tensor:
    """``log N(x; 0, I)`` summed over all but the batch dimension, shape ``(B,)``."""
    d = x[0].numel()
    return -0.5 * x.flatten(1).pow(2).sum(1) - 0.5 * d * math.log(2 * math.pi)


def bits_per_dim(
    nll: Tensor, dim: int, levels: int | None = None, value_range: tuple[float, float] = (-1, 1)
) -> Tensor:
    """Convert a continuous NLL (nats) to bits per dimension.

    Without ``levels``: ``nll / (D ln 2)``. With ``levels`` (e.g. 256 for 8-bit images
    mapped linearly onto ``value_range`` with uniform dequantisation), the density is
    moved to the integer grid: ``nll / (D ln 2) + log2(levels / (hi − lo))``.
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}.")
    bpd = nll / (dim * math.log(2))
    if levels is not None:
        lo, hi = value_range
        if hi <= lo or levels < 2:
            raise ValueError(
                f"need value_range hi > lo and levels >= 2, got {value_range} and {levels}."
            )
        bpd = bpd + math.log2(levels / (hi - lo))
    return bpd


def _check_ode(field: Field) -> None:
    if any(field.diffusion(t) > 0 for t in (0.1, 0.25, 0.5, 0.75, 0.9)):
        raise ValueError(
            "the likelihood is defined here for ODE sampling only, but this field has "
            "diffusion; use the IDFF 'pf' field with gamma=0, or the 'published' field "
            "with s=0 and no SDE term."
        )


@torch.no_grad()
def log_likelihood(
    field: Field,
    x: Tensor,
    estimator: str = "auto",
    solver: str = "dopri5",
    atol: float = 1e-5,
    rtol: float = 1e-5,
    step_size: float | None = None,
    t_end: float = 1e-3,
    levels: int | None = None,
    value_range: tuple[float, float] = (-1, 1),
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> LikelihoodResult:
    """Log-likelihood of data ``x`` under the ODE ``field`` started from ``N(0, I)``.

    Args:
        field: a deterministic field (its network counter is reset here).
        x: data ``(B, ...)``, in the model's space.
        estimator: ``"exact"``, ``"hutchinson"`` (Rademacher), ``"hutchinson-gaussian"``
            or ``"auto"`` (exact when ``D ≤ 16``).
        solver: a torchdiffeq method (``"dopri5"`` adaptive; ``"euler"``, ``"midpoint"``,
            ``"rk4"`` with ``step_size``).
        atol, rtol: adaptive tolerances.
        step_size: step of fixed-step solvers.
        t_end: fields singular at t = 1 start at ``T = 1 − t_end`` (the path's marginal
            there); other fields at ``T = 1``.
        levels, value_range: see :func:`bits_per_dim`.
        generator: random generator for the Hutchinson probes.
        progress: show a bar of network evaluations and the current time ``t``.

    Returns:
        A :class:`LikelihoodResult`.
    """
    from torchdiffeq import odeint

    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}.")
    if x.dim() < 2:
        raise ValueError(f"x must have shape (B, ...), got {tuple(x.shape)}.")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf values.")
    if not 0 < t_end < 1:
        raise ValueError(f"t_end must be in (0, 1): data are placed at t = 1 - t_end; got "
                         f"{t_end}.")
    _check_ode(field)
    dim = x[0].numel()
    if estimator == "auto":
        estimator = "exact" if dim <= EXACT_MAX_DIM else "hutchinson"
    probe = None
    if estimator.startswith("hutchinson"):
        if estimator == "hutchinson":
            probe = torch.randint(0, 2, x.shape, generator=generator).to(x) * 2 - 1
        else:
            probe = torch.randn(x.shape, generator=generator).to(x)
    t_start = 1.0 - t_end if field.singular_at_one else 1.0
    field.reset()
    bar = progress_bar(None, "likelihood ODE", enable=progress)

    def dynamics(t: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        bar.update(1)
        bar.set_postfix(t=f"{float(t):.4f}", refresh=False)
        xt = state[0]
        tb = t.to(xt).expand(xt.shape[0])
        fn = lambda z: field.drift(tb, z)
        if probe is None:
            v, div = divergence_exact(fn, xt)
        else:
            v, div = divergence_hutchinson(fn, xt, probe)
        return v, -div

    times = torch.tensor([t_start, 0.0], dtype=x.dtype, device=x.device)
    options = {"step_size": step_size} if step_size is not None else None
    if solver in ("euler", "midpoint", "rk4") and step_size is None:
        raise ValueError(f"fixed-step solver {solver!r} needs step_size (e.g. 0.01).")
    zero = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    try:
        xs, ls = odeint(dynamics, (x, zero), times, method=solver, atol=atol, rtol=rtol,
                        options=options)
    except AssertionError as e:  # torchdiffeq signals step-size underflow by assertion
        raise RuntimeError(
            f"the likelihood ODE stalled ({e}); loosen atol/rtol or raise t_end."
        ) from e
    finally:
        bar.close()
    x0, delta = xs[-1], ls[-1]
    prior = standard_normal_logpdf(x0)
    logp = prior - delta
    nll = -logp
    return LikelihoodResult(
        logp=logp, nll=nll, bpd=bits_per_dim(nll, dim, levels, value_range),
        prior_logp=prior, delta=delta, x0=x0, nfe=field.nfe, t_start=t_start,
        estimator=estimator,
    )
