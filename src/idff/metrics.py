"""Sample-quality metrics for vector data: MMD and exact-OT Wasserstein distances, and the
Jensen–Shannon divergence of two histograms."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["mmd", "wasserstein", "js_divergence"]


def _as_2d(x: Tensor | np.ndarray, name: str) -> Tensor:
    x = torch.as_tensor(x).detach().double().cpu()
    if x.dim() < 2:
        raise ValueError(f"{name} must have shape (N, ...), got {tuple(x.shape)}.")
    x = x.flatten(1)
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf; the sampler diverged or the data is bad.")
    return x


def mmd(
    x: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    bandwidths: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0),
) -> float:
    """Squared maximum mean discrepancy with a mixture of RBF kernels (unbiased estimate).

    ``k(a, b) = Σ_σ exp(-‖a - b‖² / (2σ))`` over ``bandwidths`` (kernel variances).

    Args:
        x: samples ``(N, ...)``.
        y: samples ``(M, ...)`` of the same trailing shape.

    Returns:
        The unbiased MMD² estimate (may be slightly negative when ``x ~ y``).
    """
    x, y = _as_2d(x, "x"), _as_2d(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features but y has {y.shape[1]}.")
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError("MMD needs at least 2 samples in each set.")

    def k(a: Tensor, b: Tensor) -> Tensor:
        d2 = torch.cdist(a, b).pow(2)
        return sum(torch.exp(-d2 / (2 * bw)) for bw in bandwidths)

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(sxx + syy - 2 * kxy.mean())


def wasserstein(x: Tensor | np.ndarray, y: Tensor | np.ndarray, p: int = 2) -> float:
    """Exact ``W_p`` between two empirical distributions (uniform weights), via POT's ``emd2``.

    Args:
        x: samples ``(N, ...)``; y: samples ``(M, ...)``.
        p: 1 or 2 (Euclidean ground distance to the power ``p``).
    """
    import ot

    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p}.")
    x, y = _as_2d(x, "x"), _as_2d(y, "y")
    cost = torch.cdist(x, y).pow(p).numpy()
    a = np.full(x.shape[0], 1.0 / x.shape[0])
    b = np.full(y.shape[0], 1.0 / y.shape[0])
    return float(ot.emd2(a, b, cost, numItermax=10_000_000)) ** (1.0 / p)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in bits (``[0, 1]``) of two histograms of equal shape.

    ``JS = ½ KL(p‖m) + ½ KL(q‖m)``, ``m = (p + q)/2``; inputs are normalised here.
    """
    p, q = np.asarray(p, float).ravel(), np.asarray(q, float).ravel()
    if p.shape != q.shape:
        raise ValueError(f"histograms differ in size ({p.size} vs {q.size}); use the same bins.")
    if (p < 0).any() or (q < 0).any() or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("histograms must be non-negative with a positive total.")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return max(0.5 * kl(p) + 0.5 * kl(q), 0.0)
