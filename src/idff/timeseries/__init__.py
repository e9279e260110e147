"""Time series: autoregressive rollouts of a trained flow, forecasts and their evaluation."""
