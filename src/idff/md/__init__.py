"""Molecular-dynamics trajectories: simulation, torsions, learning data, rollout, metrics.

- :mod:`idff.md.simulate`: alanine dipeptide with OpenMM, cached with its settings.
- :mod:`idff.md.dihedrals`: φ/ψ with mdtraj, periodic arithmetic, sin/cos features.
- :mod:`idff.md.data`: user trajectories, the published pickle layout, (k → k+τ) pairs.
- :mod:`idff.md.rollout`: autoregressive generation with a counted NFE per frame.
- :mod:`idff.md.metrics`: CC/RMSE/MAE (wrapped), JS divergences, basins, rates, ACF times.
- :mod:`idff.md.plots`: Ramachandran maps and torsion time series.

OpenMM and mdtraj are imported only where they are needed (``pip install idff[md]``).
"""
