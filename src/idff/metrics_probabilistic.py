"""Moved to idff.timeseries.probabilistic; this path stays for one release."""

from idff.timeseries.probabilistic import (
    crps_ensemble,
    crps_gaussian,
    ensemble_mean_mse,
    masked_mean,
    rank_histogram,
    spread_skill_ratio,
)

__all__ = ["crps_ensemble", "crps_gaussian", "ensemble_mean_mse", "spread_skill_ratio",
           "rank_histogram", "masked_mean"]
