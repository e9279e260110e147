"""idff: Implicit Dynamical Flow Fusion (arXiv:2409.14599) in PyTorch.

The core (path, coupling, objective, fields, sampler, sampling config, models, metrics)
imports no data loaders, trainer or CLI. ``idff.load(path)`` opens any trained run
(:mod:`idff.runs`).
"""

from idff.coupling import couple
from idff.fields import CFMField, IDFFField, NFECounter, idff_drift
from idff.objective import CFMObjective, IDFFObjective, LossOutput
from idff.path import CFMPath, IDFFPath
from idff.runs import Run, load, register_kind, train_run
from idff.sampler import SampleResult, integrate, steps_for_nfe
from idff.sampling import SamplingConfig

__version__ = "0.1.0"

__all__ = [
    "IDFFPath",
    "CFMPath",
    "couple",
    "IDFFObjective",
    "CFMObjective",
    "LossOutput",
    "IDFFField",
    "CFMField",
    "NFECounter",
    "idff_drift",
    "integrate",
    "steps_for_nfe",
    "SampleResult",
    "SamplingConfig",
    "Run",
    "load",
    "register_kind",
    "train_run",
]
