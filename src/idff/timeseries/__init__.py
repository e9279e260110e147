"""Forecasting pieces no single task owns: autoregressive rollouts of a trained flow
(:mod:`~idff.timeseries.rollout`), the conditional forecasting objective
(:mod:`~idff.timeseries.objective`), what gridded-field forecasters share
(:mod:`~idff.timeseries.gridded`), probabilistic scores (:mod:`~idff.timeseries.probabilistic`)
and their use over a horizon (:mod:`~idff.timeseries.forecast`), and Lorenz-63
(:mod:`~idff.timeseries.lorenz`), a fast chaotic test system.

The tasks built on them live in their own packages: :mod:`idff.sst`, :mod:`idff.kolmogorov`
and :mod:`idff.md` (whose pipeline also runs Lorenz-63)."""
