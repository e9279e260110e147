"""Scores of probabilistic (ensemble) forecasts: CRPS, ensemble-mean MSE, spread-skill.

Conventions: an ensemble is ``(M, ...)`` (members first) and the observation ``(...)``;
an optional boolean ``mask`` broadcastable to ``(...)`` selects the cells that count
(e.g. ocean cells of an SST field). Means run over the selected cells.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "crps_ensemble",
    "crps_gaussian",
    "ensemble_mean_mse",
    "spread_skill_ratio",
    "rank_histogram",
    "masked_mean",
]

ArrayLike = Tensor | np.ndarray


def _np(x: ArrayLike, name: str) -> np.ndarray:
    a = x.detach().cpu().double().numpy() if torch.is_tensor(x) else np.asarray(x, dtype=float)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf; mask land cells out instead of NaN-filling.")
    return a


def _check(ens: np.ndarray, obs: np.ndarray) -> None:
    if ens.shape[1:] != obs.shape:
        raise ValueError(
            f"the ensemble has shape {ens.shape} but the observation {obs.shape}; the ensemble "
            "must be (M, *obs.shape) with members first."
        )


def masked_mean(x: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Mean of ``x`` over the cells where ``mask`` is true (all cells when ``None``)."""
    a = x.detach().cpu().double().numpy() if torch.is_tensor(x) else np.asarray(x, dtype=float)
    if mask is None:
        return float(a.mean())
    m = np.broadcast_to(np.asarray(mask, dtype=bool), a.shape)
    if not m.any():
        raise ValueError("the mask selects no cell; check the land mask.")
    return float(a[m].mean())


def crps_ensemble(ens: ArrayLike, obs: ArrayLike) -> np.ndarray:
    """Continuous ranked probability score of an ensemble, per cell.

    ``CRPS(F_M, y) = (1/M) Σ_i |x_i - y| - 1/(2M²) Σ_{i,j} |x_i - x_j|`` (the empirical-CDF
    estimator of Gneiting & Raftery 2007, the one of ``properscoring.crps_ensemble``),
    computed in ``O(M log M)`` per cell from the sorted members ``x_(1) ≤ … ≤ x_(M)``:
    ``1/(2M²) Σ_{i,j} |x_i - x_j| = (1/M²) Σ_i (2i - M - 1) x_(i)``.

    Args:
        ens: ensemble ``(M, ...)``.
        obs: observation ``(...)``.

    Returns:
        CRPS per cell, shape ``(...)``. A one-member ensemble gives the absolute error.
    """
    e, o = _np(ens, "ensemble"), _np(obs, "observation")
    _check(e, o)
    m = e.shape[0]
    skill = np.abs(e - o[None]).mean(0)
    ranks = (2 * np.arange(1, m + 1) - m - 1).reshape(-1, *([1] * o.ndim))
    spread = (ranks * np.sort(e, axis=0)).sum(0) / m**2
    return skill - spread


def crps_gaussian(mu: ArrayLike, sigma: ArrayLike, obs: ArrayLike) -> np.ndarray:
    """Closed-form CRPS of ``N(μ, σ²)``: ``σ [z(2Φ(z) - 1) + 2φ(z) - 1/√π]``, ``z = (y-μ)/σ``."""
    from scipy.stats import norm

    mu, sigma, y = (np.asarray(v, dtype=float) for v in (mu, sigma, obs))
    z = (y - mu) / sigma
    return sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))


def ensemble_mean_mse(ens: ArrayLike, obs: ArrayLike, mask: ArrayLike | None = None) -> float:
    """``mean (x̄ - y)²`` of the ensemble mean ``x̄ = (1/M) Σ x_i`` over the (masked) cells."""
    e, o = _np(ens, "ensemble"), _np(obs, "observation")
    _check(e, o)
    return masked_mean((e.mean(0) - o) ** 2, mask)


def spread_skill_ratio(ens: ArrayLike, obs: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Spread over skill with the finite-ensemble correction (Fortin et al., 2014).

        SSR = √((M+1)/M) · √(mean Var_i x_i) / √(mean (x̄ - y)²)

    ``Var`` is the unbiased (``M - 1``) member variance. For a calibrated ensemble (the
    observation exchangeable with the members) ``SSR ≈ 1``; ``< 1`` is under-dispersed.
    A one-member ensemble has no spread (returns 0).
    """
    e, o = _np(ens, "ensemble"), _np(obs, "observation")
    _check(e, o)
    m = e.shape[0]
    rmse = math.sqrt(ensemble_mean_mse(e, o, mask))
    if m < 2:
        return 0.0
    spread = math.sqrt(masked_mean(e.var(0, ddof=1), mask))
    if rmse == 0:
        raise ValueError("the ensemble mean equals the observation everywhere; SSR is undefined.")
    return math.sqrt((m + 1) / m) * spread / rmse


def rank_histogram(ens: ArrayLike, obs: ArrayLike, mask: ArrayLike | None = None,
                   seed: int = 0) -> np.ndarray:
    """Talagrand rank histogram: the frequency of each rank ``0..M`` of the observation
    among the ``M`` members, over the (masked) cells; ties are broken at random.

    A calibrated ensemble (observation exchangeable with the members) gives a flat histogram,
    ``1/(M+1)`` per rank; an under-dispersed one piles up in the outer ranks (U shape), an
    over-dispersed one in the middle.
    """
    e, o = _np(ens, "ensemble"), _np(obs, "observation")
    _check(e, o)
    below = (e < o).sum(0)
    ties = (e == o).sum(0)
    rng = np.random.default_rng(seed)
    rank = below + np.floor(rng.random(o.shape) * (ties + 1)).astype(int)
    if mask is not None:
        rank = rank[np.broadcast_to(np.asarray(mask, dtype=bool), o.shape)]
    return np.bincount(rank.ravel(), minlength=e.shape[0] + 1) / rank.size
