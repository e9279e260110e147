"""Kolmogorov-flow forecasting: train IDFF, OT-CFM and a deterministic UNet, roll out
ensembles, compare with persistence, climatology and a physics ensemble, score per lead.

Shared by ``idff train kolmogorov``, ``idff forecast RUN`` and ``idff kolmogorov-benchmark``.
The data are coarse-grained vorticity frames (:mod:`idff.kolmogorov.data`), normalised by
the training mean and standard deviation, so every error is in units of the data's sd.

* **IDFF** (docs/METHOD.md, "Path and coupling", time series): ``x0`` = frame ``k−1``,
  ``x1`` = frame ``k``, conditioned on the previous frame(s), the last observed frame and
  the lead; ensembles from the ``pf`` field's SDE family (``γ > 0``).
* **OT-CFM**: the same network and conditioning, Gaussian noise → frame ``k`` (minibatch OT
  pairs); ensembles from the noise draws.
* **Deterministic UNet** (``mse``): the same network trained by mean squared error on the
  increment, ``v(0, x0, cond) ≈ x1 − x0``; it rolls out as one Euler step of its velocity
  (``x1 = x0 + v``), a one-member ensemble.
* **Persistence** (the last observed frame), **climatology** (random training frames as
  members) and the **physics ensemble** (docs/METHOD.md, "Kolmogorov flow"): fine fields
  consistent with the observed coarse state plus fine-scale noise, run by the solver.

Scores per lead (docs/METHOD.md, "Kolmogorov flow"): CRPS, ensemble-mean RMSE, spread-skill
ratio and the anomaly correlation of the ensemble mean, with the time it stays ≥ 0.8.

- :mod:`idff.kolmogorov.solver`: the pseudo-spectral Navier–Stokes solver and its spectra.
- :mod:`idff.kolmogorov.data`: simulated data sets and the training windows.
- :mod:`idff.kolmogorov.config`: forecasters, run configs, a run's normalised data.
- :mod:`idff.kolmogorov.train`: losses, training, loading and the run kind ``"kolmogorov"``.
- :mod:`idff.kolmogorov.forecast`: learned ensembles and the three baselines.
- :mod:`idff.kolmogorov.longrun`: long free rollouts and their statistics.
- :mod:`idff.kolmogorov.scores`: per-lead scores.
- :mod:`idff.kolmogorov.report`, :mod:`idff.kolmogorov.benchmark`: tables and figures;
  ``idff kolmogorov-benchmark``.
"""
