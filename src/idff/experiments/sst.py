"""Moved to idff.sst; this path stays for one release.

The objective and the UNet defaults, which the Kolmogorov task shares, are in
idff.timeseries.objective and idff.timeseries.gridded.
"""

from idff.sst.config import (
    EOFS_DATA,
    MAX_WHOLE_GRID,
    METHOD_DEFAULTS,
    SST_METHODS,
    load_sst_data,
    sst_run_config,
)
from idff.sst.demo import run_sst_demo
from idff.sst.forecast import (
    Forecast,
    climatology_forecast,
    forecast_starts,
    persistence_forecast,
    sst_forecast,
)
from idff.sst.report import evaluate_sst, plot_forecast, save_scores
from idff.sst.train import KIND, load_sst_model, train_sst
from idff.timeseries.gridded import UNET_DEFAULTS
from idff.timeseries.objective import ForecastObjective, SSTObjective, ot_assign_sources

__all__ = ["SST_METHODS", "METHOD_DEFAULTS", "EOFS_DATA", "MAX_WHOLE_GRID", "sst_run_config",
           "load_sst_data", "run_sst_demo", "forecast_starts", "Forecast", "sst_forecast",
           "persistence_forecast", "climatology_forecast", "evaluate_sst", "save_scores",
           "plot_forecast", "train_sst", "load_sst_model", "KIND", "UNET_DEFAULTS", "SSTObjective",
           "ForecastObjective", "ot_assign_sources"]
