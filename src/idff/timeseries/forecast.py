"""Scoring ensemble forecasts over a horizon (the DYffusion protocol).

A forecast ensemble is ``(K, M, B, ...)``: lead ``k = 1..K``, member ``m``, forecast
``b``; the truth is ``(K, B, ...)``. Every score is computed per lead over all forecasts
and (masked) cells, then averaged over the leads:

    CRPS = (1/K) Σ_k mean_{b, cells} CRPS(x_{k,·,b}, y_{k,b})
    MSE  = (1/K) Σ_k mean_{b, cells} (x̄_{k,b} - y_{k,b})²
    SSR  = (1/K) Σ_k spread_k / RMSE_k                      (see spread_skill_ratio)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

from idff.timeseries.probabilistic import (
    crps_ensemble,
    ensemble_mean_mse,
    masked_mean,
    spread_skill_ratio,
)

__all__ = ["ForecastScores", "score_forecast"]


@dataclass
class ForecastScores:
    """Scores averaged over leads, and per lead.

    Attributes:
        crps, mse, ssr: lead-averaged CRPS, ensemble-mean MSE and spread-skill ratio.
        per_lead: one dict ``{"lead", "crps", "mse", "ssr"}`` per lead.
        members: ensemble size.
        extra: anything the caller adds (NFE, wall time, ...).
    """

    crps: float
    mse: float
    ssr: float
    members: int
    per_lead: list[dict[str, float]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_forecast(
    ens: Tensor | np.ndarray,
    truth: Tensor | np.ndarray,
    mask: Tensor | np.ndarray | None = None,
) -> ForecastScores:
    """Score an ensemble forecast against the truth.

    Args:
        ens: ensemble ``(K, M, B, ...)``.
        truth: observations ``(K, B, ...)``.
        mask: optional boolean ``(B, ...)`` (broadcastable) of the cells that count.

    Raises:
        ValueError: on mismatched shapes.
    """
    if ens.ndim < 3 or tuple(ens.shape[:1]) + tuple(ens.shape[2:]) != tuple(truth.shape):
        raise ValueError(
            f"ensemble {tuple(ens.shape)} does not match truth {tuple(truth.shape)}; expected "
            "ensemble (K, M, B, ...) and truth (K, B, ...)."
        )
    rows = []
    for k in range(ens.shape[0]):
        e, y = ens[k], truth[k]
        rows.append({
            "lead": k + 1,
            "crps": masked_mean(crps_ensemble(e, y), mask),
            "mse": ensemble_mean_mse(e, y, mask),
            "ssr": spread_skill_ratio(e, y, mask),
        })
    avg = {key: float(np.mean([r[key] for r in rows])) for key in ("crps", "mse", "ssr")}
    return ForecastScores(**avg, members=int(ens.shape[1]), per_lead=rows)
