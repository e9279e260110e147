"""Moved to idff.kolmogorov; this path stays for one release.

Its pieces are in idff.kolmogorov.config, .train, .forecast, .longrun and .scores.
"""

from idff.kolmogorov.config import (
    FORECASTERS,
    SAMPLING_DEFAULTS,
    KolmogorovData,
    kolmogorov_run_config,
    load_data,
)
from idff.kolmogorov.forecast import (
    Forecast,
    climatology_forecast,
    forecast_starts,
    learned_forecast,
    persistence_forecast,
    physics_forecast,
)
from idff.kolmogorov.longrun import (
    LONG_FRAMES,
    LONG_WINDOWS,
    free_rollout,
    long_rollout_score,
    long_run_statistics,
)
from idff.kolmogorov.scores import SPECTRUM_LEADS, anomaly_correlation, score
from idff.kolmogorov.train import (
    KIND,
    IncrementMSE,
    load_kolmogorov_model,
    make_objective,
    train_kolmogorov,
)

__all__ = ["FORECASTERS", "SAMPLING_DEFAULTS", "kolmogorov_run_config", "KolmogorovData",
           "load_data", "IncrementMSE", "make_objective", "train_kolmogorov",
           "load_kolmogorov_model", "KIND", "forecast_starts", "Forecast", "learned_forecast",
           "persistence_forecast", "climatology_forecast", "physics_forecast", "LONG_FRAMES",
           "LONG_WINDOWS", "free_rollout", "long_run_statistics", "long_rollout_score",
           "anomaly_correlation", "SPECTRUM_LEADS", "score"]
