"""Molecular-dynamics trajectories: simulation, torsions, learning data, training, rollout,
evaluation and the benchmark (Lorenz-63 runs through the same pipeline).

Shared by ``idff md-simulate``, ``idff train md``, ``idff md-eval`` and ``idff md-benchmark``.

- :mod:`idff.md.simulate`: alanine dipeptide with OpenMM, cached with its settings.
- :mod:`idff.md.dihedrals`: φ/ψ with mdtraj, periodic arithmetic, sin/cos features.
- :mod:`idff.md.data`: user trajectories, the published pickle layout, (k → k+τ) pairs.
- :mod:`idff.md.series`: a run's data source and its split (reference, floor, validation).
- :mod:`idff.md.config`: methods, sampling defaults per system, run configs.
- :mod:`idff.md.train`: training, loading and the run kind ``"md"``.
- :mod:`idff.md.rollout`: autoregressive generation with a counted NFE per frame.
- :mod:`idff.md.evaluate`: rollouts from the reference's start, scored against it.
- :mod:`idff.md.lorenz_eval`: Lorenz-63 forecasts, free rollouts and its small benchmark.
- :mod:`idff.md.metrics`: CC/RMSE/MAE (wrapped), JS divergences, basins, rates, ACF times.
- :mod:`idff.md.report`: metric columns and tables; :mod:`idff.md.plots`: Ramachandran maps
  and torsion time series.
- :mod:`idff.md.benchmark`: ``idff md-benchmark`` and its validation choice of time grid.

OpenMM and mdtraj are imported only where they are needed (``pip install idff[md]``).
"""
