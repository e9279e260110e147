"""idff: Implicit Dynamical Flow Fusion (arXiv:2409.14599) in PyTorch.

The core (path, coupling, objective, fields, sampler, sampling config, models, metrics)
imports no data loaders, trainer or CLI. ``idff.load(path_or_name)`` opens any trained
run or a shipped one by name (:mod:`idff.runs`); ``idff.train_run`` trains one from a
config built by ``idff.toy_config`` or ``idff.image_config`` (:mod:`idff.builders`);
``idff.shipped_runs()`` lists the runs that load by name, ``idff.save_grid`` writes image
samples as one PNG grid.
"""

from idff.builders import image_config, toy_config
from idff.catalog import shipped_runs
from idff.coupling import couple
from idff.distill import distill
from idff.fields import CFMField, IDFFField, NFECounter, idff_drift
from idff.images.grid import save_grid
from idff.objective import CFMObjective, IDFFObjective, LossOutput
from idff.path import CFMPath, IDFFPath
from idff.runs import Run, load, register_kind
from idff.sampling import SampleResult, SamplingConfig, integrate, steps_for_nfe
from idff.train_api import train_run

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
    "toy_config",
    "image_config",
    "save_grid",
    "shipped_runs",
    "distill",
]

