"""Time series: autoregressive rollouts of a trained flow, forecasts and their evaluation,
and Lorenz-63 (:mod:`idff.timeseries.lorenz`), a fast chaotic test system."""
