"""Probability paths of IDFF and of conditional flow matching.

See docs/METHOD.md, "Path and coupling" and "Baselines".

Time convention, used everywhere in this package: ``t = 0`` is the source (noise, or
the previous state of a time series), ``t = 1`` is the data.

All functions accept tensors of any shape ``(B, ...)``; ``t`` has shape ``(B,)`` and is
broadcast over the trailing dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from idff.finite import require_finite

__all__ = [
    "PathSample",
    "IDFFPath",
    "CFMPath",
    "expand_t",
    "check_pair",
]


def expand_t(t: Tensor | float, x: Tensor) -> Tensor:
    """Broadcast a per-sample time ``t`` of shape ``(B,)`` (or a scalar) against ``x``."""
    if not torch.is_tensor(t):
        t = torch.tensor(float(t), dtype=x.dtype, device=x.device)
    if t.dim() == 0:
        t = t.expand(x.shape[0])
    if t.shape[0] != x.shape[0]:
        raise ValueError(
            f"time has {t.shape[0]} entries but the batch has {x.shape[0]} samples; "
            "pass one time per sample (shape (B,)) or a scalar."
        )
    return t.to(dtype=x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


def check_pair(x0: Tensor, x1: Tensor) -> None:
    """Raise a clear error unless ``x0`` and ``x1`` can form path pairs."""
    if x0.shape != x1.shape:
        raise ValueError(
            f"x0 has shape {tuple(x0.shape)} but x1 has shape {tuple(x1.shape)}; "
            "source and target must have the same shape (B, ...). "
            "Reshape the source or draw it with torch.randn_like(x1)."
        )
    if x0.dtype != x1.dtype:
        raise TypeError(
            f"x0 is {x0.dtype} but x1 is {x1.dtype}; cast both to one floating dtype, "
            "e.g. x0 = x0.to(x1.dtype)."
        )
    if not x1.is_floating_point():
        raise TypeError(f"x1 must be a floating tensor, got {x1.dtype}; use x1.float().")
    if x0.device != x1.device:
        raise ValueError(f"x0 is on {x0.device} but x1 on {x1.device}; move both to one device.")
    for name, v in (("x0", x0), ("x1", x1)):
        require_finite(v, lambda _, name=name: ValueError(
            f"{name} contains NaN or inf values; clean the data (e.g. torch.nan_to_num) "
            "or check the data loader."
        ))


@dataclass
class PathSample:
    """A point on a conditional path.

    Attributes:
        t: times, shape ``(B,)``.
        x0: source samples, shape ``(B, ...)``.
        x1: target samples, shape ``(B, ...)``.
        eps: the standard normal noise used, shape ``(B, ...)``.
        xt: the path sample, shape ``(B, ...)``.
    """

    t: Tensor
    x0: Tensor
    x1: Tensor
    eps: Tensor
    xt: Tensor


class IDFFPath:
    """The IDFF path ``x_t = t x1 + (1 - t) x0 + σ_t ε`` with ``σ_t = σ √(t(1-t))``.

    See docs/METHOD.md, "Path and coupling".

    Args:
        sigma: training noise scale ``σ`` (0.2 for images, SST and toys; 0.1 for MD).
    """

    def __init__(self, sigma: float = 0.2):
        if not sigma > 0:
            raise ValueError(
                f"sigma must be > 0 for the IDFF path (got {sigma}): the score head is "
                "scaled by 1/sigma^2. Use CFMPath for a noise-free path."
            )
        self.sigma = float(sigma)

    def sigma_t(self, t: Tensor) -> Tensor:
        """``σ_t = σ √(t(1-t))``."""
        return self.sigma * torch.sqrt(torch.clamp(t * (1 - t), min=0.0))

    def dsigma_t(self, t: Tensor) -> Tensor:
        """``dσ_t/dt = σ (1 - 2t) / (2 √(t(1-t)))`` (singular at t = 0 and 1)."""
        return self.sigma * (1 - 2 * t) / (2 * torch.sqrt(t * (1 - t)))

    def lambda_t(self, t: Tensor) -> Tensor:
        """Score-head scale ``λ_t = 2 σ_t / σ²`` (docs/METHOD.md, "Objective"):
        ``λ_t ŝ = -E[ε | x_t]`` at the optimum."""
        return 2 * self.sigma_t(t) / self.sigma**2

    def sample(self, x0: Tensor, x1: Tensor, t: Tensor, eps: Tensor | None = None) -> PathSample:
        """Draw ``x_t`` for given pairs and times.

        Args:
            x0: sources ``(B, ...)``.
            x1: targets ``(B, ...)``.
            t: times ``(B,)`` in ``[0, 1]``.
            eps: optional noise ``(B, ...)``; drawn with ``torch.randn_like`` if omitted.
        """
        check_pair(x0, x1)
        if eps is None:
            eps = torch.randn_like(x1)
        tt = expand_t(t, x1)
        xt = tt * x1 + (1 - tt) * x0 + self.sigma_t(tt) * eps
        return PathSample(t=t, x0=x0, x1=x1, eps=eps, xt=xt)


class CFMPath:
    """The conditional flow-matching path ``x_t = t x1 + (1-t) x0 + σ ε``.

    See docs/METHOD.md, "Baselines".

    Target velocity ``u = x1 - x0``. With ``sigma = 0`` this is rectified flow / I-CFM
    of Lipman et al. and Tong et al.
    """

    def __init__(self, sigma: float = 0.0):
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}.")
        self.sigma = float(sigma)

    def sample(self, x0: Tensor, x1: Tensor, t: Tensor, eps: Tensor | None = None) -> PathSample:
        check_pair(x0, x1)
        if eps is None:
            eps = torch.randn_like(x1)
        tt = expand_t(t, x1)
        xt = tt * x1 + (1 - tt) * x0 + self.sigma * eps
        return PathSample(t=t, x0=x0, x1=x1, eps=eps, xt=xt)

    @staticmethod
    def target(ps: PathSample) -> Tensor:
        """Conditional velocity ``u_t(x | x0, x1) = x1 - x0``."""
        return ps.x1 - ps.x0
