"""Sea-surface-temperature forecasting: train IDFF / OT-CFM, roll out ensembles, score.

Shared by ``idff train sst``, ``idff forecast`` and ``idff sst-demo``.

* **IDFF** (docs/METHOD.md, "Path and coupling", time series): the path runs from
  ``x0`` = frame ``k-1`` to ``x1`` = frame ``k``; the network also sees ``cond`` = previous
  frame(s), the last observed frame and the lead ``ℓ/K`` (see
  :class:`~idff.sst.data.SSTWindows`). Ensembles come from the marginal-preserving SDE of
  the ``pf`` field with ``γ = 1``:
  ``dx = (x̂1 - x)/(1 - t) dt + σ dW`` integrated by Euler–Maruyama.
* **OT-CFM** baseline: the same network and conditioning, a flow from Gaussian noise to
  frame ``k`` whose noise is paired to the targets by exact minibatch OT (the targets keep
  their conditioning); ensembles come from the noise draws.
* **Persistence** (the last observed frame) and **climatology** (training frames within
  ±15 days of the target's day of year, as ensemble members).

Fields are zero-padded to a size the UNet accepts and cropped back (``pad_to``,
:class:`~idff.models.sst.SSTNet`); scores are computed on ocean cells in the data's units
(the normalisation is undone).

- :mod:`idff.sst.data`: OISSTv2 files, patches, year splits, normalisation, training windows.
- :mod:`idff.sst.config`: methods, the eofs demo data, run configs, loading a run's data.
- :mod:`idff.sst.train`: training, loading and the run kind ``"sst"``.
- :mod:`idff.sst.forecast`: learned ensembles, persistence and climatology.
- :mod:`idff.sst.report`: scores, ``metrics.json``/``per_lead.csv`` and the figure.
- :mod:`idff.sst.demo`: ``idff sst-demo``.
"""
