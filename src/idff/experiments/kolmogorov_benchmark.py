"""Moved to idff.kolmogorov.benchmark; this path stays for one release."""

from idff.kolmogorov.benchmark import (
    ENSEMBLE_FORECASTERS,
    SELECT_GRIDS,
    SSR_BAND,
    run_benchmark,
    select_sampling,
)

__all__ = ["SELECT_GRIDS", "SSR_BAND", "select_sampling", "run_benchmark", "ENSEMBLE_FORECASTERS"]
